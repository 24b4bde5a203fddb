"""Reliability diagrams of several models' prediction frames, one column per head."""

from __future__ import annotations

from mindkit.evaluate.calibration import (
    default_group,
    expected_calibration_error,
    reliability_table,
)
from mindkit.evaluate.predictions import (
    frame_groups,
    frame_heads,
    frame_modalities,
    frame_probs,
    frame_y,
    scored_rows,
)


def plot_reliability(frames: dict, task: str, heads: list[str] | None = None, n_bins: int = 15,
                     title: str = ""):
    """Reliability diagrams of prediction frames (``{model name: frame}``), one column per head.

    Each column shows one head (``heads``, default every head of any frame, in order of first
    appearance) for every model that has it: the top panel plots, per non-empty bin, the
    accuracy (multiclass, top-label) or the share of positives (binary/multilabel) against the
    bin's mean confidence / predicted probability, with the diagonal of perfect calibration;
    the bottom panel shows each model's share of samples per bin. Each model's ECE (on the
    head's default group: ``has_<m>``, ``paired`` for ``mm``, ``all`` for ``routed``) is in the
    legend; the panel title names the head, the group and ``n`` (``n`` per model where they
    differ). Multilabel heads are drawn pooled over labels (one set of bins for all ``N * L``
    entries) while the legend's ECE is mindkit's per-label mean (see
    :mod:`mindkit.evaluate.calibration`). Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not frames:
        raise ValueError("no prediction frames to plot")
    if heads is None:
        heads = list(dict.fromkeys(h for f in frames.values() for h in frame_heads(f)))
    if not heads:
        raise ValueError("the frames have no heads (no served:<head> columns)")
    missing = [h for h in heads if not any(h in frame_heads(f) for f in frames.values())]
    if missing:
        raise ValueError(f"no frame has head(s) {missing}")
    observed = "accuracy" if task == "multiclass" else "frequency"
    colors = {name: f"C{i % 10}" for i, name in enumerate(frames)}
    markers = "osD^v<>ph*"

    ncol = len(heads)
    fig, axes = plt.subplots(2, ncol, figsize=(3.4 * ncol + 0.4, 4.6), squeeze=False,
                             sharex="col", gridspec_kw={"height_ratios": [3, 1]})
    width = 1.0 / n_bins
    for c, head in enumerate(heads):
        top, bottom = axes[0, c], axes[1, c]
        top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, zorder=0)
        sizes, group = {}, None
        for i, (name, frame) in enumerate(frames.items()):
            if head not in frame_heads(frame):
                continue
            mods = frame_modalities(frame)
            g = default_group(head, mods)
            group = group or g
            rows = scored_rows(frame, head, g, frame_groups(frame))
            if not rows.any():
                continue
            y, probs = frame_y(frame, task)[rows], frame_probs(frame, head)[rows]
            ece = expected_calibration_error(task, y, probs, n_bins)
            table = reliability_table(task, y, probs, n_bins, pooled=True)
            sizes[name] = int(rows.sum())
            full = table[table["count"] > 0]
            top.plot(full["confidence"], full[observed], marker=markers[i % len(markers)],
                     ms=4, lw=1.2, color=colors[name], label=f"{name}  ECE {ece:.3f}")
            share = table["count"] / table["count"].sum()
            bottom.step(table["bin_low"] + width / 2, share, where="mid", color=colors[name],
                        lw=1.2)
        n_txt = (f"n={next(iter(sizes.values()))}" if len(set(sizes.values())) == 1
                 else "n=" + "/".join(str(v) for v in sizes.values()))
        top.set_title(f"{head} ({group}, {n_txt})" if sizes else f"{head} (no samples)",
                      fontsize=9)
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.grid(alpha=0.3)
        if sizes:
            top.legend(fontsize=7, loc="best", frameon=False)
        bottom.set_xlabel("confidence" if task == "multiclass" else "predicted probability")
        bottom.set_ylim(0, None)
        bottom.grid(alpha=0.3)
        if c == 0:
            top.set_ylabel("accuracy" if task == "multiclass" else "fraction positive")
            bottom.set_ylabel("share\nper bin", fontsize=8)
    fig.suptitle(title or f"reliability ({n_bins} bins)")
    fig.tight_layout()
    return fig

