"""The KD explorer: T and alpha for one training sample and head, from cached logits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mindkit.common import TASKS
from mindkit.models.student import MM

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from mindkit.data.base import Split
    from mindkit.models.unimodal import TeacherEnsemble



from mindkit.viz.widgets.base import (
    STUDENT_COLOR,
    T_RANGE,
    TEACHER_COLOR,
    TRUE_COLOR,
    FigureWidget,
    tick_labels,
)


class KDExplorer(FigureWidget):
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
        from mindkit.distill.cache import mean_target
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
        ax_p.bar(x - w / 2, out["teacher_probs"], w, color=TEACHER_COLOR,
                 label=f"teacher ({teacher_name})")
        ax_p.bar(x + w / 2, out["student_probs"], w, color=STUDENT_COLOR,
                 label=f"student head {h}")
        for j in sorted(true_idx):
            ax_p.axvspan(j - 0.5, j + 0.5, color=TRUE_COLOR, alpha=0.12, lw=0)
        if true_idx:
            ax_p.plot([], [], "s", color=TRUE_COLOR, alpha=0.35,
                      label="true class" if self.task == "multiclass" else "true label (y=1)")
        tick_labels(ax_p, self.class_names, x, true_idx)
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
        bars = ax_l.barh(names, vals, color=["#8c8c8c", TEACHER_COLOR, "#C44E52"])
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
        ax_c.plot(temps, kd, color=TEACHER_COLOR, label="KD")
        ax_c.plot(temps, (1 - alpha) * out["task"] + alpha * kd, color="#C44E52", ls="--",
                  label="head loss")
        ax_c.axvline(T, color="k", lw=0.8, alpha=0.6)
        ax_c.plot([T], [out["kd"]], "o", color=TEACHER_COLOR)
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


__all__ = ["KDExplorer"]
