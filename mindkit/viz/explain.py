"""Figures of notebook 05: modality attributions, integrated-gradient maps, map agreement."""

from __future__ import annotations

from mindkit.viz.robustness import method_color as _line_color


def method_color(method: str, i: int) -> str:
    """The notebooks' colours, with the teachers in grey (a box's median must stay visible)."""
    return "0.55" if method == "teachers" else _line_color(method, i)


def plot_modality_attributions(frames, title: str = ""):
    """Per modality, the distribution of each method's per-sample modality attribution (box
    plots over the samples that have the modality) with the mean marked.

    ``frames``: a DataFrame (or list of them) from :meth:`ModalityAttribution.frame` with a
    ``method`` column."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.concat(frames) if isinstance(frames, (list, tuple)) else frames
    df = df[df["present"]]
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * df["modality"].nunique() * len(methods) / 2, 3.8))
    palette = {m: method_color(m, i) for i, m in enumerate(methods)}
    sns.boxplot(df, x="modality", y="value", hue="method", hue_order=methods, palette=palette,
                showmeans=True, fliersize=1.5, ax=ax,
                meanprops={"marker": "D", "markerfacecolor": "w", "markeredgecolor": "k"})
    ax.axhline(0, color="0.6", lw=0.8)
    out = df["output"].iloc[0] if "output" in df else "prob"
    ax.set_ylabel(f"attribution ({'probability' if out == 'prob' else 'logit'} of the target)")
    ax.set_title(title or "Modality attributions per sample")
    ax.legend(title="", fontsize=8)
    fig.tight_layout()
    return fig


def _show_input(ax, x, kind: str, length=None, cmap="gray"):
    if kind == "image":
        ax.imshow(x.float().mean(0).numpy(), cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
    elif kind in ("sequence", "timeseries"):
        x = x[: int(length)] if length is not None else x
        ax.imshow(x.float().T.numpy(), aspect="auto", cmap="viridis", origin="lower")
        ax.set_xlabel("step")
        ax.set_ylabel("feature")
    elif kind == "tabular":
        ax.bar(range(x.numel()), x.float().flatten().numpy())
    else:  # tokens
        ids = x[: int(length)] if length is not None else x
        ax.text(0.02, 0.5, " ".join(str(int(t)) for t in ids[:40]), fontsize=7, wrap=True,
                transform=ax.transAxes)
        ax.axis("off")


def _show_attr(ax, a, kind: str, length=None):
    a = a.float()
    if kind == "image":
        m = a.sum(0)
        lim = float(m.abs().max()) or 1.0
        ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
    elif kind in ("sequence", "timeseries"):
        a = a[: int(length)] if length is not None else a
        lim = float(a.abs().max()) or 1.0
        ax.imshow(a.T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_xlabel("step")
        ax.set_ylabel("feature")
    else:
        a = a[: int(length)] if length is not None and kind == "tokens" else a
        ax.bar(range(a.numel()), a.flatten().numpy(), color=["C3" if v > 0 else "C0"
                                                    for v in a.flatten().tolist()])
        ax.set_xlabel("token" if kind == "tokens" else "feature")


def plot_ig_examples(maps: dict, class_names: list[str], n: int = 3, title: str = ""):
    """Integrated-gradient maps of the same samples under several models, one row per sample:
    the input, then each model's map (red raises the explained output, blue lowers it), with
    the true and predicted class.

    ``maps``: model name -> :class:`~mindkit.explain.results.InputAttribution` of one modality;
    the first one's first ``n`` rows are shown (a model that did not explain a row is blank)."""
    import matplotlib.pyplot as plt

    names = list(maps)
    first = maps[names[0]]
    n = min(n, len(first))
    fig, axes = plt.subplots(n, 1 + len(names), figsize=(2.3 * (1 + len(names)), 2.1 * n),
                             squeeze=False)
    for i in range(n):
        row = int(first.rows[i])
        L = None if first.lengths is None else first.lengths[i]
        y = first.y[i]
        true = class_names[int(y)] if y.dim() == 0 else f"label {int(first.target[i])}"
        _show_input(axes[i, 0], first.inputs[i], first.kind, L)
        axes[i, 0].set_title(f"{first.modality} (id {int(first.ids[i])})\ntrue {true}", fontsize=8)
        for k, name in enumerate(names, start=1):
            ax = axes[i, k]
            pos = maps[name].by_row().get(row)
            if pos is None:
                ax.axis("off")
                continue
            a = maps[name]
            _show_attr(ax, a.attributions[pos], a.kind, L)
            pred = class_names[int(a.pred[pos])] if a.task_is_multiclass() else int(a.pred[pos])
            label = name if a.head == name else f"{name} [{a.head}]"  # "teachers", once
            ax.set_title(f"{label}\npred {pred}, target {int(a.target[pos])}", fontsize=8)
    fig.suptitle(title or f"Integrated gradients: {first.modality}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_map_agreement(frames, title: str = ""):
    """Per modality, each student's per-sample rank correlation with its teachers' IG maps
    (box plots; the mean marked). ``frames``: DataFrame with ``rho``, ``method``, ``modality``."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.concat(frames) if isinstance(frames, (list, tuple)) else frames
    methods = list(dict.fromkeys(df["method"]))
    palette = {m: method_color(m, i) for i, m in enumerate(methods)}
    fig, ax = plt.subplots(figsize=(2.5 + 1.5 * df["modality"].nunique(), 3.6))
    sns.boxplot(df, x="modality", y="rho", hue="method", hue_order=methods, palette=palette,
                showmeans=True, fliersize=1.5, ax=ax,
                meanprops={"marker": "D", "markerfacecolor": "w", "markeredgecolor": "k"})
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylabel("Spearman rho with the teacher ensemble's map")
    ax.set_title(title or "Does the student look where its teachers look?")
    ax.legend(title="", fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["plot_ig_examples", "plot_map_agreement", "plot_modality_attributions"]
