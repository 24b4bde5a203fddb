"""The attribution viewer: one explained test sample, its Shapley bars and IG overlays."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from mindkit.data.base import Split
    from mindkit.explain.results import InputAttribution, ModalityAttribution



from mindkit.viz.widgets.base import METHOD_COLORS, FigureWidget


class AttributionViewer(FigureWidget):
    """One explained sample: its modalities, per-modality Shapley bars and IG overlays.

    Parameters
    ----------
    split:
        The explained split (raw inputs, presence, lengths, targets and ids are read from it).
    modality:
        Per method name (e.g. ``"mind"``, ``"no_kd"``), its :class:`ModalityAttribution`. The
        selectable samples are rows of the first method's attribution, in its order: those
        that have an integrated-gradients map (of any modality, by any method) when ``inputs``
        holds maps and ``all_samples`` is false, else all of them.
    inputs:
        ``inputs[method][modality]``: that method's :class:`InputAttribution` over that
        modality (integrated gradients), or ``None``. A modality without a map of the selected
        sample is drawn as "not explained".
    class_names:
        One name per output.
    kinds:
        Modality name -> kind (``image``, ``sequence``, ``timeseries``, ``tabular``,
        ``tokens``).
    sample:
        The initial index into the selectable rows; by default the first sample whose every
        present modality has an IG map.
    all_samples:
        Offer every row of the first method's attribution, also those without an IG map
        (integrated gradients usually explain far fewer samples than the Shapley values).
    """

    KINDS = ("image", "sequence", "timeseries", "tabular", "tokens")

    def __init__(self, split: "Split", modality: dict[str, "ModalityAttribution"],
                 inputs: dict[str, dict[str, "InputAttribution"]] | None,
                 class_names: list[str], kinds: dict[str, str], sample: int | None = None,
                 all_samples: bool = False) -> None:
        if not modality:
            raise ValueError("AttributionViewer needs at least one method's ModalityAttribution")
        self.split = split
        self.modality = dict(modality)
        self.methods = list(self.modality)
        self.inputs = {meth: dict(v) for meth, v in (inputs or {}).items()}
        self.class_names = list(class_names)
        self.kinds = dict(kinds)
        first = self.modality[self.methods[0]]
        self.task = first.task
        self.names = list(first.names)
        self._check(split)
        self._index = {meth: {int(r): k for k, r in enumerate(a.rows.tolist())}
                       for meth, a in self.modality.items()}
        self._ig_index = {meth: {m: ia.by_row() for m, ia in per.items()}
                          for meth, per in self.inputs.items()}
        self.ig_methods = [meth for meth in self.inputs if self.inputs[meth]] or []
        self.rows = self._selectable(first.rows.long().cpu(), all_samples)
        if sample is None:
            sample = self._first_fully_mapped()
        self._check_sample(sample)
        self.state = {"sample": int(sample),
                      "method": self.ig_methods[0] if self.ig_methods else None}
        self.fig = self._new_figure((3.4 * (len(self.names) + 1) + 0.8, 5.6))
        self.controls = self._build_controls()
        self.last: dict = {}
        self.update()

    def _selectable(self, rows, all_samples: bool):
        """The rows the sample slider offers: ``rows`` that have an IG map (any modality, any
        method), unless ``all_samples`` or there are no maps (then all ``rows``)."""
        mapped = {r for meth in self.ig_methods for idx in self._ig_index[meth].values()
                  for r in idx}
        if all_samples or not mapped:
            return rows
        keep = [k for k, r in enumerate(rows.tolist()) if r in mapped]
        return rows[keep] if keep else rows

    def _first_fully_mapped(self) -> int:
        """The first selectable sample whose every present modality has an IG map (else 0)."""
        if not self.ig_methods:
            return 0
        idx = self._ig_index[self.ig_methods[0]]
        for k, r in enumerate(self.rows.tolist()):
            have = [m for m in self.names if bool(self.split.present[m][r])]
            if have and all(m in idx and r in idx[m] for m in have):
                return k
        return 0

    def _check(self, split: "Split") -> None:
        if len(self.modality[self.methods[0]]) == 0:
            raise ValueError(f"method {self.methods[0]!r} explained no samples")
        for meth, a in self.modality.items():
            if a.names != self.names:
                raise ValueError(f"method {meth!r} attributes to modalities {a.names} but "
                                 f"{self.methods[0]!r} to {self.names}")
            if len(a) and (int(a.rows.min()) < 0 or int(a.rows.max()) >= len(split)):
                raise ValueError(f"method {meth!r} has rows outside the split "
                                 f"{split.name!r} of {len(split)} samples")
        for m in self.names:
            if m not in split.inputs:
                raise ValueError(f"modality {m!r} is not in split {split.name!r} "
                                 f"(it has {split.modalities})")
            if m not in self.kinds:
                raise ValueError(f"kinds gives no kind for modality {m!r}; it covers "
                                 f"{sorted(self.kinds)}")
            if self.kinds[m] not in self.KINDS:
                raise ValueError(f"modality {m!r}: unknown kind {self.kinds[m]!r}; use one of "
                                 f"{self.KINDS}")
        for meth, per in self.inputs.items():
            for m, ia in per.items():
                if m not in self.names:
                    raise ValueError(f"inputs[{meth!r}] explains unknown modality {m!r}; the "
                                     f"modalities are {self.names}")
        c = len(self.class_names)
        for meth, a in self.modality.items():
            if len(a) and int(a.pred.max()) >= c:
                raise ValueError(f"method {meth!r} predicts class {int(a.pred.max())} but there "
                                 f"are {c} class names")

    def _check_sample(self, sample: int) -> None:
        n = int(self.rows.numel())
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) \
                or not 0 <= int(sample) < n:
            raise ValueError(f"sample must index the {n} explained samples, [0, {n}), got "
                             f"{sample!r}")

    def _check_method(self, method: str) -> None:
        if method not in self.ig_methods:
            have = self.ig_methods or "none (no input attributions were given)"
            raise ValueError(f"no input attributions for method {method!r}; methods with "
                             f"them: {have}")

    # ---- text helpers -----------------------------------------------------------------------

    def _y_value(self, row: int):
        y = self.split.y[row]
        return int(y) if self.task == "multiclass" else [float(v) for v in y.reshape(-1)]

    def _y_text(self, row: int) -> str:
        y = self.split.y[row]
        if self.task == "multiclass":
            return self.class_names[int(y)]
        on = [self.class_names[j] for j, v in enumerate(y.reshape(-1).tolist()) if v > 0.5]
        if self.task == "binary":
            return f"{self.class_names[0]}={int(bool(on))}"
        return ", ".join(on[:3]) + (" ..." if len(on) > 3 else "") if on else "none"

    # ---- update -----------------------------------------------------------------------------

    def update(self, sample: int | None = None, method: str | None = None) -> dict:
        """Select a sample (index into the explained rows) and the IG method; redraw.

        Returns ``{"row", "id", "y", "served", "values", "pred"}``; ``served``, ``values``
        (``{method: {modality: value}}``) and ``pred`` hold the methods that explained the row.
        """
        st = dict(self.state)
        if sample is not None:
            self._check_sample(sample)
            st["sample"] = int(sample)
        if method is not None:
            self._check_method(method)
            st["method"] = method
        self.state = st
        row = int(self.rows[st["sample"]])
        out = {"row": row, "id": int(self.split.ids[row]), "y": self._y_value(row),
               "served": {}, "values": {}, "pred": {}}
        for meth, a in self.modality.items():
            k = self._index[meth].get(row)
            if k is None:
                continue
            out["served"][meth] = a.served[k]
            out["values"][meth] = {m: float(v) for m, v in zip(a.names, a.values[k].tolist())}
            out["pred"][meth] = int(a.pred[k])
        self.last = out
        self._draw(out, st["method"])
        self._sync_controls()
        self._publish()
        return out

    # ---- drawing ----------------------------------------------------------------------------

    def _ig(self, method: str | None, m: str, row: int):
        if method is None or m not in self.inputs.get(method, {}):
            return None
        k = self._ig_index[method][m].get(row)
        return None if k is None else (self.inputs[method][m], k)

    def _draw(self, out: dict, method: str | None) -> None:
        fig = self.fig
        fig.clear()
        n = len(self.names)
        # two grids: the modality panels (one-line titles) start right under the figure's title;
        # the Shapley panel (right) starts lower, leaving room for its title of one line per
        # method (its most lines, so the layout stays put as the sample moves)
        title_lines = len(self.methods) + 2
        left, right, gap = 0.06, 0.985, 0.115
        split = left + (right - left) * n / (n + 1.15)
        gs = fig.add_gridspec(2, n, left=left, right=split - gap / 2, top=0.87, bottom=0.14,
                              wspace=0.4, hspace=0.45)
        gs_shap = fig.add_gridspec(1, 1, left=split + gap / 2, right=right, bottom=0.14,
                                   top=max(0.55, 0.87 - 0.026 * (title_lines - 1)))
        row = out["row"]
        for j, m in enumerate(self.names):
            ax_raw = fig.add_subplot(gs[0, j])
            ax_ig = fig.add_subplot(gs[1, j])
            self._draw_modality(ax_raw, ax_ig, m, row, method)
        self._draw_shapley(fig.add_subplot(gs_shap[0, 0]), out)
        fig.suptitle(f"{self.split.name or 'split'} sample row {row} (id {out['id']}), "
                     f"true: {self._y_text(row)}", fontsize=11, y=0.985)

    @staticmethod
    def _blank(ax, text: str, color: str = "0.35") -> None:
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_color("0.8")
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes,
                fontsize=11, color=color)

    def _length(self, m: str, row: int, ia=None, k: int | None = None) -> int | None:
        if ia is not None and ia.lengths is not None:
            return int(ia.lengths[k])
        if m in self.split.lengths:
            return int(self.split.lengths[m][row])
        return None

    def _draw_modality(self, ax_raw, ax_ig, m: str, row: int, method: str | None) -> None:
        kind = self.kinds[m]
        ax_raw.set_title(f"{m} ({kind})", fontsize=10)
        if not bool(self.split.present[m][row]):
            self._blank(ax_raw, "absent", "#C44E52")
            self._blank(ax_ig, "absent", "#C44E52")
            ax_ig.set_title("integrated gradients", fontsize=9)
            return
        x = self.split.inputs[m][row].detach().cpu().float()
        got = self._ig(method, m, row)
        length = self._length(m, row, *(got or (None, None)))

        # raw input
        if kind == "image":
            img = x[0] if x.shape[0] == 1 else x.mean(0)
            ax_raw.imshow(img.numpy(), cmap="gray")
            ax_raw.set_xticks([])
            ax_raw.set_yticks([])
            ax_raw.set_xlabel("channel 0" if x.shape[0] == 1 else "mean over channels",
                              fontsize=8)
        elif kind in ("sequence", "timeseries"):
            steps = x.shape[0] if length is None else max(1, length)
            im = ax_raw.imshow(x[:steps].T.numpy(), aspect="auto", cmap="magma",
                               interpolation="nearest")
            ax_raw.set_xlabel("time step")
            ax_raw.set_ylabel("feature")
            self.fig.colorbar(im, ax=ax_raw, shrink=0.85).set_label("value", fontsize=8)
        elif kind == "tabular":
            ax_raw.bar(np.arange(x.numel()), x.numpy(), color="0.5")
            ax_raw.set_xlabel("feature")
            ax_raw.set_ylabel("value")
        else:  # tokens
            ids = x.long().tolist()
            steps = length if length is not None else (sum(1 for t in ids if t != 0) or len(ids))
            text = " ".join(str(t) for t in ids[:steps])
            lines = textwrap.wrap(text, 36)
            shown = "\n".join(lines[:10]) + ("\n..." if len(lines) > 10 else "")
            ax_raw.set_xticks([])
            ax_raw.set_yticks([])
            ax_raw.text(0.02, 0.98, shown, ha="left", va="top", family="monospace",
                        fontsize=7, transform=ax_raw.transAxes)
            ax_raw.set_xlabel(f"token ids ({steps} tokens)", fontsize=8)

        # integrated gradients of the selected method
        if got is None:
            why = "no IG maps given" if method is None else "not explained"
            self._blank(ax_ig, why)
            ax_ig.set_title(f"integrated gradients ({method})" if method else
                            "integrated gradients", fontsize=9)
            return
        ia, k = got
        a = ia.attributions[k].detach().cpu().float()
        who = method if ia.head == method else f"{method}, head {ia.head}"  # not "x, head x"
        ax_ig.set_title(f"IG ({who}), target {self._class(int(ia.target[k]))}", fontsize=9)
        if kind == "image":
            amap = a.sum(0) if a.dim() == 3 else a
            img = x[0] if x.shape[0] == 1 else x.mean(0)
            v = float(amap.abs().max()) or 1e-12
            ax_ig.imshow(img.numpy(), cmap="gray")
            im = ax_ig.imshow(amap.numpy(), cmap="RdBu_r", vmin=-v, vmax=v, alpha=0.6)
            ax_ig.set_xticks([])
            ax_ig.set_yticks([])
            ax_ig.set_xlabel("attribution (summed over channels) on the image", fontsize=8)
            self.fig.colorbar(im, ax=ax_ig, shrink=0.85).set_label("attribution", fontsize=8)
        elif kind in ("sequence", "timeseries"):
            steps = a.shape[0] if length is None else max(1, length)
            part = a[:steps]
            v = float(part.abs().max()) or 1e-12
            im = ax_ig.imshow(part.T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v,
                              interpolation="nearest")
            ax_ig.set_xlabel("time step")
            ax_ig.set_ylabel("feature")
            self.fig.colorbar(im, ax=ax_ig, shrink=0.85).set_label("attribution", fontsize=8)
        else:  # tabular features or token positions: signed bars
            if kind == "tokens" and length is not None:
                a = a[:max(1, length)]
            vals = a.reshape(-1).numpy()
            ax_ig.bar(np.arange(vals.size), vals,
                      color=np.where(vals >= 0, "#C44E52", "#4C72B0"))
            ax_ig.axhline(0, color="k", lw=0.6)
            ax_ig.set_xlabel("token position" if kind == "tokens" else "feature")
            ax_ig.set_ylabel("attribution")

    def _class(self, j: int) -> str:
        return self.class_names[j] if 0 <= j < len(self.class_names) else str(j)

    def _draw_shapley(self, ax, out: dict) -> None:
        row = out["row"]
        meths = list(out["values"])
        n, k = len(self.names), max(len(meths), 1)
        x = np.arange(n)
        w = 0.8 / k
        for q, meth in enumerate(meths):
            vals = [out["values"][meth][m] for m in self.names]
            ax.bar(x - 0.4 + w * (q + 0.5), vals, w, label=meth,
                   color=METHOD_COLORS[q % len(METHOD_COLORS)])
        ax.axhline(0, color="k", lw=0.6)
        absent = {j for j, m in enumerate(self.names) if not bool(self.split.present[m][row])}
        ticks = [f"{m}\n(absent)" if j in absent else m for j, m in enumerate(self.names)]
        ax.set_xticks(x)
        ax.set_xticklabels(ticks)
        for j, lab in enumerate(ax.get_xticklabels()):
            if j in absent:
                lab.set_color("#C44E52")
        ax.set_xlim(-0.6, n - 0.4)
        first = self.modality[meths[0]] if meths else self.modality[self.methods[0]]
        unit = "probability" if first.output == "prob" else "logit"
        ax.set_ylabel(f"Shapley value (share of the {unit})")
        ax.set_xlabel("modality")
        lines = [f"Shapley per modality; true: {self._y_text(row)}"]
        for meth in meths:
            a = self.modality[meth]
            kk = self._index[meth][row]
            lines.append(f"{meth}: head {a.served[kk]}, pred {self._class(int(a.pred[kk]))}, "
                         f"explains {self._class(int(a.target[kk]))}")
        missing = [meth for meth in self.methods if meth not in out["values"]]
        if missing:
            lines.append(f"not explained by {', '.join(missing)}")
        ax.set_title("\n".join(lines), fontsize=8.5)
        if meths:
            ax.legend(fontsize=8, loc="best", title="method", title_fontsize=8)

    # ---- controls ---------------------------------------------------------------------------

    def _build_controls(self):
        import ipywidgets as W

        n = int(self.rows.numel())
        self._w_sample = W.IntSlider(value=self.state["sample"], min=0, max=max(n - 1, 0),
                                     description="sample", continuous_update=False)
        opts = self.ig_methods or [self.methods[0]]
        self._w_method = W.Dropdown(options=opts, value=self.state["method"] or opts[0],
                                    description="IG of", disabled=not self.ig_methods)
        self._w_info = W.HTML()
        for w in (self._w_sample, self._w_method):
            w.observe(self._on_change, names="value")
        return W.VBox([W.HBox([self._w_sample, self._w_method]), self._w_info])

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            self._w_sample.value = self.state["sample"]
            if self.state["method"] is not None:
                self._w_method.value = self.state["method"]
            out = self.last
            served = ", ".join(f"{meth}: {h}" for meth, h in out["served"].items())
            self._w_info.value = (f"row {out['row']} (id {out['id']}), true "
                                  f"{self._y_text(out['row'])}; served by {served}")
        finally:
            self._syncing = False

    def _on_change(self, change) -> None:
        if self._syncing:
            return
        self.update(sample=int(self._w_sample.value),
                    method=self._w_method.value if self.ig_methods else None)


__all__ = ["AttributionViewer"]
