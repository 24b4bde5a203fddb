"""Figures of a sweep's effect frame (:func:`mindkit.sweep.effects.sweep_effect`): a heatmap
over two factors and error bars along one, each difference with its 95% interval across seeds.
"""

from __future__ import annotations

from mindkit.sweep.factors import sorted_values


def _fmt_ci(m, lo, hi, digits=3) -> str:
    if lo == lo and hi == hi:
        return f"{m:+.{digits}f}\n[{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return f"{m:+.{digits}f}\n(no CI)"


def _label(effect) -> str:
    r = effect.iloc[0]
    return f"{r['method']}, {r['metric']} ({r['head']}/{r['group']})"


def effect_heatmap(effect, x: str = "alpha", y: str = "T", ax=None):
    """Mean difference per (``x``, ``y``) setting, each cell annotated with its 95% interval
    across seeds (a ``*`` where it excludes zero); a diverging colormap centred at zero.
    ``effect`` must hold one row per (``x``, ``y``): compute it with ``by=[x, y]``."""
    import matplotlib.pyplot as plt
    import numpy as np

    for c in (x, y):
        if c not in effect:
            raise ValueError(f"the effect frame has no column {c!r}; it has {list(effect.columns)}"
                             f" (compute it with sweep_effect(df, by=[{x!r}, {y!r}]))")
    if effect.duplicated([x, y]).any():
        raise ValueError(f"several rows per ({x}, {y}) setting: compute the effect with "
                         f"by=[{x!r}, {y!r}] (other factors are then averaged within each seed)")
    xs, ys = sorted_values(effect[x].unique()), sorted_values(effect[y].unique())
    grid = np.full((len(ys), len(xs)), np.nan)
    notes = np.full((len(ys), len(xs)), "", dtype=object)
    for _, r in effect.iterrows():
        i, j = ys.index(r[y]), xs.index(r[x])
        grid[i, j] = r["mean_diff"]
        notes[i, j] = _fmt_ci(r["mean_diff"], r["ci_low"], r["ci_high"]) + (
            " *" if r["holds"] != "no" else "")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 + 1.6 * len(xs), 0.9 + 1.0 * len(ys)))
    else:
        fig = ax.figure
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0
    lim = lim or 1e-9
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-lim, vmax=lim, origin="lower",
                   aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if notes[i, j]:
                dark = abs(grid[i, j]) > 0.6 * lim
                ax.text(j, i, notes[i, j], ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    fig.colorbar(im, ax=ax, label="mean difference over seeds")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    n = sorted(set(effect["n_seeds"]))
    ax.set_title(f"{_label(effect)}\nmean over {'/'.join(map(str, n))} seed(s) "
                 "[95% t-interval across seeds]; * excludes 0", fontsize=9)
    fig.tight_layout()
    return fig


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def effect_plot(effect, x: str, ax=None, hue: str | None = None):
    """Mean difference with its 95% across-seed interval (error bars) against one factor
    ``x`` (one series per ``hue`` value), and the zero line. Settings with one seed have no
    interval and are drawn as open markers."""
    import matplotlib.pyplot as plt
    import numpy as np

    for c in [x] + ([hue] if hue else []):
        if c not in effect:
            raise ValueError(f"the effect frame has no column {c!r}; it has {list(effect.columns)}")
    keys = [x] + ([hue] if hue else [])
    if effect.duplicated(keys).any():
        raise ValueError(f"several rows per {keys} setting: compute the effect with by={keys}, "
                         "or pass hue=")
    xs = sorted_values(effect[x].unique())
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  for v in xs)
    pos = {v: (float(v) if numeric else i) for i, v in enumerate(xs)}
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.6, 1.4 + 1.1 * len(xs)), 3.4))
    else:
        fig = ax.figure
    hues = sorted_values(effect[hue].unique()) if hue else [None]
    width = 0.0 if numeric else 0.5 / max(1, len(hues))
    for j, h in enumerate(hues):
        d = effect if hue is None else effect[effect[hue] == h]
        d = d.assign(_p=[pos[v] for v in d[x]]).sort_values("_p")
        px = d["_p"].to_numpy() + (j - (len(hues) - 1) / 2) * width
        m = d["mean_diff"].to_numpy(float)
        lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
        has = np.isfinite(lo) & np.isfinite(hi)
        color = f"C{j}"
        label = None if hue is None else f"{hue}={_tick(h)}"
        ax.errorbar(px[has], m[has], yerr=np.vstack([m[has] - lo[has], hi[has] - m[has]]),
                    fmt="o", capsize=3, color=color, label=label)
        if (~has).any():
            ax.plot(px[~has], m[~has], "o", mfc="none", color=color,
                    label=None if has.any() else label)
        if numeric and len(px) > 1:
            ax.plot(px, m, "-", lw=0.8, color=color, alpha=0.5)
    ax.axhline(0.0, color="grey", lw=1, ls="--")
    if not numeric:
        ax.set_xticks(range(len(xs)), [_tick(v) for v in xs], rotation=15)
    ax.set_xlabel(x)
    ax.set_ylabel("difference (95% CI across seeds)")
    one = not np.isfinite(effect[["ci_low", "ci_high"]].to_numpy(float)).all()
    ax.set_title(_label(effect) + ("\nopen markers: one seed, no interval" if one else ""),
                 fontsize=9)
    if hue:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
