"""The MIND loss (docs/methods.md; our reading of the TMLR 2025 abstract).

For each head k (one per modality and the multimodal head ``mm``), over the samples that head
serves:  ``lambda_k * [(1 - alpha) * L_task(s_k, y) + alpha * KD(s_k, t_k, T)]``.
A unimodal head distils from its modality's teacher ensemble; the multimodal head from the
combination (mean by default) of all ensembles. ``alpha = 0`` is the same student trained
without KD. Every choice (alpha, T, head weights, how ``mm``'s target is built) is a parameter.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, MultimodalDataset, Split
from mindkit.distill.base import (
    READS,
    MethodContext,
    Settings,
    StudentSettings,
    register,
)
from mindkit.distill.cache import EnsembleTargets, ModelTargets
from mindkit.distill.gradmod import GradModSettings
from mindkit.distill.losses import get_loss, kd_loss, register_loss, task_loss
from mindkit.distill.runner import run_method
from mindkit.evaluate.heads import validation_score
from mindkit.fusion.modules import freeze_encoders
from mindkit.models.student import MM, MultiHeadStudent, StudentOutput
from mindkit.models.unimodal import TeacherEnsemble
from mindkit.train.method import Method

WEIGHT_MODES = ("uniform", "proportional", "inverse", "softmax", "softmax_inverse", "margin")


def modality_informed_weights(scores: dict[str, float], mode: str = "softmax",
                              mm_weight: float = 1.0, sharpness: float = 0.1,
                              chance: float | None = None) -> dict[str, float]:
    """Head weights ``lambda_m`` from each modality's teacher validation score ``s_m``.

    Our reading of "modality-informed" (the paper's exact rule is not at hand); every mapping
    is scaled so the unimodal weights average 1, and the multimodal head gets ``mm_weight``:

    * ``softmax`` (default): ``lambda_m ~ exp(s_m / sharpness)``: trust the more informative
      modality's head more. With ``sharpness=0.1``, scores 0.70 vs 0.80 give 0.54 vs 1.46;
      a smaller ``sharpness`` is sharper, a large one tends to uniform.
    * ``softmax_inverse``: ``lambda_m ~ exp(-s_m / sharpness)``: lift the weaker modality
      (balancing).
    * ``margin``: ``lambda_m ~ s_m - chance`` (the margin above chance: 0.1 for ten balanced
      classes, 0.5 for AUROC); needs ``chance``.
    * ``proportional`` / ``inverse``: ``lambda_m ~ s_m`` or ``1 / s_m``; nearly flat for
      similar scores (0.70 vs 0.80 give 0.93 vs 1.07), kept for comparison.
    * ``uniform``: all 1.
    """
    if mode not in WEIGHT_MODES:
        raise ValueError(f"unknown weighting mode {mode!r}; use one of {', '.join(WEIGHT_MODES)}")
    if not scores:
        raise ValueError("no teacher scores to weight heads with")
    bad = {m: s for m, s in scores.items() if not s > 0}
    if bad:
        raise ValueError(f"teacher scores must be positive to weight heads, got {bad}")
    if mode in ("softmax", "softmax_inverse") and not sharpness > 0:
        raise ValueError(f"sharpness must be positive, got {sharpness}")
    if mode == "margin":
        if chance is None:
            raise ValueError("mode='margin' needs the chance level of the metric (chance=)")
        low = {m: s for m, s in scores.items() if not s > chance}
        if low:
            raise ValueError(f"teacher scores at or below chance ({chance}) cannot weight heads "
                             f"by their margin: {low}")
    top = max(scores.values())
    raw = {}
    for m, s in scores.items():
        if mode == "proportional":
            raw[m] = s
        elif mode == "inverse":
            raw[m] = 1.0 / s
        elif mode == "softmax":
            raw[m] = math.exp((s - top) / sharpness)
        elif mode == "softmax_inverse":
            raw[m] = math.exp(-(s - top) / sharpness)
        elif mode == "margin":
            raw[m] = s - chance
        else:
            raw[m] = 1.0
    mean = sum(raw.values()) / len(raw)
    out = {m: v / mean for m, v in raw.items()}
    out[MM] = float(mm_weight)
    return out


def chance_level(task: str, num_outputs: int) -> float:
    """The primary metric of an uninformed predictor: 1/C accuracy (multiclass, balanced
    classes assumed) or 0.5 AUROC."""
    return 1.0 / num_outputs if task == "multiclass" else 0.5


def teacher_val_scores(ensembles: dict[str, TeacherEnsemble], dataset: MultimodalDataset
                       ) -> dict[str, float]:
    """Each ensemble's primary metric on the validation samples with its modality."""
    return {m: validation_score(e, dataset["val"], dataset.task) for m, e in ensembles.items()}


def informed_head_weights(mode: str, ensembles: dict[str, TeacherEnsemble] | None,
                          dataset: MultimodalDataset, sharpness: float = 0.1
                          ) -> dict[str, float]:
    """Head weights for ``mode`` (``"uniform"`` gives ``{}``; the other modes of
    :func:`modality_informed_weights` use the ensembles' validation scores)."""
    if mode == "uniform":
        return {}
    if not ensembles:
        raise ValueError(f"head_weights={mode!r} needs teacher ensembles")
    return modality_informed_weights(teacher_val_scores(ensembles, dataset), mode,
                                     sharpness=sharpness,
                                     chance=chance_level(dataset.task, dataset.num_outputs))


@register_loss("mind")
class MindLoss:
    """Callable: ``loss(out, y, targets) -> {"total", "task/<head>", "kd/<head>", ...}``.

    ``targets`` maps head name -> teacher probabilities ``[B, C]`` at temperature ``T`` (rows a
    head does not serve are ignored). A head with no rows in the batch contributes exactly 0
    and logs no term.
    """

    def __init__(self, task: str, alpha: float | dict[str, float] = 0.5, T: float = 2.0,
                 head_weights: dict[str, float] | None = None) -> None:
        alphas = alpha.values() if isinstance(alpha, dict) else [alpha]
        if not all(0.0 <= a <= 1.0 for a in alphas):
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if T <= 0:
            raise ValueError(f"temperature T must be positive, got {T}")
        # a dict gives each head its own alpha (heads it does not name use 0: no KD)
        self.alpha = dict(alpha) if isinstance(alpha, dict) else float(alpha)
        self.task, self.T = task, float(T)
        self.head_weights = dict(head_weights or {})

    def alpha_for(self, head: str) -> float:
        return self.alpha.get(head, 0.0) if isinstance(self.alpha, dict) else self.alpha

    @property
    def uses_kd(self) -> bool:
        return any(a > 0 for a in (self.alpha.values() if isinstance(self.alpha, dict)
                                   else [self.alpha]))

    def __call__(self, out: StudentOutput, y: Tensor,
                 targets: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        if self.uses_kd and targets is None:
            raise ValueError("MIND with alpha > 0 needs teacher targets for every head")
        ref = next(iter(out.logits.values()))
        total = ref.new_zeros(())
        terms: dict[str, Tensor] = {}
        for head, logits in out.logits.items():
            rows = out.mask[head]
            lam = self.head_weights.get(head, 1.0)
            if not bool(rows.any()):
                continue  # no term: the epoch average counts only batches the head served
            s = logits[rows]
            lt = task_loss(self.task, s, y[rows])
            terms[f"task/{head}"] = lt.detach()
            alpha = self.alpha_for(head)
            term = (1 - alpha) * lt
            if alpha > 0:
                if head not in targets:
                    raise KeyError(f"no teacher target for head {head!r}; targets hold "
                                   f"{sorted(targets)}")
                lk = kd_loss(self.task, s, targets[head][rows], self.T)
                terms[f"kd/{head}"] = lk.detach()
                term = term + alpha * lk
            total = total + lam * term
        terms["total"] = total
        return terms



class MindDistiller(Method):
    """MIND as one method object: a (multi-head) student, a frozen teacher source and the
    MIND loss. ``alpha = 0`` is the same student trained without KD.

    ``teacher`` gives per-head soft targets (:class:`mindkit.distill.cache.EnsembleTargets` for
    unimodal teacher ensembles, :class:`~mindkit.distill.cache.ModelTargets` for a multimodal
    teacher); they are computed once in :meth:`prepare`. ``train_on`` names the group of
    training samples used (``"all"``, or ``"paired"`` for the no-unpaired-data ablation).
    """

    name = "mind"

    def __init__(self, student: nn.Module, task: str, teacher=None,
                 alpha: float | dict[str, float] = 0.5, T: float = 2.0,
                 head_weights: dict[str, float] | None = None, train_on: str = "all") -> None:
        super().__init__(student, task)
        self.loss = get_loss("mind")(task, alpha, T, head_weights)
        if self.loss.uses_kd and teacher is None:
            raise ValueError("alpha > 0 needs teachers (teacher ensembles or a target source); "
                             "pass alpha=0 for the no-KD student")
        self.teacher = teacher if self.loss.uses_kd else None
        self.train_on = train_on
        self.targets: dict[str, Tensor] | None = None
        self.cache_s = 0.0

    def teacher_modules(self) -> list[nn.Module]:
        return list(self.teacher.modules()) if self.teacher is not None else []

    def settings(self) -> dict:
        out = {}
        if self.loss.uses_kd:
            a = self.loss.alpha
            out["alpha"] = a if isinstance(a, float) else ",".join(
                f"{h}={v:g}" for h, v in sorted(a.items()))
            out["T"] = self.loss.T
        if self.loss.head_weights and any(v != 1.0 for v in self.loss.head_weights.values()):
            out["head_weights"] = ",".join(f"{h}={v:.3g}"
                                           for h, v in sorted(self.loss.head_weights.items()))
        if self.train_on != "all":
            out["train_on"] = self.train_on
        return {**out, **self.gradmod_settings()}

    def prepare(self, train: Split) -> Split:
        if self.train_on != "all":
            groups = train.groups()
            if self.train_on not in groups:
                raise ValueError(f"train_on={self.train_on!r} is not a sample group; use one "
                                 f"of {sorted(groups)}")
            train = train.subset(groups[self.train_on])
        if self.teacher is not None:
            t0 = time.perf_counter()
            targets = self.teacher.soft_targets(train, self.task, self.loss.T)
            # gathered by batch.idx at every step: on the student's device
            dev = next(self.student.parameters()).device
            self.targets = {h: t.to(dev) for h, t in targets.items()}
            self.cache_s = time.perf_counter() - t0
        return train

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        out = self.student.forward_batch(batch)
        self.last_output = out
        tg = None if self.targets is None else {h: t[batch.idx] for h, t in self.targets.items()}
        return self.loss(out, batch.y, tg)


# -- the MIND methods: settings, builders, one registration line each ------------------------

@dataclass
class MindSettings(StudentSettings):
    """MIND's settings (``no_kd`` shares them: without teachers ``alpha`` and ``T`` are not
    read)."""

    alpha: float = 0.5  # weight of the KD term on each head (1 - alpha: the task loss)
    T: float = 2.0  # distillation temperature
    fusion: str = "joint"  # fusion of the multimodal head (mindkit.fusion)
    ensemble_weighting: str = "uniform"  # teacher ensemble members: "uniform" or "val_score"
    head_weights: str = "uniform"  # head weights: a modality_informed_weights mode
    sharpness: float = 0.1  # of the softmax head-weight modes


@dataclass
class MindGMSettings(MindSettings, GradModSettings):
    """MIND's settings and gradient modulation's."""


def student_for(ctx: MethodContext, s: StudentSettings, fusion: str | None = None,
                size: str | None = None) -> MultiHeadStudent:
    """A multi-head student of the context's dataset, seeded by the training seed."""
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    return MultiHeadStudent(ds.modalities, ds.num_outputs, size or s.student_size,
                            fusion=fusion or s.fusion)


def mind_method(ctx: MethodContext, s: MindSettings, teacher=None, alpha=None, student=None,
                head_weights=None, train_on: str = "all") -> MindDistiller:
    """A MIND method object with settings ``s`` (``teacher=None``: no KD)."""
    if head_weights is None:  # uniform weights need no teachers (nor their store keys)
        head_weights = informed_head_weights(
            s.head_weights, None if s.head_weights == "uniform" else
            ctx.ensembles(weighting=s.ensemble_weighting), ctx.dataset, s.sharpness)
    # without a teacher, alpha and T are unused: not read, so not part of the store key
    return MindDistiller(student if student is not None else student_for(ctx, s),
                         ctx.dataset.task, teacher,
                         (s.alpha if alpha is None else alpha) if teacher else 0.0,
                         s.T if teacher is not None else 1.0, head_weights, train_on)


def all_ensembles(ctx: MethodContext, s: MindSettings, sizes=None) -> EnsembleTargets:
    return EnsembleTargets(ctx.ensembles(sizes, weighting=s.ensemble_weighting))


def build_mind(ctx, s):
    """MIND: multi-head student, KD on every head from the teacher ensembles."""
    return mind_method(ctx, s, all_ensembles(ctx, s))


def build_no_kd(ctx, s):
    """The same multi-head student trained on labels only (alpha = 0)."""
    return mind_method(ctx, s, None)  # the same head weights as MIND's: only KD differs


def build_informed(ctx, s, mode: str):
    return mind_method(ctx, replace_settings(s, head_weights=mode), all_ensembles(ctx, s))


def build_no_unimodal_kd(ctx, s):
    """MIND with KD on the multimodal head only."""
    alpha = {MM: s.alpha, **{m: 0.0 for m in ctx.dataset.modality_names}}
    return mind_method(ctx, s, all_ensembles(ctx, s), alpha=alpha)


def build_single_teacher(ctx, s):
    """Classic KD from the best single teacher per modality (also the 'one teacher instead of
    an ensemble' ablation)."""
    return mind_method(ctx, s, EnsembleTargets(ctx.best_teachers()))


def build_sized(ctx, s, size: str):
    return mind_method(ctx, s, all_ensembles(ctx, s, [size]))


def build_paired_only(ctx, s):
    """MIND trained without the unpaired (single-modality) samples."""
    return mind_method(ctx, s, all_ensembles(ctx, s), train_on="paired")


def build_mm_teacher(ctx, s):
    """A large multi-head multimodal teacher (size m, no KD) distilled head by head into the
    small student."""
    # the teacher is the no-KD student at size m with uniform head weights (a store entry of
    # its own when the context has a store)
    big, _ = run_method("no_kd@student_size=m,head_weights=uniform", ctx)
    return mind_method(ctx, s, ModelTargets(big))


def build_fusion_variant(ctx, s, fusion: str, kd: bool):
    teacher = all_ensembles(ctx, s) if kd else None
    return mind_method(ctx, s, teacher, student=student_for(ctx, s, fusion=fusion))


def build_early(ctx, s, kd: bool):
    """Early fusion: the student's encoders are copied from the teachers of the student's own
    preset and frozen; only the heads and the fusion layer train."""
    same = {}
    for m, nets in ctx.teachers.items():
        match = [n for n in nets if n.size == s.student_size]
        if not match:
            raise ValueError(f"early fusion needs a {m} teacher of the student's size "
                             f"{s.student_size!r}; teachers have {[n.size for n in nets]}")
        same[m] = match[0]
    student = freeze_encoders(student_for(ctx, s, fusion="early"), same)
    return mind_method(ctx, s, all_ensembles(ctx, s) if kd else None, student=student)


def build_gm(ctx, s, kd: bool):
    method = mind_method(ctx, s, all_ensembles(ctx, s) if kd else None)
    return method.use_gradmod(s.gradmod("ogm"), ctx.config.seed)


def replace_settings(s: Settings, **changes) -> Settings:
    """A copy of ``s`` with ``changes``, reading only the fields it copies (so a copy does not
    put every field into the store key)."""
    token = READS.set(None)
    try:
        return dataclasses.replace(s, **changes)
    finally:
        READS.reset(token)


register("mind", build_mind, MindSettings)
register("no_kd", build_no_kd, MindSettings)
register("mind_informed", partial(build_informed, mode="softmax"), MindSettings,
         doc="MIND with head weights from the teachers' validation scores, favouring the more "
         "informative modality (softmax over scores / sharpness).")
register("mind_balanced", partial(build_informed, mode="softmax_inverse"), MindSettings,
         doc="MIND with head weights that lift the weaker modality (softmax over -scores / "
         "sharpness; balancing).")
register("mind_no_unimodal_kd", build_no_unimodal_kd, MindSettings)
register("single_teacher_kd", build_single_teacher, MindSettings)
register("mind_paired_only", build_paired_only, MindSettings)
register("mm_teacher_kd", build_mm_teacher, MindSettings)
register("mind_gm", partial(build_gm, kd=True), MindGMSettings,
         doc="MIND with OGM-GE gradient modulation (scores from its unimodal heads).")
register("no_kd_gm", partial(build_gm, kd=False), MindGMSettings,
         doc="The no-KD multi-head student with OGM-GE gradient modulation.")
register("mind_early", partial(build_early, kd=True), MindSettings,
         doc="MIND with early fusion (frozen pre-trained encoders).")
register("no_kd_early", partial(build_early, kd=False), MindSettings,
         doc="The no-KD student with early fusion (frozen pre-trained encoders).")

# the teacher-size family, one row per method (a search for a method's name finds it here)
for _name, _size in (("mind_size_xs", "xs"), ("mind_size_s", "s"), ("mind_size_m", "m")):
    register(_name, partial(build_sized, size=_size), MindSettings,
             doc=f"MIND with ensembles of {_size} teachers only.")

# the fusion family, one row per method: (name, fusion of the multimodal head, KD)
for _name, _fusion, _kd in (("mind_late", "late", True), ("no_kd_late", "late", False),
                         ("mind_attention", "attention", True),
                         ("no_kd_attention", "attention", False),
                         ("mind_bottleneck", "bottleneck", True),
                         ("no_kd_bottleneck", "bottleneck", False)):
    register(_name, partial(build_fusion_variant, fusion=_fusion, kd=_kd), MindSettings,
             doc=f"MIND with {_fusion} fusion for the multimodal head." if _kd else
             f"The no-KD multi-head student with {_fusion} fusion.")
