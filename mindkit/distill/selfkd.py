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

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch
from mindkit.distill.losses import kd_loss, task_loss
from mindkit.models.student import MM
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
