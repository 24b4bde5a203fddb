"""Static figures used by the notebooks."""

from __future__ import annotations


def plot_history(records, title: str = "", epochs: int | None = None):
    """Training loss terms (left) and the validation score (right) per epoch.

    Drawn with markers (a single epoch is a visible point, not an empty panel), integer epoch
    ticks and an epoch axis that spans at least ``0 .. 1``, or ``0 .. epochs - 1`` when the
    planned number of ``epochs`` is given (a live curve then keeps its axis while it grows). The
    loss terms' legend sits outside the loss panel, to its right, clear of the curves."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    df = pd.DataFrame(list(records))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained",
                               gridspec_kw={"width_ratios": [1.25, 1.0]})
    cols = [c for c in df.columns if c.startswith("train/")]
    marker = "o" if len(df) <= 40 else None  # dots while the epochs are few enough to see
    for c in cols:
        total = c == "train/total"
        a.plot(df["epoch"], df[c], label=c.removeprefix("train/"), lw=2.2 if total else 1.0,
               marker=marker, ms=4 if total else 2.5, zorder=3 if total else 2)
    a.set_xlabel("epoch")
    a.set_ylabel("training loss")
    if len(cols) > 1:
        a.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                 frameon=True, title="loss term", title_fontsize=7)
    if "val_score" in df:
        b.plot(df["epoch"], df["val_score"], marker="o", color="C3")
        best = df["val_score"].idxmax()
        b.axvline(df.loc[best, "epoch"], ls=":", color="grey")
    b.set_xlabel("epoch")
    b.set_ylabel("validation score")
    last = int(df["epoch"].max()) if "epoch" in df and len(df) else 0
    hi = max(1, last, (epochs or 0) - 1)
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.3, hi + 0.3)
    fig.suptitle(title)
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


def plot_method_comparison(agg, metric: str, views: list[tuple[str, str]], title: str = ""):
    """Point-range per method (rows) for each (head, group) view (panels): the mean over seeds
    with the across-seed 95% CI, or the mean bootstrap CI when there is one seed."""
    import math

    import matplotlib.pyplot as plt

    d = agg[agg["metric"] == metric]
    methods = list(dict.fromkeys(d["method"]))
    fig, axes = plt.subplots(1, len(views), figsize=(3.2 * len(views), 0.35 * len(methods) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (head, group) in zip(axes[0], views):
        sub = d[(d["head"] == head) & (d["group"] == group)].set_index("method")
        for i, m in enumerate(methods):
            if m not in sub.index:
                continue
            r = sub.loc[m]
            lo, hi = r["seed_ci_low"], r["seed_ci_high"]
            if lo != lo or math.isnan(lo):
                lo, hi = r["boot_low_mean"], r["boot_high_mean"]
            color = "C3" if m.startswith("mind") else "C0" if m.startswith("no_kd") else "C7"
            ax.errorbar([r["mean"]], [i], xerr=[[r["mean"] - lo], [hi - r["mean"]]], fmt="o",
                        color=color, capsize=2)
        ax.set_title(f"{head} / {group}", fontsize=9)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(methods)), methods, fontsize=8)
    axes[0][0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
