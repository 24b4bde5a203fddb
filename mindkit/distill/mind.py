"""The MIND loss (docs/methods.md; our reading of the TMLR 2025 abstract).

For each head k (one per modality and the multimodal head ``mm``), over the samples that head
serves:  ``lambda_k * [(1 - alpha) * L_task(s_k, y) + alpha * KD(s_k, t_k, T)]``.
A unimodal head distils from its modality's teacher ensemble; the multimodal head from the
combination (mean by default) of all ensembles. ``alpha = 0`` is the same student trained
without KD. Every choice (alpha, T, head weights, how ``mm``'s target is built) is a parameter.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, Split
from mindkit.distill.losses import kd_loss, register_loss, task_loss
from mindkit.models.student import MM, StudentOutput
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


def mean_target(per_modality: dict[str, Tensor], weights: dict[str, float] | None = None) -> Tensor:
    """The multimodal head's target: the (weighted) mean of the modality ensembles' probs."""
    names = sorted(per_modality)
    stack = torch.stack([per_modality[m] for m in names])
    w = torch.tensor([1.0 if weights is None else weights[m] for m in names],
                     dtype=stack.dtype, device=stack.device)
    return torch.einsum("m,mbc->bc", w / w.sum(), stack)


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
        self.loss = MindLoss(task, alpha, T, head_weights)
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
