"""Interactive explorers for notebooks: the KD loss of one sample, and the attributions of one.

* :class:`KDExplorer` moves the temperature ``T`` and the KD weight ``alpha`` for one training
  sample and one student head, and shows the teacher ensemble's soft targets, the student's
  tempered probabilities and the head's loss terms. Everything is computed from cached logits
  (teacher members and student heads, computed once, e.g. by :meth:`KDExplorer.from_models`)
  with the package's own loss functions, so the numbers are exactly those training computes.
* :class:`AttributionViewer` picks one explained test sample and shows its modalities, the
  per-modality Shapley values of every method side by side, the selected method's
  integrated-gradients maps over the inputs, and which head served the sample.

Both share one design. ``update(**state)`` recomputes, redraws the explorer's matplotlib figure
``.fig`` in place and returns the numbers it shows (a dict, so tests and notebooks can check
them); ``.controls`` is an ``ipywidgets`` box of sliders and dropdowns whose callbacks call
``update``; :meth:`png` renders the current figure and :meth:`save` writes it to a file.

How ``show()`` displays (and why): it displays the controls, then the figure as a *plain PNG
output* (``display(Image(png), display_id=True)``) and keeps the display handle; every later
``update`` replaces that output with ``handle.update(Image(new_png))``. In JupyterLab the sliders
therefore update the figure live, while a notebook executed without a live frontend (papermill,
nbconvert) still holds a static PNG of the initial state, which renders anywhere (GitHub, HTML
export) without a widget state. Outside IPython (a script) ``display`` only prints the objects'
text and returns no handle; ``update`` then just redraws ``.fig`` (use :meth:`save`).

The figure is created once and closed from pyplot's figure manager right away, so a notebook's
inline backend does not display it a second time at the end of the cell.
"""

from __future__ import annotations

import math
import textwrap
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from mindkit.common import TASKS
from mindkit.models.student import MM

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from mindkit.data.base import Split
    from mindkit.explain.results import InputAttribution, ModalityAttribution
    from mindkit.models.unimodal import TeacherEnsemble

T_RANGE = (0.5, 10.0)
"""The temperature slider's range (and the default span of the KD-vs-T curve)."""

_TEACHER_COLOR, _STUDENT_COLOR, _TRUE_COLOR = "#4C72B0", "#DD8452", "#2ca02c"
_METHOD_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3"]


class _FigureWidget:
    """Shared plumbing: one figure redrawn in place, PNG rendering, display with a handle."""

    dpi = 100
    fig: Any
    controls: Any

    def _new_figure(self, figsize: tuple[float, float]):
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)  # fixed margins: no layout engine to run per draw
        plt.close(fig)  # drawn only through png()/show(): no second inline display
        self._handle = None
        self._syncing = False
        return fig

    def png(self, dpi: int | None = None) -> bytes:
        """The current figure as PNG bytes."""
        buf = BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi or self.dpi)
        return buf.getvalue()

    def save(self, path: str | Path, dpi: int | None = None) -> Path:
        """Write the current figure to ``path`` (format from the suffix, e.g. ``.png``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fig.savefig(path, dpi=dpi or self.dpi)
        return path

    def show(self) -> None:
        """Display the controls and the figure (as a PNG output that later updates replace)."""
        from IPython.display import Image, display

        display(self.controls)
        self._handle = display(Image(data=self.png(), format="png"), display_id=True)

    def _publish(self) -> None:
        """Replace the displayed PNG (if ``show`` displayed one) with the current figure."""
        if self._handle is not None:
            from IPython.display import Image

            self._handle.update(Image(data=self.png(), format="png"))


def _tick_labels(ax, names: list[str], positions, bold: set[int] = frozenset()) -> None:
    rotate = len(names) > 6 or max((len(n) for n in names), default=0) > 8
    ax.set_xticks(list(positions))
    ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       fontsize=8 if len(names) > 12 else 9)
    for j, lab in enumerate(ax.get_xticklabels()):
        if j in bold:
            lab.set_fontweight("bold")
            lab.set_color(_TRUE_COLOR)


# --------------------------------------------------------------------------------------------
# KD explorer
# --------------------------------------------------------------------------------------------


class KDExplorer(_FigureWidget):
    """The KD term of one training sample and one student head, as ``T`` and ``alpha`` move.

    Parameters
    ----------
    member_logits:
        Per modality ``m``, the logits ``[M_m, N, C]`` of its teacher ensemble's members on the
        ``N`` samples (NaN in rows that lack ``m``), e.g. ``TeacherCache.member_logits``.
    member_weights:
        Per modality, the members' weights ``[M_m]`` (``TeacherCache.weights``).
    student_logits, student_mask:
        Per student head (modality names and ``"mm"``), logits ``[N, C]`` and ``bool[N]`` rows the
        head served (``predict_student(student, split)``).
    y:
        Targets: class indices ``long[N]`` (multiclass) or 0/1 floats ``[N, C]``.
    task, class_names:
        The dataset's task and one name per output.
    ids:
        Sample ids ``[N]`` (default: the row positions).
    T, alpha, sample, head:
        The initial state; ``head=None`` picks ``mm`` when it serves the sample, otherwise the
        first head that does.

    A unimodal head ``m`` distils from modality ``m``'s ensemble target (``combine_probs``: the
    weighted mean of its members' tempered probabilities); the multimodal head from the mean of
    all modality ensembles' targets (``mean_target``), defined where the sample has every
    modality. The head's loss is ``(1 - alpha) * task + alpha * KD`` with ``task_loss`` and
    ``kd_loss`` of :mod:`mindkit.distill.losses` over the one row: what ``MindLoss`` computes
    for a batch made of this sample (before the head weight ``lambda``).
    """

    def __init__(self, member_logits: dict[str, Tensor], member_weights: dict[str, Tensor],
                 student_logits: dict[str, Tensor], student_mask: dict[str, Tensor], y: Tensor,
                 task: str, class_names: list[str], ids: Tensor | None = None, T: float = 2.0,
                 alpha: float = 0.5, sample: int = 0, head: str | None = None) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; use one of {TASKS}")
        self.task = task
        self._check_inputs(member_logits, member_weights, student_logits, student_mask, y,
                           class_names, ids)
        self.member_logits = {m: member_logits[m].detach().cpu() for m in sorted(member_logits)}
        self.member_weights = {m: torch.as_tensor(member_weights[m]).detach().cpu()
                               for m in self.member_logits}
        mods = [h for h in sorted(student_logits) if h != MM]
        self.heads = mods + ([MM] if MM in student_logits else [])
        self.student_logits = {h: student_logits[h].detach().cpu() for h in self.heads}
        self.student_mask = {h: student_mask[h].detach().cpu() for h in self.heads}
        self.y = y.detach().cpu()
        self.class_names = list(class_names)
        self.n = int(self.y.shape[0])
        self.ids = torch.arange(self.n) if ids is None else torch.as_tensor(ids).cpu()
        self._check_T(T)
        self._check_alpha(alpha)
        self._check_sample(sample)
        if head is None:
            head = self._default_head(sample)
        self._check_head(head, sample)
        self.state = {"sample": int(sample), "head": head, "T": float(T), "alpha": float(alpha)}
        self.fig = self._new_figure((12.0, 4.6))
        self.controls = self._build_controls()
        self.last: dict = {}
        self.update()

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def from_models(cls, student, ensembles: dict[str, "TeacherEnsemble"], split: "Split",
                    task: str, class_names: list[str], **kw) -> "KDExplorer":
        """Run the teacher ensembles and the student once over ``split`` and explore the cache.

        ``kw`` go to the constructor (``T``, ``alpha``, ``sample``, ``head``).
        """
        from mindkit.distill.cache import TeacherCache
        from mindkit.models.predict import predict_student

        cache = TeacherCache.build(ensembles, split, task)
        out = predict_student(student, split)
        return cls(cache.member_logits, cache.weights, out.logits, out.mask, split.y, task,
                   class_names, ids=split.ids, **kw)

    def _check_inputs(self, member_logits, member_weights, student_logits, student_mask, y,
                      class_names, ids) -> None:
        if not member_logits:
            raise ValueError("KDExplorer needs the member logits of at least one teacher "
                             "ensemble (member_logits is empty)")
        if not student_logits:
            raise ValueError("KDExplorer needs the logits of at least one student head")
        if set(student_logits) != set(student_mask):
            raise ValueError(f"student_logits has heads {sorted(student_logits)} but "
                             f"student_mask has {sorted(student_mask)}; give one mask per head")
        if set(member_weights) != set(member_logits):
            raise ValueError(f"member_weights has modalities {sorted(member_weights)} but "
                             f"member_logits has {sorted(member_logits)}")
        no_teacher = [h for h in student_logits if h != MM and h not in member_logits]
        if no_teacher:
            raise ValueError(f"student heads {sorted(no_teacher)} have no teacher ensemble: "
                             f"member_logits holds {sorted(member_logits)} (a unimodal head "
                             f"distils from its modality's ensemble, {MM!r} from all of them)")
        n = int(y.shape[0])
        c = len(class_names)
        for m, lg in member_logits.items():
            if lg.dim() != 3 or lg.shape[1] != n or lg.shape[2] != c:
                raise ValueError(f"member_logits[{m!r}] must be [members, N={n}, C={c}], got "
                                 f"{tuple(lg.shape)}")
            w = torch.as_tensor(member_weights[m])
            if w.shape != (lg.shape[0],):
                raise ValueError(f"member_weights[{m!r}] must be [{lg.shape[0]}] (one weight per "
                                 f"member), got {tuple(w.shape)}")
        for h, lg in student_logits.items():
            if tuple(lg.shape) != (n, c):
                raise ValueError(f"student_logits[{h!r}] must be [N={n}, C={c}], got "
                                 f"{tuple(lg.shape)}")
            mk = student_mask[h]
            if mk.dtype != torch.bool or tuple(mk.shape) != (n,):
                raise ValueError(f"student_mask[{h!r}] must be bool[{n}], got {mk.dtype} "
                                 f"{tuple(mk.shape)}")
        if self.task == "multiclass":
            if y.dim() != 1 or y.dtype.is_floating_point:
                raise ValueError(f"multiclass targets must be class indices long[N], got "
                                 f"{y.dtype} {tuple(y.shape)}")
            if n and (int(y.min()) < 0 or int(y.max()) >= c):
                raise ValueError(f"class indices must lie in [0, {c}) for {c} class names")
        elif tuple(y.shape) != (n, c):
            raise ValueError(f"{self.task} targets must be 0/1 floats [N, C={c}], got "
                             f"{tuple(y.shape)}")
        if ids is not None and tuple(torch.as_tensor(ids).shape) != (n,):
            raise ValueError(f"ids must be [N={n}], got {tuple(torch.as_tensor(ids).shape)}")
        if n == 0:
            raise ValueError("no samples to explore (N = 0)")

    # ---- checks -----------------------------------------------------------------------------

    @staticmethod
    def _check_T(T: float) -> None:
        if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
            raise ValueError(f"temperature T must be a positive number, got {T!r}")

    @staticmethod
    def _check_alpha(alpha: float) -> None:
        if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")

    def _check_sample(self, sample: int) -> None:
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) \
                or not 0 <= int(sample) < self.n:
            raise ValueError(f"sample must be a row index in [0, {self.n}), got {sample!r}")

    def heads_serving(self, sample: int) -> list[str]:
        """The student heads that served ``sample`` (and whose teacher target is defined)."""
        return [h for h in self.heads if bool(self.student_mask[h][sample])
                and self._teacher_defined(h, sample)]

    def _teacher_mods(self, head: str) -> list[str]:
        return list(self.member_logits) if head == MM else [head]

    def _teacher_defined(self, head: str, sample: int) -> bool:
        return all(bool(torch.isfinite(self.member_logits[m][:, sample]).all())
                   for m in self._teacher_mods(head))

    def _default_head(self, sample: int) -> str:
        serving = self.heads_serving(sample)
        if not serving:
            raise ValueError(f"no student head served sample {sample} "
                             f"(id {int(self.ids[sample])}); pick another sample")
        return MM if MM in serving else serving[0]

    def _check_head(self, head: str, sample: int) -> None:
        if head not in self.heads:
            raise ValueError(f"unknown head {head!r}; the student has heads {self.heads}")
        if head in self.heads_serving(sample):
            return
        serving = self.heads_serving(sample) or ["none"]
        if bool(self.student_mask[head][sample]):
            missing = [m for m in self._teacher_mods(head)
                       if not bool(torch.isfinite(self.member_logits[m][:, sample]).all())]
            why = f"its teacher target is undefined there (no teacher logits for {missing})"
        else:
            why = "it did not serve it"
        raise ValueError(f"head {head!r} cannot be explored on sample {sample} "
                         f"(id {int(self.ids[sample])}): {why}; heads that served it: "
                         f"{', '.join(serving)}")

    # ---- numbers ----------------------------------------------------------------------------

    def teacher_probs(self, sample: int, head: str, T: float | Tensor) -> Tensor:
        """The head's teacher soft target ``[1, C]`` for one sample at temperature ``T`` (a
        column ``[K, 1]`` of temperatures gives ``[K, C]``, one row per temperature)."""
        from mindkit.distill.mind import mean_target
        from mindkit.models.unimodal import combine_probs

        rows = torch.tensor([int(sample)])
        soft = {m: combine_probs(self.member_logits[m][:, rows], self.task, T,
                                 self.member_weights[m])
                for m in self._teacher_mods(head)}
        return mean_target(soft) if head == MM else soft[head]

    def terms(self, sample: int, head: str, T: float, alpha: float) -> dict:
        """Teacher and student probabilities and the loss terms (no checks, no drawing)."""
        from mindkit.distill.losses import kd_loss, task_loss
        from mindkit.models.unimodal import to_probs

        s = self.student_logits[head][sample : sample + 1]
        t = self.teacher_probs(sample, head, T)
        kd = float(kd_loss(self.task, s, t, T))
        task = float(task_loss(self.task, s, self.y[sample : sample + 1]))
        return {"teacher_probs": t[0].tolist(),
                "student_probs": to_probs(s, self.task, T)[0].tolist(),
                "kd": kd, "task": task, "loss": (1 - alpha) * task + alpha * kd}

    def kd_curve(self, sample: int, head: str, temps) -> np.ndarray:
        """KD term of one sample and head at each temperature in ``temps``, in one pass.

        The teacher targets come from ``combine_probs``/``mean_target`` with a column of
        temperatures; the KL is ``kd_loss``'s formula written per temperature (``kd_loss``
        averages over the batch, which here would mix the temperatures). At the current
        temperature it equals :meth:`update`'s ``"kd"`` up to float rounding.
        """
        import torch.nn.functional as F

        s = self.student_logits[head][sample : sample + 1]
        t = torch.as_tensor(np.asarray(temps, dtype=np.float64), dtype=s.dtype).reshape(-1, 1)
        p = self.teacher_probs(sample, head, t)  # [K, C]
        z = s / t
        if self.task == "multiclass":
            kl = (torch.xlogy(p, p) - p * F.log_softmax(z, dim=-1)).sum(-1)
        else:
            bce = F.binary_cross_entropy_with_logits(z, p, reduction="none")
            kl = (bce + torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p)).mean(-1)
        return (t[:, 0] ** 2 * kl).double().numpy()

    # ---- update -----------------------------------------------------------------------------

    def update(self, sample: int | None = None, T: float | None = None,
               alpha: float | None = None, head: str | None = None) -> dict:
        """Recompute and redraw; ``None`` keeps a value.

        Returns ``{"sample", "id", "head", "T", "alpha", "teacher_probs", "student_probs",
        "kd", "task", "loss"}``. A ``head`` given explicitly must serve the sample (else
        ``ValueError`` naming the heads that did); when only ``sample`` moves and the current
        head does not serve the new sample, the head switches to one that does (``mm`` first),
        as the dropdown does.
        """
        st = dict(self.state)
        if sample is not None:
            self._check_sample(sample)
            st["sample"] = int(sample)
        if T is not None:
            self._check_T(T)
            st["T"] = float(T)
        if alpha is not None:
            self._check_alpha(alpha)
            st["alpha"] = float(alpha)
        if head is not None:
            self._check_head(head, st["sample"])
            st["head"] = head
        elif st["head"] not in self.heads_serving(st["sample"]):
            st["head"] = self._default_head(st["sample"])
        self.state = st
        i, h = st["sample"], st["head"]
        out = {"sample": i, "id": int(self.ids[i]), "head": h, "T": st["T"],
               "alpha": st["alpha"], **self.terms(i, h, st["T"], st["alpha"])}
        self.last = out
        self._draw(out)
        self._sync_controls()
        self._publish()
        return out

    # ---- drawing ----------------------------------------------------------------------------

    def _true_text(self, i: int) -> tuple[str, set[int]]:
        y = self.y[i]
        if self.task == "multiclass":
            return f"true class {self.class_names[int(y)]}", {int(y)}
        on = [j for j, v in enumerate(y.tolist()) if v > 0.5]
        if self.task == "binary":
            return f"true {self.class_names[0]} = {int(y.reshape(-1)[0] > 0.5)}", set(on)
        names = [self.class_names[j] for j in on]
        txt = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "") if names else "none"
        return f"true labels: {txt}", set(on)

    def _draw(self, out: dict) -> None:
        fig = self.fig
        fig.clear()
        rotated = len(self.class_names) > 6 or max(len(c) for c in self.class_names) > 8
        gs = fig.add_gridspec(2, 2, width_ratios=[1.7, 1.0], left=0.065, right=0.985,
                              top=0.86, bottom=0.25 if rotated else 0.11, wspace=0.22,
                              hspace=0.75)
        ax_p = fig.add_subplot(gs[:, 0])
        ax_l = fig.add_subplot(gs[0, 1])
        ax_c = fig.add_subplot(gs[1, 1])
        i, h, T, alpha = out["sample"], out["head"], out["T"], out["alpha"]
        true_txt, true_idx = self._true_text(i)

        # left: teacher soft targets vs student tempered probabilities, per class
        c = len(self.class_names)
        x = np.arange(c)
        w = 0.38
        teacher_name = "mean of all teacher ensembles" if h == MM else f"{h} teacher ensemble"
        ax_p.bar(x - w / 2, out["teacher_probs"], w, color=_TEACHER_COLOR,
                 label=f"teacher ({teacher_name})")
        ax_p.bar(x + w / 2, out["student_probs"], w, color=_STUDENT_COLOR,
                 label=f"student head {h}")
        for j in sorted(true_idx):
            ax_p.axvspan(j - 0.5, j + 0.5, color=_TRUE_COLOR, alpha=0.12, lw=0)
        if true_idx:
            ax_p.plot([], [], "s", color=_TRUE_COLOR, alpha=0.35,
                      label="true class" if self.task == "multiclass" else "true label (y=1)")
        _tick_labels(ax_p, self.class_names, x, true_idx)
        ax_p.set_xlim(-0.5, c - 0.5)
        ax_p.set_ylim(0, 1.12)
        ax_p.set_ylabel(f"probability at T = {T:.2f}" if self.task == "multiclass"
                        else f"P(label = 1) at T = {T:.2f}")
        ax_p.set_xlabel("class" if self.task == "multiclass" else "label")
        ax_p.set_title(f"sample {i} (id {out['id']}), {true_txt}\nhead {h}: soft targets vs "
                       f"student, T = {T:.2f}", fontsize=10)
        ax_p.legend(fontsize=8, loc="upper right", framealpha=0.85)

        # right top: the loss terms
        names = ["task", "KD", "head loss"]
        vals = [out["task"], out["kd"], out["loss"]]
        bars = ax_l.barh(names, vals, color=["#8c8c8c", _TEACHER_COLOR, "#C44E52"])
        ax_l.invert_yaxis()
        top = max(max(vals), 1e-9)
        for b, v in zip(bars, vals):
            ax_l.text(b.get_width() + 0.02 * top, b.get_y() + b.get_height() / 2, f"{v:.4f}",
                      va="center", fontsize=8)
        ax_l.set_xlim(0, top * 1.35)
        ax_l.set_xlabel("loss")
        task_name = "CE" if self.task == "multiclass" else "BCE"
        ax_l.set_title(f"loss = (1 - {alpha:.2f}) * {task_name} + {alpha:.2f} * KD",
                       fontsize=9)

        # right bottom: KD (and the head loss) against T, current T marked
        lo, hi = min(T_RANGE[0], T), max(T_RANGE[1], T)
        temps = np.linspace(lo, hi, 40)
        kd = self.kd_curve(i, h, temps)
        ax_c.plot(temps, kd, color=_TEACHER_COLOR, label="KD")
        ax_c.plot(temps, (1 - alpha) * out["task"] + alpha * kd, color="#C44E52", ls="--",
                  label="head loss")
        ax_c.axvline(T, color="k", lw=0.8, alpha=0.6)
        ax_c.plot([T], [out["kd"]], "o", color=_TEACHER_COLOR)
        ax_c.plot([T], [out["loss"]], "o", color="#C44E52")
        ax_c.set_xlabel("temperature T")
        ax_c.set_ylabel("loss")
        ax_c.set_title("KD (T^2 * KL) and head loss vs temperature", fontsize=9)
        ax_c.legend(fontsize=7, loc="best")

    # ---- controls ---------------------------------------------------------------------------

    def _head_options(self, sample: int) -> list[tuple[str, str]]:
        return [(f"{h} (multimodal)" if h == MM else h, h) for h in self.heads_serving(sample)]

    def _build_controls(self):
        import ipywidgets as W

        st = self.state
        self._w_sample = W.IntSlider(value=st["sample"], min=0, max=self.n - 1,
                                     description="sample", continuous_update=False)
        self._w_T = W.FloatSlider(value=min(max(st["T"], T_RANGE[0]), T_RANGE[1]),
                                  min=T_RANGE[0], max=T_RANGE[1], step=0.1, description="T",
                                  continuous_update=False)
        self._w_alpha = W.FloatSlider(value=st["alpha"], min=0.0, max=1.0, step=0.05,
                                      description="alpha", continuous_update=False)
        self._w_head = W.Dropdown(options=self._head_options(st["sample"]), value=st["head"],
                                  description="head")
        for w in (self._w_sample, self._w_T, self._w_alpha, self._w_head):
            w.observe(self._on_change, names="value")
        return W.VBox([W.HBox([self._w_sample, self._w_head]),
                       W.HBox([self._w_T, self._w_alpha])])

    def _sync_controls(self) -> None:
        """Show the current state on the widgets without triggering their callbacks."""
        st = self.state
        self._syncing = True
        try:
            self._w_sample.value = st["sample"]
            self._w_head.options = self._head_options(st["sample"])
            self._w_head.value = st["head"]
            if T_RANGE[0] <= st["T"] <= T_RANGE[1]:
                self._w_T.value = st["T"]
            self._w_alpha.value = st["alpha"]
        finally:
            self._syncing = False

    def _on_change(self, change) -> None:
        if self._syncing:
            return
        sample = int(self._w_sample.value)
        head = self._w_head.value
        if head not in self.heads_serving(sample):
            head = None  # the sample moved to one this head does not serve: switch heads
        self.update(sample=sample, T=float(self._w_T.value), alpha=float(self._w_alpha.value),
                    head=head)


# --------------------------------------------------------------------------------------------
# Attribution viewer
# --------------------------------------------------------------------------------------------


class AttributionViewer(_FigureWidget):
    """One explained sample: its modalities, per-modality Shapley bars and IG overlays.

    Parameters
    ----------
    split:
        The explained split (raw inputs, presence, lengths, targets and ids are read from it).
    modality:
        Per method name (e.g. ``"mind"``, ``"no_kd"``), its :class:`ModalityAttribution`. The
        selectable samples are the rows of the first method's attribution, in its order.
    inputs:
        ``inputs[method][modality]``: that method's :class:`InputAttribution` over that
        modality (integrated gradients), or ``None``. A sample or modality without a map is
        drawn as "not explained".
    class_names:
        One name per output.
    kinds:
        Modality name -> kind (``image``, ``sequence``, ``timeseries``, ``tabular``,
        ``tokens``).
    sample:
        The initial index into the selectable rows; by default the first sample whose every
        present modality has an IG map.
    """

    KINDS = ("image", "sequence", "timeseries", "tabular", "tokens")

    def __init__(self, split: "Split", modality: dict[str, "ModalityAttribution"],
                 inputs: dict[str, dict[str, "InputAttribution"]] | None,
                 class_names: list[str], kinds: dict[str, str], sample: int | None = None
                 ) -> None:
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
        self.rows = first.rows.long().cpu()
        self._index = {meth: {int(r): k for k, r in enumerate(a.rows.tolist())}
                       for meth, a in self.modality.items()}
        self._ig_index = {meth: {m: ia.by_row() for m, ia in per.items()}
                          for meth, per in self.inputs.items()}
        self.ig_methods = [meth for meth in self.inputs if self.inputs[meth]] or []
        if sample is None:
            sample = self._first_fully_mapped()
        self._check_sample(sample)
        self.state = {"sample": int(sample),
                      "method": self.ig_methods[0] if self.ig_methods else None}
        self.fig = self._new_figure((3.4 * (len(self.names) + 1) + 0.8, 5.6))
        self.controls = self._build_controls()
        self.last: dict = {}
        self.update()

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
        title_lines = len(self.methods) + 2  # the Shapley panel's title: one line per method
        gs = fig.add_gridspec(2, n + 1, width_ratios=[1.0] * n + [1.15], left=0.06,
                              right=0.985, top=max(0.55, 0.9 - 0.027 * title_lines),
                              bottom=0.14, wspace=0.4, hspace=0.55)
        row = out["row"]
        for j, m in enumerate(self.names):
            ax_raw = fig.add_subplot(gs[0, j])
            ax_ig = fig.add_subplot(gs[1, j])
            self._draw_modality(ax_raw, ax_ig, m, row, method)
        self._draw_shapley(fig.add_subplot(gs[:, n]), out)
        fig.suptitle(f"{self.split.name or 'split'} sample row {row} (id {out['id']}), "
                     f"true: {self._y_text(row)}", fontsize=11)

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
        ax_ig.set_title(f"IG ({method}, head {ia.head}), target "
                        f"{self._class(int(ia.target[k]))}", fontsize=9)
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
                   color=_METHOD_COLORS[q % len(_METHOD_COLORS)])
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


__all__ = ["AttributionViewer", "KDExplorer"]
