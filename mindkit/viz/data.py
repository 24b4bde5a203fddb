"""Figures for the data tour: examples per modality, class balance, modality availability."""

from __future__ import annotations

import torch

from mindkit.data.base import MultimodalDataset


def plot_examples(ds: MultimodalDataset, split: str = "train", n: int = 6, seed: int = 0):
    """``n`` complete samples (every modality present where possible), one row per modality."""
    import matplotlib.pyplot as plt

    sp = ds[split]
    groups = sp.groups()
    pool = groups["paired"].nonzero().flatten()
    if pool.numel() == 0:
        pool = torch.arange(len(sp))
    gen = torch.Generator().manual_seed(seed)
    pick = pool[torch.randperm(pool.numel(), generator=gen)[:n]]
    mods = ds.modality_names
    fig, axes = plt.subplots(len(mods), len(pick), figsize=(1.7 * len(pick), 1.8 * len(mods)),
                             squeeze=False)
    for c, i in enumerate(pick.tolist()):
        label = _label_text(ds, sp.y[i])
        for r, m in enumerate(mods):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if not bool(sp.present[m][i]):
                ax.text(0.5, 0.5, "absent", ha="center", va="center", transform=ax.transAxes)
                continue
            x = sp.inputs[m][i]
            kind = ds.modalities[m].kind
            if kind == "image":
                ax.imshow(x[0].numpy(), cmap="gray")
            elif kind in ("sequence", "timeseries"):
                steps = int(sp.lengths[m][i]) if m in sp.lengths else x.shape[0]
                ax.imshow(x[:steps].T.numpy(), aspect="auto", cmap="magma")
            else:
                ax.bar(range(x.numel()), x.numpy())
            if c == 0:
                ax.set_ylabel(f"{m}\n({kind})", fontsize=8)
            if r == 0:
                ax.set_title(label, fontsize=8)
    fig.suptitle(f"{ds.display_name}: examples from {split}", fontsize=10)
    fig.tight_layout()
    return fig


def _label_text(ds: MultimodalDataset, y) -> str:
    if ds.task == "multiclass":
        return f"y={ds.class_names[int(y)]}"
    if ds.task == "binary":
        return f"y={int(y.reshape(-1)[0] > 0.5)}"
    on = [ds.class_names[j] for j in (y > 0.5).nonzero().flatten().tolist()]
    return "y=" + (",".join(n[:10] for n in on[:2]) + ("..." if len(on) > 2 else "") or "none")


def class_balance(ds: MultimodalDataset):
    """Tidy frame: per split and class (or label), the count and share of positive samples."""
    import pandas as pd

    rows = []
    for sname, sp in ds.splits.items():
        if ds.task == "multiclass":
            counts = torch.bincount(sp.y.long(), minlength=ds.num_outputs)
        else:
            counts = sp.y.sum(0).long()
        for j, name in enumerate(ds.class_names):
            rows.append({"split": sname, "class": name, "count": int(counts[j]),
                         "share": float(counts[j]) / max(1, len(sp))})
    return pd.DataFrame(rows)


def plot_class_balance(ds: MultimodalDataset):
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = class_balance(ds)
    rotated = ds.num_outputs > 10  # long label names, written upright below the bars
    longest = max((len(str(c)) for c in ds.class_names), default=0)
    height = 3.2 + (0.04 * longest if rotated else 0.0)
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * ds.num_outputs * 1.5), height))
    sns.barplot(df, x="class", y="share", hue="split", ax=ax)
    ax.set_ylabel("share of samples" if ds.task == "multiclass" else "prevalence")
    ax.set_title(f"{ds.display_name}: class balance")
    if rotated:
        ax.tick_params(axis="x", rotation=90, labelsize=6)
    legend_outside(ax, "split")
    fig.tight_layout()
    return fig


def legend_outside(ax, title: str | None = None) -> None:
    """Move ``ax``'s legend to the right of the axes, clear of the bars (``tight_layout``
    makes room for it)."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, fontsize=8, title_fontsize=8, frameon=False)


def plot_availability(ds: MultimodalDataset):
    """Stacked bars: per split, samples with every modality and with one modality only."""
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = []
    for sname, sp in ds.splits.items():
        g = sp.groups()
        other = len(sp) - sum(int(v.sum()) for k, v in g.items() if k != "all")
        row = {k: int(v.sum()) for k, v in g.items() if k != "all"}
        if other:
            row["other subsets"] = other
        rows.append({"split": sname, **row})
    df = pd.DataFrame(rows).set_index("split")
    fig, ax = plt.subplots(figsize=(6.5, 3))
    df.plot.bar(stacked=True, ax=ax, rot=0)
    ax.set_ylabel("samples")
    ax.set_title(f"{ds.display_name}: modality availability")
    legend_outside(ax, "samples with")
    fig.tight_layout()
    return fig


def datasets_table(seed: int = 0, names: list[str] | None = None):
    """:func:`mindkit.data.registry.overview` as a styled table for a notebook: counts as
    integers (blank where a dataset did not load) and each reason it did not load in full, its
    lines kept (a pandas frame would cut it at ``display.max_colwidth`` characters). Its
    ``.data`` is the frame."""
    from mindkit.data.registry import COUNT_COLUMNS, REASON, overview

    df = overview(names, seed)
    text = [c for c in df.columns if c not in COUNT_COLUMNS]
    return (df.style.hide(axis="index")
            .format(na_rep="", subset=list(COUNT_COLUMNS))
            .format(escape="html", subset=text)  # "<ehr_root>/" is text, not a tag
            .set_properties(subset=text, **{"text-align": "left"})
            .set_properties(subset=["modalities"], **{"min-width": "14em"})
            # the reason's lines kept (a folder layout is aligned with spaces), wrapped only
            # past about 100 characters
            .set_properties(subset=[REASON], **{"white-space": "pre-wrap", "font-family":
                                                "monospace", "font-size": "0.8em",
                                                "min-width": "62em"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]},
                               {"selector": "td", "props": [("vertical-align", "top")]}]))
