"""The MIND loss (DESIGN.md section 4; our reading of the TMLR 2025 abstract).

For each head k (one per modality and the multimodal head ``mm``), over the samples that head
serves:  ``lambda_k * [(1 - alpha) * L_task(s_k, y) + alpha * KD(s_k, t_k, T)]``.
A unimodal head distils from its modality's teacher ensemble; the multimodal head from the
combination (mean by default) of all ensembles. ``alpha = 0`` is the same student trained
without KD. Every choice (alpha, T, head weights, how ``mm``'s target is built) is a parameter.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mindkit.distill.losses import kd_loss, register_loss, task_loss
from mindkit.models.student import MM, StudentOutput


def modality_informed_weights(scores: dict[str, float], mode: str = "proportional",
                              mm_weight: float = 1.0) -> dict[str, float]:
    """Head weights from each modality's teacher validation score.

    ``proportional``: lambda_m proportional to the score (trust the more informative
    modality's head more); ``inverse``: proportional to 1/score (lift the weaker modality;
    balancing); ``uniform``: all 1. Unimodal weights are scaled to average 1, and the
    multimodal head gets ``mm_weight``. This mapping is our reading of "modality-informed";
    the paper's exact rule is not at hand.
    """
    if mode not in ("proportional", "inverse", "uniform"):
        raise ValueError(f"unknown weighting mode {mode!r}; use proportional, inverse or uniform")
    bad = {m: s for m, s in scores.items() if not s > 0}
    if bad:
        raise ValueError(f"teacher scores must be positive to weight heads, got {bad}")
    raw = {m: (s if mode == "proportional" else 1.0 / s if mode == "inverse" else 1.0)
           for m, s in scores.items()}
    mean = sum(raw.values()) / len(raw)
    out = {m: v / mean for m, v in raw.items()}
    out[MM] = float(mm_weight)
    return out


@register_loss("mind")
class MindLoss:
    """Callable: ``loss(out, y, targets) -> {"total", "task/<head>", "kd/<head>", ...}``.

    ``targets`` maps head name -> teacher probabilities ``[B, C]`` at temperature ``T`` (rows a
    head does not serve are ignored). A head with no rows in the batch contributes exactly 0.
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
                terms[f"task/{head}"] = ref.new_zeros(())
                continue
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
    w = torch.tensor([1.0 if weights is None else weights[m] for m in names])
    stack = torch.stack([per_modality[m] for m in names])
    return torch.einsum("m,mbc->bc", (w / w.sum()).to(stack.dtype), stack)
