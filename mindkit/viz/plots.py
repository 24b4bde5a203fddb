"""Static figures used by the notebooks."""

from __future__ import annotations


def plot_history(records, title: str = ""):
    """Training loss terms (left) and the validation score (right) per epoch."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(list(records))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    cols = [c for c in df.columns if c.startswith("train/")]
    for c in cols:
        a.plot(df["epoch"], df[c], label=c.removeprefix("train/"),
               lw=2.2 if c == "train/total" else 1.0)
    a.set_xlabel("epoch")
    a.set_ylabel("training loss")
    if len(cols) > 1:
        a.legend(fontsize=7, ncol=2)
    if "val_score" in df:
        b.plot(df["epoch"], df["val_score"], marker="o", color="C3")
        best = df["val_score"].idxmax()
        b.axvline(df.loc[best, "epoch"], ls=":", color="grey")
    b.set_xlabel("epoch")
    b.set_ylabel("validation score")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_head_comparison(df, metric: str, title: str = "", hue: str = "method",
                         x: str = "head"):
    """Point estimates with bootstrap CIs per head (x) and method (hue)."""
    import matplotlib.pyplot as plt
    import numpy as np

    d = df[df["metric"] == metric]
    xs = list(dict.fromkeys(d[x]))
    hues = list(dict.fromkeys(d[hue]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(xs), 3.4))
    width = 0.8 / max(1, len(hues))
    for j, h in enumerate(hues):
        sub = d[d[hue] == h].set_index(x).reindex(xs)
        pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
        err = np.vstack([sub["value"] - sub["ci_low"], sub["ci_high"] - sub["value"]])
        ax.errorbar(pos, sub["value"], yerr=err, fmt="o", capsize=3, label=str(h))
    ax.set_xticks(range(len(xs)), xs)
    ax.set_ylabel(f"{metric} (95% bootstrap CI)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
