"""The teachers as one multimodal model: late fusion of the per-modality ensembles.

:class:`TeacherLateFusion` serves each sample with the mean of the probabilities of the
ensembles of the modalities it has, so it copes with missing modalities by its own rule and can
go through every evaluation a student goes through (per-head scores, robustness curves,
calibration). It is the reference "what the teachers would do" model, and a late-fusion model in
MultiBench's sense (the reference of its effective robustness).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch
from mindkit.models.student import StudentOutput, check_inputs
from mindkit.models.unimodal import TeacherEnsemble, to_probs

_EPS = 1e-7


def probs_to_logits(probs: Tensor, task: str) -> Tensor:
    """Logits whose :func:`to_probs` gives back ``probs`` (clamped away from 0 and 1 by
    ``1e-7``): log-probabilities for multiclass, log-odds per label otherwise."""
    p = probs.clamp(_EPS, 1 - _EPS)
    if task == "multiclass":
        return p.log()
    return p.log() - (1 - p).log()


class TeacherLateFusion(nn.Module):
    """Frozen per-modality ensembles combined late: one head per modality (its ensemble), and a
    routed prediction that is the mean of the present modalities' ensemble probabilities.

    It has no multimodal head; like a student it marks which rows each head served.
    """

    def __init__(self, ensembles: dict[str, TeacherEnsemble], task: str) -> None:
        super().__init__()
        if not ensembles:
            raise ValueError("TeacherLateFusion needs at least one ensemble")
        bad = [m for m, e in ensembles.items() if e.modality != m]
        if bad:
            raise ValueError(f"ensembles keyed by the wrong modality: {bad}")
        self.names = sorted(ensembles)
        self.ensembles = nn.ModuleDict({m: ensembles[m] for m in self.names})
        self.specs = {m: ensembles[m].members[0].spec for m in self.names}
        self.num_outputs = ensembles[self.names[0]].members[0].num_outputs
        self.task = task
        self.multimodal_head = False

    @property
    def head_names(self) -> list[str]:
        return list(self.names)

    def train(self, mode: bool = True) -> "TeacherLateFusion":
        return super().train(False)  # frozen teachers stay in eval mode

    @torch.no_grad()
    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                lengths: dict[str, Tensor] | None = None) -> StudentOutput:
        lengths = lengths or {}
        check_inputs(self, inputs, present)
        b = next(iter(present.values())).shape[0]
        logits, masks = {}, {}
        for m in self.names:
            p = present[m].to(torch.bool)
            idx = p.nonzero().flatten()
            out = torch.zeros(b, self.num_outputs, device=p.device)
            if idx.numel():
                lens = lengths[m].index_select(0, idx) if m in lengths else None
                probs = self.ensembles[m].predict_proba(inputs[m].index_select(0, idx), lens,
                                                        self.task)
                out = out.index_copy(0, idx, probs_to_logits(probs, self.task).float())
            logits[m], masks[m] = out, p
        return StudentOutput(logits, masks)

    def forward_batch(self, batch: Batch) -> StudentOutput:
        return self(batch.inputs, batch.present, batch.lengths)

    def route(self, out: StudentOutput, task: str, rule: str = "mean_present"
              ) -> tuple[Tensor, list[str]]:
        """The mean of the present modalities' ensemble probabilities, and which served."""
        if task != self.task:
            raise ValueError(f"this model was built for task {self.task!r}, not {task!r}")
        pres = torch.stack([out.mask[m] for m in self.names], 1)
        if (pres.sum(1) == 0).any():
            raise ValueError("a sample has no modality present; the teachers cannot predict it")
        probs = torch.stack([to_probs(out.logits[m], task) for m in self.names], 1)
        w = pres.to(probs.dtype).unsqueeze(-1)
        mean = (probs * w).sum(1) / w.sum(1)
        served = ["+".join(m for m, on in zip(self.names, row) if on) for row in pres.tolist()]
        return mean, served


__all__ = ["TeacherLateFusion", "probs_to_logits"]
