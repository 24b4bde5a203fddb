"""MCKD / MetaKD: meta-learned cross-modal knowledge distillation (Wang et al., 2024), as the
authors' reference code computes it (GitHub ``billhhh/MetaKD``: ``DualNet.py``, ``train.py``;
docs/methods.md). Teacher-free: every modality of one student teaches every other.

The student is :class:`mindkit.models.mckd.MCKDStudent` (one encoder per modality, features
projected to one width, a missing modality's feature filled with the mean of the present ones,
concatenation, a head) with a learnable vector ``w``, importance ``softmax(w)``. Training
alternates two steps.

**Train step** (every batch): each sample keeps a random non-empty subset of the modalities it
has (:func:`sample_subsets`); loss = task loss + ``lambda_kd`` (0.1, the reference's
``kdLoss_wt``) times :func:`cross_modal_kd`, the sum over ordered pairs ``(i, j)``, ``i != j``,
both kept, of ``(softmax(w)_i / softmax(w)_j).detach() * L1(feat_i.detach(), feat_j)``: every
present modality teaches every other, with reciprocal weights for the two directions of a pair.
The L1 is the mean absolute difference over the feature entries and the rows where both are
present (the reference takes the per-sample mean over the feature map, sums the pairs and
averages over the batch; its subset is the same for every row of a batch, so the two agree).
``w`` receives no gradient here and is left out of the main optimizer
(:meth:`MCKD.extra_optimizers`).

**Meta step** (every ``meta_every`` train steps, :meth:`MCKD.held_out_step`): on a batch of the
meta-validation split, each modality's feature is scaled by ``softmax(w)`` before the fusion
(``meta_scale="softmax"``, the reference; ``"relative"`` scales by ``M softmax(w)`` instead, so
equal importances leave the features as the head sees them in training), the task loss is
differentiated with respect to ``w`` only (``torch.autograd.grad``: first-order, nothing
accumulates in the model's gradients) and ``w`` alone takes a step of its own Adam (lr 1e-2,
weight decay 5e-4, the reference's). The model's weights are never changed by a meta step.

**The meta-validation split** is carved from TRAIN in :meth:`MCKD.prepare`: a seeded share
``meta_share`` (default 0.1) of the training samples that have every modality, stratified by
label (multiclass; binary by its label; multilabel at random), or of all training samples when
none has every modality (:func:`carve_meta_split`). The reference's meta-validation images
have every MRI modality and its meta step uses all of them. Those samples are removed from the
rows the train step sees; their ids are kept in ``MCKD.meta_ids``. **The validation and test
splits are never used** by either step (validation only selects the epoch, as for every
method).

Choices where the reference's segmentation code has no analogue, or where we differ:

- *subsets*: the reference draws one subset per forward call (``k`` kept uniform in ``1..4``,
  then ``k`` at random); here each sample is drawn separately: with probability ``drop_rate``
  a sample with ``n >= 2`` modalities keeps ``k`` of them, ``k`` uniform in ``1..n-1``, chosen
  at random; otherwise it keeps all. ``drop_rate = (n - 1) / n`` (0.5 for two modalities, 0.75
  for the reference's four) reproduces the reference's distribution. The authors train with all
  modalities first and advise a low dropout rate raised over time: ``warmup_epochs`` epochs
  with every modality, then the rate rises linearly to ``drop_rate`` over ``ramp_epochs``.
- *meta step cadence*: the reference takes 20 single-sample meta batches every 100 (later 500)
  iterations of 80k-115k; ours takes one batch of the training batch size every
  ``meta_every`` steps, since our runs are a few hundred steps long.
- *meta forward in eval mode* (no dropout; batch-norm statistics neither used from the batch
  nor updated): the reference leaves its network in training mode, with instance norm, which
  has no running statistics; our image encoders' batch norm would otherwise be moved by the
  meta split.
- *the fused head* (concatenation, hidden layer, linear head) stands in for the reference's
  segmentation decoder; one encoder per modality with a projection for its shared encoder.

The importances after every meta step are logged (:meth:`MCKD.importance_frame`: ``step``,
``epoch``, ``meta_loss``, ``importance/<m>``; the first row, step 0, is the initial ``w``) and
:func:`mindkit.distill.runner.run_method` saves them beside the checkpoint
(``<checkpoint>.mckd.csv``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, Split
from mindkit.distill.base import MethodContext, StudentSettings, register
from mindkit.distill.losses import task_loss
from mindkit.models.mckd import SCALES, MCKDStudent, fill_missing
from mindkit.models.student import MM
from mindkit.train.method import Method


def sample_subsets(present: dict[str, Tensor], drop_rate: float,
                   generator: torch.Generator) -> dict[str, Tensor]:
    """A copy of ``present`` where each sample with ``n >= 2`` modalities, with probability
    ``drop_rate``, keeps ``k`` of them (``k`` uniform in ``1..n-1``, which ones uniform), and
    otherwise keeps all. A sample never loses its last modality; absent ones stay absent."""
    if not 0.0 <= drop_rate <= 1.0:
        raise ValueError(f"drop_rate must lie in [0, 1], got {drop_rate}")
    names = sorted(present)
    pres = torch.stack([present[m].bool().cpu() for m in names], 1)  # [B, M]
    b, n_mod = pres.shape
    n = pres.sum(1)
    hit = (torch.rand(b, generator=generator) < drop_rate) & (n >= 2)
    k = 1 + (torch.rand(b, generator=generator) * (n - 1).clamp_min(1)).long()
    k = torch.where(hit, torch.minimum(k, (n - 1).clamp_min(1)), n)
    key = torch.rand(b, n_mod, generator=generator)
    key = torch.where(pres, key, torch.full_like(key, 2.0))  # absent ones ranked last
    rank = key.argsort(1).argsort(1)
    kept = pres & (rank < k[:, None])
    dev = present[names[0]].device
    return {m: kept[:, j].to(dev) for j, m in enumerate(names)}


def cross_modal_kd(features: dict[str, Tensor], present: dict[str, Tensor],
                   importance: Tensor, names: list[str]) -> Tensor | None:
    """``sum over ordered pairs (i, j), i != j, of (imp_i / imp_j).detach() *
    mean|feat_i.detach() - feat_j|`` over the rows where both are present (module docstring);
    ``importance`` in ``names`` order. ``None`` when no row has two modalities."""
    imp = importance.detach()
    total = None
    for i, a in enumerate(names):
        for j, c in enumerate(names):
            if i == j:
                continue
            idx = (present[a].bool() & present[c].bool()).nonzero().flatten()
            if not idx.numel():
                continue
            teacher = features[a].detach().index_select(0, idx)
            student = features[c].index_select(0, idx)
            term = (imp[i] / imp[j]) * (teacher - student).abs().mean()
            total = term if total is None else total + term
    return total


def carve_meta_split(train: Split, share: float, seed: int, task: str) -> Tensor:
    """``bool[len(train)]``: the meta-validation rows (module docstring), drawn with their own
    generator seeded by ``seed``; the same arguments always give the same rows."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"meta_share must lie in (0, 1), got {share}")
    n = len(train)
    # drawn on the CPU (the generator is a CPU one), returned on the split's device
    pres = torch.stack([train.present[m].cpu() for m in train.modalities], 1)
    complete = pres.all(1)
    pool = complete.nonzero().flatten() if bool(complete.any()) else torch.arange(n)
    y = train.y.cpu().index_select(0, pool)
    if task == "multiclass":
        labels = y.long()
    elif task == "binary":
        labels = y.reshape(len(pool), -1)[:, 0].round().long()
    else:
        labels = torch.zeros(len(pool), dtype=torch.long)
    gen = torch.Generator().manual_seed(int(seed))
    chosen = []
    for c in labels.unique(sorted=True).tolist():
        rows = pool[labels == c]
        k = int(math.floor(share * len(rows) + 0.5))
        chosen.append(rows[torch.randperm(len(rows), generator=gen)[:k]])
    idx = torch.cat(chosen) if chosen else pool[:0]
    if not idx.numel() and len(pool):
        idx = pool[torch.randperm(len(pool), generator=gen)[:1]]
    if not idx.numel() or idx.numel() >= n:
        raise ValueError(f"cannot carve a meta-validation split of share {share} from the "
                         f"{n} training samples ({len(pool)} usable): raise meta_share or use "
                         "more training data")
    mask = torch.zeros(n, dtype=torch.bool)
    mask[idx] = True
    return mask.to(train.y.device)


class MCKD(Method):
    """Meta-learned cross-modal KD (module docstring) for an :class:`MCKDStudent`.

    ``lambda_kd``: weight of the cross-modal KD term (0.1); ``drop_rate``: chance that a sample
    loses at least one modality in a train step, reached after ``warmup_epochs`` full-modality
    epochs and a linear rise over ``ramp_epochs``; ``meta_every``: train steps between meta
    steps (0: no meta step, ``w`` stays at its initial value); ``meta_share``: share of the
    complete training samples carved out as the meta-validation split; ``meta_lr`` and
    ``meta_weight_decay``: ``w``'s Adam; ``meta_scale``: ``"softmax"`` or ``"relative"``;
    ``seed``: of the meta split. After :meth:`prepare`, ``meta_ids`` holds the sample ids of
    the meta split (never validation or test samples).
    """

    name = "mckd"

    def __init__(self, student: MCKDStudent, task: str, lambda_kd: float = 0.1,
                 drop_rate: float = 0.5, warmup_epochs: int = 0, ramp_epochs: int = 0,
                 meta_every: int = 10, meta_share: float = 0.1, meta_lr: float = 1e-2,
                 meta_weight_decay: float = 5e-4, meta_scale: str = "softmax",
                 seed: int = 0) -> None:
        super().__init__(student, task)
        if not isinstance(getattr(student, "w", None), nn.Parameter) or \
                not hasattr(student, "importance"):
            raise TypeError(f"MCKD trains an MCKDStudent (importance vector w, shared-width "
                            f"features); got {type(student).__name__}")
        if lambda_kd < 0:
            raise ValueError(f"lambda_kd must be non-negative, got {lambda_kd}")
        if not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"drop_rate must lie in [0, 1], got {drop_rate}")
        if warmup_epochs < 0 or ramp_epochs < 0 or meta_every < 0:
            raise ValueError("warmup_epochs, ramp_epochs and meta_every must be non-negative")
        if not 0.0 < meta_share < 1.0:
            raise ValueError(f"meta_share must lie in (0, 1), got {meta_share}")
        if meta_scale not in SCALES:
            raise ValueError(f"unknown meta_scale {meta_scale!r}; use one of {SCALES}")
        self.lambda_kd, self.drop_rate = float(lambda_kd), float(drop_rate)
        self.warmup_epochs, self.ramp_epochs = int(warmup_epochs), int(ramp_epochs)
        self.held_out_every = self.meta_every = int(meta_every)
        self.meta_share, self.meta_lr = float(meta_share), float(meta_lr)
        self.meta_weight_decay, self.meta_scale = float(meta_weight_decay), meta_scale
        self.seed = int(seed)
        self.meta_opt = torch.optim.Adam([student.w], lr=self.meta_lr,
                                         weight_decay=self.meta_weight_decay)
        self.meta_ids: list[int] = []
        self.log: list[dict] = []
        self.epoch = 0
        self.step = 0

    def settings(self) -> dict:
        return {"lambda_kd": self.lambda_kd, "drop_rate": self.drop_rate,
                "warmup_epochs": self.warmup_epochs, "ramp_epochs": self.ramp_epochs,
                "meta_every": self.meta_every, "meta_share": self.meta_share,
                "meta_lr": self.meta_lr, "meta_weight_decay": self.meta_weight_decay,
                "meta_scale": self.meta_scale, "meta_split": "train",
                **self.gradmod_settings()}

    def current_drop_rate(self, epoch: int | None = None) -> float:
        """The drop rate of ``epoch`` (default: the current one): 0 during the warm-up, then a
        linear rise over ``ramp_epochs`` to ``drop_rate``."""
        e = self.epoch if epoch is None else epoch
        if e < self.warmup_epochs:
            return 0.0
        if self.ramp_epochs:
            return self.drop_rate * min(1.0, (e - self.warmup_epochs + 1) / self.ramp_epochs)
        return self.drop_rate

    def _record(self, meta_loss: float) -> None:
        imp = self.student.importances()
        self.log.append({"step": self.step, "epoch": self.epoch, "meta_loss": meta_loss,
                         **{f"importance/{m}": v for m, v in imp.items()}})

    def importance_frame(self):
        """The importances after each meta step (the first row: the initial ``w``)."""
        import pandas as pd

        return pd.DataFrame(self.log)

    def step_logs(self) -> dict:
        return {**super().step_logs(), "mckd": self.importance_frame()}

    # -- hooks -------------------------------------------------------------------------------
    def prepare(self, train: Split) -> Split:
        self.epoch, self.step, self.log = 0, 0, []
        self._record(math.nan)
        if self.meta_every <= 0:
            self.meta_ids, self.held_out_split = [], None
            return train
        mask = carve_meta_split(train, self.meta_share, self.seed, self.task)
        self.meta_ids = [int(i) for i in train.ids[mask].tolist()]
        self.held_out_split = train.subset(mask, name=f"{train.name}:meta")
        return train.subset(~mask, name=train.name)

    def transform_batch(self, batch: Batch, generator: torch.Generator) -> Batch:
        rate = self.current_drop_rate()
        if rate <= 0:
            return batch
        return replace(batch, present=sample_subsets(batch.present, rate, generator))

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        self.step += 1
        out = self.student.forward_batch(batch)
        self.last_output = out
        terms = {"task": task_loss(self.task, out.logits[MM], batch.y)}
        total = terms["task"]
        kd = cross_modal_kd(out.features, batch.present, self.student.importance(),
                            self.student.names)
        if kd is not None:
            terms["kd"] = kd
            total = total + self.lambda_kd * kd
        terms["total"] = total
        return terms

    def extra_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.meta_opt]

    def held_out_step(self, batch: Batch) -> dict[str, float]:
        w = self.student.w
        was = self.student.training
        self.student.eval()
        try:
            out = self.student.forward_batch(batch, scale=self.meta_scale)
            loss = task_loss(self.task, out.logits[MM], batch.y)
            (grad,) = torch.autograd.grad(loss, [w])
        finally:
            self.student.train(was)
        self.meta_opt.zero_grad(set_to_none=True)
        w.grad = grad
        self.meta_opt.step()
        w.grad = None
        value = float(loss.detach())
        self._record(value)
        return {"meta_loss": value}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        super().on_epoch_end(epoch)
        rec = {"drop_rate": self.current_drop_rate(),
               **{f"importance/{m}": v for m, v in self.student.importances().items()}}
        self.epoch += 1
        return rec


__all__ = ["MCKD", "MCKDStudent", "carve_meta_split", "cross_modal_kd", "fill_missing",
           "sample_subsets"]


@dataclass
class MCKDSettings(StudentSettings):
    """MCKD's settings (the reference code's values where it has one)."""

    mckd_lambda_kd: float = 0.1  # weight of the cross-modal feature KD (the reference's 0.1)
    mckd_drop_rate: float = 0.5  # chance a sample loses a modality ((M-1)/M: the reference)
    mckd_warmup_epochs: int = 1  # full-modality epochs first (the authors' advice)
    mckd_ramp_epochs: int = 2  # then the drop rate rises linearly over these epochs
    mckd_meta_every: int = 10  # train steps between meta steps on w (0: none)
    mckd_meta_share: float = 0.1  # share of the complete training samples kept for meta steps
    mckd_meta_lr: float = 1e-2  # Adam on w (the reference's lr 1e-2, weight decay 5e-4)
    mckd_meta_scale: str = "softmax"  # "softmax" (reference) or "relative" (M softmax(w))
    mckd_width: int = 32  # shared feature width
    mckd_hidden: int = 32  # hidden layer after the concatenation


def build_mckd(ctx: MethodContext, s: MCKDSettings) -> MCKD:
    """MCKD / MetaKD: every present modality distils its features into every other (L1,
    weighted by learned importance ratios), random modality subsets, importances softmax(w)
    meta-learned on a split carved from train (mindkit.distill.mckd)."""
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = MCKDStudent(ds.modalities, ds.num_outputs, s.student_size,
                          width=s.mckd_width, hidden=s.mckd_hidden)
    return MCKD(student, ds.task, lambda_kd=s.mckd_lambda_kd, drop_rate=s.mckd_drop_rate,
                warmup_epochs=s.mckd_warmup_epochs, ramp_epochs=s.mckd_ramp_epochs,
                meta_every=s.mckd_meta_every, meta_share=s.mckd_meta_share,
                meta_lr=s.mckd_meta_lr, meta_scale=s.mckd_meta_scale, seed=ctx.config.seed)


register("mckd", build_mckd, MCKDSettings, teachers=False,
         doc="MCKD / MetaKD: every present modality distils its features into every other "
         "(L1, weighted by learned importance ratios), random modality subsets, importances "
         "softmax(w) meta-learned on a split carved from train (mindkit.distill.mckd).")
