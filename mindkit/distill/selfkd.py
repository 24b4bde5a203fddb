"""KD for missing modalities: a network distils its own full-modality pass into itself under
random modality dropout (the second seed method's stage 2, docs/methods.md).

Per training batch:

1. **full pass**: the student on every modality each sample has; task loss on it;
2. **dropped pass** (from epoch ``kd_start``): for each sample with at least two modalities,
   ``k`` of them are marked absent, ``k`` drawn with probabilities ``drop_probs`` (entry ``i``:
   drop ``i + 1`` modalities; default 1 or 2 with equal chance, as "1-2 of 3 are dropped at
   random") and capped at the number present minus one, so a sample **never loses every
   modality**; which ones are dropped is uniform. Samples with one modality are not dropped and
   take no part in the KD term;
3. **KD term**: ``kd_loss(dropped logits, full probabilities at T, detached)`` (Hinton KD,
   ``T^2 KL``; Bernoulli KL per label for binary/multilabel), times ``kd_weight``. At ``T = 1``
   its gradient equals that of the authors' soft-label cross-entropy
   ``CE(dropped, softmax(full).detach())`` (the two differ by the teacher's entropy, a constant);
4. optional **bottleneck-token feature KD** (``feature_kd > 0``, bottleneck fusion only): the
   MSE between the dropped pass's pooled bottleneck tokens and the full pass's (detached).

The authors train in two stages (full-modality training with gradient modulation, then a second
run with self-distillation from the best stage-1 model). Here one run does both: ``kd_start``
epochs without the KD term first (``0``, our default, distils from the start), and gradient
modulation (:meth:`mindkit.train.method.Method.use_gradmod`) active between its own epochs.

The drops are drawn from the trainer's seeded generator in ``transform_batch`` (one draw per
sample per batch), so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch
from mindkit.distill.base import MethodContext, StudentSettings, register
from mindkit.distill.gradmod import GradModSettings
from mindkit.distill.losses import kd_loss, task_loss
from mindkit.models.student import MM, SingleHeadStudent
from mindkit.models.unimodal import to_probs
from mindkit.train.method import Method


def drop_modalities(present: dict[str, Tensor], drop_probs: tuple[float, ...],
                    generator: torch.Generator) -> tuple[dict[str, Tensor], Tensor]:
    """A copy of ``present`` with ``k`` of each sample's modalities dropped (module docstring)
    and the ``bool[B]`` mask of the samples that lost at least one. Never drops every modality."""
    names = sorted(present)
    pres = torch.stack([present[m].bool().cpu() for m in names], 1)  # [B, M]
    b, n_mod = pres.shape
    probs = torch.tensor(drop_probs, dtype=torch.float64)
    k = torch.multinomial(probs, b, replacement=True, generator=generator) + 1  # [B]
    n = pres.sum(1)
    k = torch.minimum(k, (n - 1).clamp_min(0))
    # rank the present modalities by a random key; drop the k lowest-ranked
    key = torch.rand(b, n_mod, generator=generator)
    key = torch.where(pres, key, torch.full_like(key, 2.0))  # absent ones never chosen
    order = key.argsort(1).argsort(1)  # rank of each modality within its row
    dropped = pres & (order < k[:, None])
    kept = pres & ~dropped
    dev = next(iter(present.values())).device
    out = {m: kept[:, j].to(dev) for j, m in enumerate(names)}
    return out, dropped.any(1).to(dev)


class ModalityDropoutKD(Method):
    """Self-distillation under random modality dropout (module docstring) for any student whose
    ``mm`` head serves every availability pattern (``SingleHeadStudent``, with the bottleneck or
    a zero-filling concatenation fusion). ``kd=False`` trains the full pass only (the "without
    KD" ablation)."""

    name = "modality_dropout_kd"

    def __init__(self, student: nn.Module, task: str, kd: bool = True, T: float = 1.0,
                 kd_weight: float = 1.0, drop_probs: tuple[float, ...] = (0.5, 0.5),
                 feature_kd: float = 0.0, kd_start: int = 0) -> None:
        super().__init__(student, task)
        if MM not in getattr(student, "head_names", []):
            raise ValueError(f"{type(student).__name__} has no 'mm' head serving every sample; "
                             "use a SingleHeadStudent (fusion='bottleneck' or joint with "
                             "missing='zero')")
        n_mod = len(student.names)
        drop_probs = tuple(float(p) for p in drop_probs)
        if not drop_probs or len(drop_probs) > n_mod - 1 or min(drop_probs) < 0 or \
                sum(drop_probs) <= 0:
            raise ValueError(f"drop_probs gives the chance of dropping 1, 2, ... modalities "
                             f"(at most {n_mod - 1} of {n_mod}, never all): non-negative, not "
                             f"all zero; got {drop_probs}")
        if T <= 0:
            raise ValueError(f"the temperature T must be positive, got {T}")
        if feature_kd and not hasattr(getattr(student, "fusion", None), "last_bottleneck"):
            raise ValueError("feature_kd matches bottleneck tokens; the student has no "
                             "bottleneck fusion (use fusion='bottleneck' or feature_kd=0)")
        self.kd, self.T, self.kd_weight = kd, float(T), float(kd_weight)
        self.drop_probs = tuple(p / sum(drop_probs) for p in drop_probs)
        self.feature_kd, self.kd_start = float(feature_kd), int(kd_start)
        self.epoch = 0
        self._dropped: tuple[dict[str, Tensor], Tensor] | None = None

    def settings(self) -> dict:
        out = {}
        if self.kd:
            out.update(T=self.T, kd_weight=self.kd_weight,
                       drop_probs=",".join(f"{p:g}" for p in self.drop_probs))
            if self.feature_kd:
                out["feature_kd"] = self.feature_kd
            if self.kd_start:
                out["kd_start"] = self.kd_start
        fusion = getattr(self.student, "fusion", None)
        if hasattr(fusion, "absent"):
            out.update(pooling=fusion.pooling, absent=fusion.absent)
        return {**out, **self.gradmod_settings()}

    def kd_active(self) -> bool:
        return self.kd and self.epoch >= self.kd_start

    def transform_batch(self, batch: Batch, generator: torch.Generator) -> Batch:
        self._dropped = (drop_modalities(batch.present, self.drop_probs, generator)
                         if self.kd_active() else None)
        return batch

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        out = self.student.forward_batch(batch)
        self.last_output = out
        logits = out.logits[MM]
        terms = {"task": task_loss(self.task, logits, batch.y)}
        total = terms["task"]
        if self._dropped is not None:
            present, rows = self._dropped
            idx = rows.nonzero().flatten()
            if idx.numel():
                full_tokens = getattr(self.student.fusion, "last_bottleneck", None)
                dropped = self.student(batch.inputs, present, batch.lengths)
                teacher = to_probs(logits.detach().index_select(0, idx), self.task, self.T)
                terms["kd"] = kd_loss(self.task, dropped.logits[MM].index_select(0, idx),
                                      teacher, self.T)
                total = total + self.kd_weight * terms["kd"]
                if self.feature_kd:
                    mine = self.student.fusion.last_bottleneck.index_select(0, idx)
                    target = full_tokens.detach().index_select(0, idx)
                    terms["feature_kd"] = torch.mean((mine - target) ** 2)
                    total = total + self.feature_kd * terms["feature_kd"]
        terms["total"] = total
        return terms

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        super().on_epoch_end(epoch)
        self.epoch += 1
        return {}


__all__ = ["ModalityDropoutKD", "drop_modalities"]


# -- the pooled-bottleneck methods: settings, builder, one registration line each ------------

@dataclass
class PBSettings(StudentSettings):
    """The pooled-bottleneck fusion (mindkit.fusion.bottleneck) and KD for missing
    modalities."""

    bn_tokens: int = 10  # bottleneck tokens (the authors' 10)
    bn_depth: int = 2  # layers per modality stream (the authors' 2)
    bn_heads: int = 2  # attention heads (the authors' 2)
    bn_width: int = 32  # fusion width (the authors' 512 with BERT/DenseNet encoders)
    bn_pool_len: int = 16  # at most this many tokens per modality
    bn_pooling: str = "weighted"  # "weighted" (learned) or "mean"
    bn_absent: str = "exclude"  # "exclude" (ours) or "include" (the authors' code)
    self_kd_T: float = 1.0  # T = 1 reproduces the authors' soft-label cross-entropy
    drop_probs: tuple = (0.5, 0.5)  # chance of dropping 1, 2, ... modalities
    feature_kd: float = 0.0  # weight of the bottleneck-token feature KD
    kd_start: int = 0  # first epoch with the KD term


@dataclass
class PBGMSettings(PBSettings, GradModSettings):
    """The pooled-bottleneck settings and gradient modulation's."""


def self_kd_student(ctx: MethodContext, s: PBSettings, bottleneck: bool) -> SingleHeadStudent:
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    if not bottleneck:  # "without PB": concatenation, absent modality zero-filled with flags
        return SingleHeadStudent(ds.modalities, ds.num_outputs, s.student_size,
                                 fusion="joint", fusion_hidden=s.bn_width, missing="zero")
    kw = dict(n_bottleneck=s.bn_tokens, depth=s.bn_depth, heads=s.bn_heads,
              pool_len=s.bn_pool_len, pooling=s.bn_pooling, absent=s.bn_absent)
    return SingleHeadStudent(ds.modalities, ds.num_outputs, s.student_size,
                             fusion="bottleneck", fusion_hidden=s.bn_width, fusion_kwargs=kw)


def build_self_kd(ctx: MethodContext, s: PBSettings, bottleneck: bool, kd: bool,
                  gm: str | None) -> ModalityDropoutKD:
    n_mod = len(ctx.dataset.modality_names)
    method = ModalityDropoutKD(
        self_kd_student(ctx, s, bottleneck), ctx.dataset.task, kd=kd, T=s.self_kd_T,
        drop_probs=tuple(s.drop_probs)[: max(1, n_mod - 1)],
        feature_kd=s.feature_kd if bottleneck else 0.0, kd_start=s.kd_start)
    return method.use_gradmod(s.gradmod(gm), ctx.config.seed) if gm else method


register("pb_kd_gm", partial(build_self_kd, bottleneck=True, kd=True, gm="ogm"), PBGMSettings,
         teachers=False, doc="Pooled-bottleneck fusion + KD for missing modalities + OGM-GE "
         "gradient modulation (score ratios, each modality against the mean of the others).")
register("pb_kd_gm_weights", partial(build_self_kd, bottleneck=True, kd=True, gm="pb"),
         PBGMSettings, teachers=False, doc="Pooled bottleneck + KD + gradient modulation with "
         "the authors' coefficients 1 - w_m / sum(w) from the pooling weights.")
register("pb_kd", partial(build_self_kd, bottleneck=True, kd=True, gm=None), PBSettings,
         teachers=False, doc="Pooled bottleneck + KD for missing modalities, no modulation "
         "(the 'without GM' ablation).")
register("pb_gm", partial(build_self_kd, bottleneck=True, kd=False, gm="ogm"), PBGMSettings,
         teachers=False, doc="Pooled bottleneck + gradient modulation, no KD (the 'without "
         "KD' ablation).")
register("pb", partial(build_self_kd, bottleneck=True, kd=False, gm=None), PBSettings,
         teachers=False, doc="Pooled bottleneck alone (no KD, no modulation).")
register("concat_kd_gm", partial(build_self_kd, bottleneck=False, kd=True, gm="ogm"),
         PBGMSettings, teachers=False, doc="Concatenation fusion (absent modality zero-filled, "
         "presence flags) + KD + gradient modulation (the 'without PB' ablation).")
