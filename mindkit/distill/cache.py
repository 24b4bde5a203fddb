"""Teacher outputs, computed once per split and reused every epoch.

Teachers are frozen, so their logits on a split never change during distillation. The cache
holds each ensemble's member logits for the samples that have its modality (other rows stay
NaN and are never read: the student's head masks exclude them) and turns them into soft
targets at a temperature once, so a training step only gathers rows by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mindkit.data.base import Split
from mindkit.distill.mind import mean_target
from mindkit.models.student import MM
from mindkit.models.unimodal import TeacherEnsemble, combine_probs


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
