"""The replication study's forest plot: each dataset's pooled paired difference with its 95% CI,
and the random-effects estimate across datasets (mindkit.studies.replication)."""

from __future__ import annotations


def plot_forest(diffs, meta=None, title: str = ""):
    """One panel per method (each minus its reference): a row per dataset with its difference
    and 95% CI, and, when ``meta`` has the method, a diamond for the random-effects estimate
    across datasets. ``diffs``: rows of one pattern (e.g. the complete one)."""
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(diffs["method"]))
    if not methods:
        raise ValueError("no differences to draw")
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods) + 1.2, 0.45 *
                             diffs["dataset"].nunique() + 1.8), sharey=True, squeeze=False)
    names = list(dict.fromkeys(diffs["dataset_name"]))
    ys = {n: len(names) - i for i, n in enumerate(names)}
    for ax, method in zip(axes[0], methods):
        d = diffs[diffs["method"].eq(method)]
        for r in d.itertuples():
            y = ys[r.dataset_name]
            color = "tab:green" if r.ci_low > 0 else "tab:red" if r.ci_high < 0 else "0.3"
            ax.errorbar(r.diff, y, xerr=[[r.diff - r.ci_low], [r.ci_high - r.diff]], fmt="o",
                        color=color, capsize=3, markersize=4)
        m = meta[meta["method"].eq(method)] if meta is not None and len(meta) else None
        ref = d["reference"].iloc[0] if len(d) else "reference"
        head = f"{method} - {ref}"
        if m is not None and len(m):
            r = m.iloc[0]
            xs = [r.random_ci_low, r.random, r.random_ci_high, r.random]
            ax.fill(xs, [0, 0.25, 0, -0.25], color="tab:blue", alpha=0.8)
            head += (f"\npooled {r.random:+.3f} [{r.random_ci_low:+.3f}, {r.random_ci_high:+.3f}]"
                     f", I\u00b2 {r.I2:.2f}")
        ax.axvline(0.0, color="0.5", lw=0.8, ls="--")
        ax.set_title(head, fontsize=9)
        ax.set_xlabel("difference (primary metric)")
    axes[0][0].set_yticks([*ys.values(), 0], [*ys.keys(), "pooled"])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["plot_forest"]
