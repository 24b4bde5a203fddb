"""Gradient modulation (OGM-GE, Peng et al., CVPR 2022), as its reference code computes it.

First piece of issue 11: the per-step coefficients and their application to encoder gradients.
The method hook that applies them during training (``after_backward``) and the pooled-bottleneck
variant come with the rest of that issue.

Each modality m has its own logits ``out_m`` (a unimodal head, or its block of a fused head).
Its batch score is ``score_m = sum_i p_m(y_i | x_i)``: the softmax probability of the true class
(multiclass), or for binary/multilabel our reading of "the same spirit", the mean over labels of
the probability given to each label's true value (``p`` where ``y = 1``, ``1 - p`` where
``y = 0``). With two modalities ``rho_a = score_a / score_b``; with more, each score is compared
with the mean of the others' (DESIGN.md section 4 names this choice). A modality with
``rho_m > 1`` dominates and gets ``k_m = 1 - tanh(alpha * rho_m)``; the others keep 1. After
``backward()`` and before the optimiser step, the dominant modality's encoder gradients are
multiplied by ``k_m``; generalisation enhancement adds Gaussian noise with the gradient's own
standard deviation (``grad * k + N(0, std(grad))``).

A detail still to settle with the rest of issue 11: OGM-GE's reference code modulates only the
4-D (convolution weight) gradients of each encoder; :func:`modulate_gradients` scales every
parameter of the encoders it is given, so pass only the parameters to modulate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def modality_scores(logits: dict[str, Tensor], y: Tensor, task: str) -> dict[str, float]:
    """Per modality, the batch score ``sum_i p_m(true | x_i)`` (module docstring)."""
    if not logits:
        raise ValueError("modality_scores needs the logits of at least one modality")
    out = {}
    for m, lg in logits.items():
        if lg.shape[0] != y.shape[0]:
            raise ValueError(f"modality {m!r}: {lg.shape[0]} rows of logits for {y.shape[0]} "
                             "targets")
        lg = lg.detach().float()
        if task == "multiclass":
            p = torch.softmax(lg, -1).gather(1, y.long().view(-1, 1)).squeeze(1)
        else:
            q = torch.sigmoid(lg)
            t = y.float().view_as(q)
            p = (t * q + (1 - t) * (1 - q)).mean(1)
        out[m] = float(p.sum())
    return out


def ogm_coefficients(logits: dict[str, Tensor], y: Tensor, alpha: float, task: str
                     ) -> dict[str, float]:
    """OGM-GE's gradient coefficient per modality for one batch: ``1 - tanh(alpha * rho_m)``
    for a modality whose score exceeds the (mean of the) others', 1 otherwise."""
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    if len(logits) < 2:
        raise ValueError("gradient modulation compares modalities: give at least two")
    scores = modality_scores(logits, y, task)
    coeffs = {}
    for m, s in scores.items():
        others = [v for k, v in scores.items() if k != m]
        ref = sum(others) / len(others)
        rho = s / ref if ref > 0 else float("inf")
        coeffs[m] = 1.0 - float(torch.tanh(torch.tensor(alpha * rho))) if rho > 1 else 1.0
    return coeffs


def modulate_gradients(encoders: dict[str, nn.Module], coeffs: dict[str, float],
                       noise: bool = False, generator: torch.Generator | None = None) -> None:
    """Scale each encoder's parameter gradients by its coefficient, in place; with ``noise``
    (generalisation enhancement) add ``N(0, std(grad))`` to each scaled gradient."""
    unknown = set(coeffs) - set(encoders)
    if unknown:
        raise KeyError(f"coefficients for modalities without an encoder: {sorted(unknown)}")
    for m, k in coeffs.items():
        for p in encoders[m].parameters():
            if p.grad is None:
                continue
            if noise and p.grad.numel() > 1:
                std = p.grad.std().item()
                eps = torch.randn(p.grad.shape, generator=generator, dtype=p.grad.dtype)
                p.grad.mul_(k).add_(eps.to(p.grad.device) * std)
            else:
                p.grad.mul_(k)


__all__ = ["modality_scores", "modulate_gradients", "ogm_coefficients"]
