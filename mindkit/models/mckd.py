"""The MCKD / MetaKD student: one encoder per modality, features projected to one shared width,
a missing modality's feature filled with the mean of the present ones, concatenation, a head.

Trained by :class:`mindkit.distill.mckd.MCKD` (docs/methods.md, "MCKD / MetaKD"). The
authors' reference code (GitHub ``billhhh/MetaKD``, ``DualNet.py``, BraTS segmentation) runs
one shared 3-D encoder over each MRI modality, fills each missing modality's feature map with
the mean of the present modalities' maps, concatenates the four maps along the channels and
decodes them into a segmentation. Here:

- **encoders**: one per modality (``build_encoder(spec, size)``, as the kit's other students),
  since our modalities differ in kind; a ``Linear`` per modality projects each encoder's
  features to ``width`` so every modality's feature has one shape (the reference's shared
  encoder gives that for free). Encoders run only on the rows that have their modality.
- **filling**: a missing modality's feature is the mean of the present modalities' projected
  features of that row (:func:`fill_missing`), never zeros and never its own input. The mean
  is not detached (nor is it in the reference), so it trains the present modalities' encoders.
- **fusion**: concatenation of the ``M`` filled features (the reference's channel-wise
  concatenation), then a hidden layer (``Linear, ReLU, Dropout``) and a linear head: our
  stand-in for the reference's segmentation decoder, which has no analogue in classification.
- **importances**: a learnable vector ``w`` (one entry per modality, initialised uniformly at
  random in ``[0, 1)`` from torch's global generator, i.e. seeded by the caller, as the
  reference's ``torch.rand``); ``importances() = softmax(w)``. ``w`` does not enter a plain
  forward pass (the reference's test pass does not use it either); ``forward(...,
  scale="softmax")`` multiplies each modality's (filled) feature by its importance before the
  concatenation, which is what the meta step differentiates.

Its only head is ``mm`` and serves every sample with at least one modality, like
:class:`mindkit.models.student.SingleHeadStudent`, so every evaluator and router works on it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, ModalitySpec
from mindkit.models.student import MM, StudentOutput, build_encoders, check_inputs
from mindkit.models.types import register_model_type
from mindkit.models.unimodal import spec_from_dict, spec_to_dict, to_probs

SCALES = ("softmax", "relative")


def fill_missing(feats: Tensor, present: Tensor) -> Tensor:
    """``feats [B, M, D]`` with each absent slot (``present bool[B, M]`` False) replaced by the
    mean of that row's present slots. Absent slots are never read (``torch.where``); a row with
    no modality keeps zeros."""
    p = present.to(feats.dtype).unsqueeze(-1)  # [B, M, 1]
    kept = torch.where(present.unsqueeze(-1), feats, feats.new_zeros(()))
    mean = kept.sum(1) / p.sum(1).clamp_min(1.0)  # [B, D]
    return torch.where(present.unsqueeze(-1), feats, mean.unsqueeze(1))


class MCKDStudent(nn.Module):
    """See the module docstring. ``width``: the shared feature width; ``hidden``: the fusion's
    hidden layer. At ``size="xs"``, ``width=hidden=32`` it has about as many parameters as
    MIND's ``xs`` multi-head student (13.5k against 13.8k on avdigits)."""

    def __init__(self, specs: dict[str, ModalitySpec], num_outputs: int, size: str = "xs",
                 archs: dict[str, str] | None = None, width: int = 32, hidden: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if len(specs) < 2:
            raise ValueError("MCKD distils between modalities: it needs at least two")
        archs = dict(archs or {})
        self.names, self.specs, self.encoders = build_encoders(specs, size, archs)
        self.num_outputs = num_outputs
        self.multimodal_head = True
        self.width = int(width)
        self.proj = nn.ModuleDict(
            {m: nn.Linear(self.encoders[m].out_dim, self.width) for m in self.names})
        self.fusion = nn.Sequential(nn.Linear(len(self.names) * self.width, hidden), nn.ReLU(),
                                    nn.Dropout(dropout))
        self.mm_head = nn.Linear(hidden, num_outputs)
        self.w = nn.Parameter(torch.rand(len(self.names)))  # the reference's torch.rand init
        self.config = {
            "type": "MCKDStudent", "specs": {m: spec_to_dict(s) for m, s in specs.items()},
            "num_outputs": num_outputs, "size": size, "archs": archs, "width": self.width,
            "hidden": hidden, "dropout": dropout,
        }

    @property
    def head_names(self) -> list[str]:
        return [MM]

    def importance(self) -> Tensor:
        """``softmax(w)``, in :attr:`names` order (differentiable)."""
        return torch.softmax(self.w, 0)

    def importances(self) -> dict[str, float]:
        """The learned modality importances ``softmax(w)`` by modality name."""
        imp = self.importance().detach().cpu().tolist()
        return dict(zip(self.names, imp))

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                lengths: dict[str, Tensor] | None = None, scale: str | None = None
                ) -> StudentOutput:
        """Logits of the ``mm`` head for every row (masked where no modality is present) and,
        as ``features``, each modality's projected feature ``[B, width]`` (zeros where absent).
        ``scale``: ``None`` (training and test), ``"softmax"`` (each filled feature times
        ``softmax(w)_m``, the reference's meta step) or ``"relative"`` (times ``M softmax(w)_m``,
        so equal importances leave the features as the head sees them in training)."""
        lengths = lengths or {}
        check_inputs(self, inputs, present)
        b = next(iter(present.values())).shape[0]
        dtype = self.mm_head.weight.dtype
        feats, pres = {}, {}
        for m in self.names:
            p = present[m].to(torch.bool)
            idx = p.nonzero().flatten()
            full = torch.zeros(b, self.width, dtype=dtype, device=p.device)
            if idx.numel():
                x = inputs[m].index_select(0, idx)
                lens = lengths[m].index_select(0, idx) if m in lengths else None
                full = full.index_copy(0, idx, self.proj[m](self.encoders[m](x, lens)))
            feats[m], pres[m] = full, p
        stacked = torch.stack([feats[m] for m in self.names], 1)  # [B, M, D]
        mask = torch.stack([pres[m] for m in self.names], 1)  # [B, M]
        slots = fill_missing(stacked, mask)
        if scale is not None:
            if scale not in SCALES:
                raise ValueError(f"unknown importance scaling {scale!r}; use one of {SCALES}")
            imp = self.importance() * (len(self.names) if scale == "relative" else 1.0)
            slots = slots * imp.to(slots.dtype).view(1, -1, 1)
        logits = self.mm_head(self.fusion(slots.flatten(1)))
        return StudentOutput({MM: logits}, {MM: mask.any(1)}, feats)

    def forward_batch(self, batch: Batch, scale: str | None = None) -> StudentOutput:
        return self(batch.inputs, batch.present, batch.lengths, scale=scale)

    def route(self, out: StudentOutput, task: str, rule: str = "mm_else_mean"
              ) -> tuple[Tensor, list[str]]:
        """The single head serves every sample (``rule`` is accepted for a common interface)."""
        if not bool(out.mask[MM].all()):
            raise ValueError("a sample has no modality present; the student cannot predict it")
        return to_probs(out.logits[MM], task), [MM] * out.logits[MM].shape[0]


@register_model_type("MCKDStudent")
def rebuild_mckd_student(kw: dict) -> "MCKDStudent":
    return MCKDStudent(**{**kw, "specs": {m: spec_from_dict(s) for m, s in kw["specs"].items()}})


__all__ = ["SCALES", "MCKDStudent", "fill_missing"]
