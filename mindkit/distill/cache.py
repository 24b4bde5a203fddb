"""Teacher outputs, computed once per split and reused every epoch.

Teachers are frozen, so their logits on a split never change during distillation. The cache
holds each ensemble's member logits for the samples that have its modality (other rows stay
NaN and are never read: the student's head masks exclude them) and turns them into soft
targets at a temperature once, so a training step only gathers rows by index.

Teacher sources (what a distillation method distils from) share one call,
``soft_targets(split, task, T) -> {head: [N, C] probabilities}``: :class:`EnsembleTargets`
(unimodal teacher ensembles) and :class:`ModelTargets` (one multimodal teacher model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mindkit.data.base import Split
from mindkit.distill.mind import mean_target
from mindkit.models.student import MM
from mindkit.models.unimodal import TeacherEnsemble, combine_probs, to_probs


@dataclass
class TeacherCache:
    task: str
    member_logits: dict[str, Tensor]  # modality -> [M, N, C], NaN where the modality is absent
    present: dict[str, Tensor]  # modality -> bool[N]
    weights: dict[str, Tensor]  # modality -> [M]

    @classmethod
    @torch.no_grad()
    def build(cls, ensembles: dict[str, TeacherEnsemble], split: Split, task: str,
              batch_size: int = 512) -> "TeacherCache":
        logits, present, weights = {}, {}, {}
        for m, ens in sorted(ensembles.items()):
            if m not in split.inputs:
                raise KeyError(f"no modality {m!r} in split {split.name!r} for its teachers")
            ens.eval()
            p = split.present[m]
            idx = p.nonzero().flatten()
            n_out = None
            parts = []
            for start in range(0, idx.numel(), batch_size):
                i = idx[start : start + batch_size]
                x = split.inputs[m][i]
                lens = split.lengths[m][i] if m in split.lengths else None
                parts.append(ens(x, lens))
            if parts:
                got = torch.cat(parts, dim=1)
                n_out = got.shape[-1]
            else:
                n_out = ens.members[0].num_outputs
            full = torch.full((len(ens.members), len(split), n_out), float("nan"))
            if parts:
                full[:, idx] = got
            logits[m], present[m], weights[m] = full, p.clone(), ens.weights.clone()
        return cls(task, logits, present, weights)

    def soft_targets(self, T: float, mm_weights: dict[str, float] | None = None
                     ) -> dict[str, Tensor]:
        """Per head, the teacher probabilities ``[N, C]`` at temperature ``T``.

        The multimodal head's target is the mean of the modality ensembles' probabilities
        (``mm_weights`` weight it); it is defined where every modality is present.
        """
        out = {m: combine_probs(lg, self.task, T, self.weights[m])
               for m, lg in self.member_logits.items()}
        out[MM] = mean_target(out, mm_weights)
        return out


class EnsembleTargets:
    """A teacher source: frozen unimodal teacher ensembles, one per modality.

    ``combine="per_head"`` (MIND): each modality's head distils from its modality's ensemble and
    the multimodal head from the (``mm_weights``-weighted) mean of all ensembles.
    ``combine="present_mean"`` (a single-head student): one target per sample, named ``mm``,
    the mean of the ensembles of the modalities that sample has.
    Outputs are computed once per split (:class:`TeacherCache`).
    """

    COMBINE = ("per_head", "present_mean")

    def __init__(self, ensembles: dict[str, TeacherEnsemble], combine: str = "per_head",
                 mm_weights: dict[str, float] | None = None) -> None:
        if combine not in self.COMBINE:
            raise ValueError(f"unknown combine {combine!r}; use one of {self.COMBINE}")
        if not ensembles:
            raise ValueError("EnsembleTargets needs at least one teacher ensemble")
        self.ensembles, self.combine, self.mm_weights = dict(ensembles), combine, mm_weights

    def modules(self) -> list[TeacherEnsemble]:
        return list(self.ensembles.values())

    def soft_targets(self, split: Split, task: str, T: float) -> dict[str, Tensor]:
        soft = TeacherCache.build(self.ensembles, split, task).soft_targets(T, self.mm_weights)
        if self.combine == "per_head":
            return soft
        per_mod = torch.stack([soft[m] for m in sorted(self.ensembles)])  # NaN where absent
        return {MM: per_mod.nanmean(0)}


class ModelTargets:
    """A teacher source: a trained (multimodal, multi-head) model, distilled head by head; each
    head's target is the teacher's same head at temperature ``T``."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()

    def modules(self) -> list[torch.nn.Module]:
        return [self.model]

    @torch.no_grad()
    def soft_targets(self, split: Split, task: str, T: float) -> dict[str, Tensor]:
        from mindkit.models.predict import predict_student

        out = predict_student(self.model, split)
        return {h: to_probs(v, task, T) for h, v in out.logits.items()}
