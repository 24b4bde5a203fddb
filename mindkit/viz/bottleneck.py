"""Figures of notebooks 06 and 07: scores per availability pattern, paired differences per
pattern, gradient-modulation curves (rho and coefficients over training) and MCKD's learned
modality importances."""

from __future__ import annotations


def _frame(records):
    import pandas as pd

    return pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records


def plot_availability(records, metric: str, methods=None, labels: dict | None = None,
                      title: str = ""):
    """Heatmap: methods (rows) x availability patterns (columns), the mean of ``metric`` over
    seeds on the samples with every modality."""
    import matplotlib.pyplot as plt
    import numpy as np

    from mindkit.evaluate.aggregate import seed_aggregate
    from mindkit.evaluate.availability import availability_patterns

    df = _frame(records)
    df = df[(df["statistic"] == "availability") & (df["metric"] == metric)]
    if df.empty:
        raise ValueError(f"no availability records for metric {metric!r}")
    agg = seed_aggregate(df, by=["method", "pattern"])
    order = [m for m in (methods or dict.fromkeys(df["method"])) if m in set(agg["method"])]
    mods = sorted({m for p in df["pattern"] for m in p.split("+")})
    pats = [p for p in availability_patterns(mods) if p in set(agg["pattern"])]
    grid = agg.pivot(index="method", columns="pattern", values="mean").reindex(
        index=order, columns=pats).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.25 * len(pats) + 2.5, 0.5 * len(order) + 1.6))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7,
                        color="w" if grid[i, j] < np.nanmean(grid) else "k")
    ax.set_xticks(range(len(pats)), [p.replace("+", "\n+") for p in pats], fontsize=7)
    ax.set_yticks(range(len(order)), [(labels or {}).get(m, m) for m in order], fontsize=8)
    ax.set_xlabel("modalities available at test time")
    n = int(agg["n_seeds"].max())
    fig.colorbar(im, ax=ax, label=f"{metric} (mean of {n} seed{'s' * (n > 1)})")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_pattern_differences(pooled, metric: str, labels: dict | None = None, title: str = ""):
    """One row per comparison (reference - other): the pooled paired difference per pattern
    with its 95% CI; a dashed line at 0."""
    import matplotlib.pyplot as plt

    df = _frame(pooled)
    df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"no pooled differences for metric {metric!r}")
    pairs = list(dict.fromkeys(zip(df["method_a"], df["method_b"])))
    pats = list(dict.fromkeys(df["pattern"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs) + 0.8,
                                                     0.32 * len(pats) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs):
        s = df[(df["method_a"] == a) & (df["method_b"] == b)].set_index("pattern").reindex(pats)
        for y, (v, lo, hi) in enumerate(zip(s["value"], s["ci_low"], s["ci_high"])):
            c = "C2" if lo > 0 else "C3" if hi < 0 else "0.4"
            ax.errorbar([v], [y], xerr=[[v - lo], [hi - v]], fmt="o", ms=4, color=c,
                        capsize=2)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{a}\nminus {(labels or {}).get(b, b)}", fontsize=8)
        ax.set_xlabel(f"difference in {metric}")
        ax.grid(alpha=0.3)
    axes[0][0].set_yticks(range(len(pats)), pats, fontsize=7)
    axes[0][0].invert_yaxis()
    fig.suptitle(f"{title}  [pooled paired bootstrap over seeds, 95% CI; green: reference "
                 "better, red: worse]".strip(), fontsize=9)
    fig.tight_layout()
    return fig


def plot_gm_curves(gm_logs, title: str = ""):
    """Per modulated method (rows): ``rho`` and the coefficient of each modality over the
    training steps where modulation was active, mean over seeds (per epoch, so runs of
    different lengths line up)."""
    import matplotlib.pyplot as plt

    df = _frame(gm_logs)
    df = df[df["active"].astype(bool)]
    if df.empty:
        raise ValueError("no active gradient-modulation steps in the log")
    methods = list(dict.fromkeys(df["method"]))
    kinds = [k for k in ("rho", "coeff") if any(c.startswith(f"gm/{k}/") for c in df)]
    fig, axes = plt.subplots(len(methods), len(kinds), figsize=(4.2 * len(kinds), 2.6 *
                                                                 len(methods)), squeeze=False)
    for i, method in enumerate(methods):
        d = df[df["method"] == method]
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            cols = [c for c in d.columns if c.startswith(f"gm/{kind}/") and d[c].notna().any()]
            for k, c in enumerate(cols):
                # mean per epoch within a seed, then over seeds
                per = d.groupby(["seed", "epoch"])[c].mean().groupby("epoch").agg(
                    ["mean", "min", "max"])
                ax.plot(per.index, per["mean"], marker="o", ms=3, color=f"C{k}",
                        label=c.split("/")[-1])
                ax.fill_between(per.index, per["min"], per["max"], color=f"C{k}", alpha=0.15,
                                lw=0)
            if kind == "rho":
                ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_title(f"{method}: {'score ratio rho' if kind == 'rho' else 'coefficient'}",
                         fontsize=9)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}  [line: mean over steps and seeds; band: seed min-max]".strip(),
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_importances(logs, title: str = ""):
    """MCKD's learned modality importances (softmax of w) over the meta steps: one line per
    modality and seed (step 0 is the initial, random w)."""
    import matplotlib.pyplot as plt

    df = _frame(logs)
    cols = [c for c in df.columns if c.startswith("importance/")]
    if df.empty or not cols:
        raise ValueError("no importance/<modality> columns in the log")
    methods = list(dict.fromkeys(df["method"])) if "method" in df else [None]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.4 * len(methods), 3.1), squeeze=False)
    for ax, method in zip(axes[0], methods):
        d = df if method is None else df[df["method"] == method]
        for k, c in enumerate(cols):
            for j, (seed, g) in enumerate(d.groupby("seed") if "seed" in d else [(0, d)]):
                ax.plot(g["step"], g[c], color=f"C{k}", lw=1.2, alpha=0.9 if j == 0 else 0.5,
                        label=c.split("/", 1)[1] if j == 0 else None)
        ax.set_xlabel("training step")
        ax.set_ylabel("importance softmax(w)")
        ax.set_title(str(method or ""), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}  [one line per seed]".strip(), fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["plot_availability", "plot_gm_curves", "plot_importances",
           "plot_pattern_differences"]
