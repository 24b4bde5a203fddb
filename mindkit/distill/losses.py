"""Losses in a registry, looked up by name (``get_loss``); composite losses return named terms.

KD primitives take the student's logits and the teacher's *tempered probabilities* (for an
ensemble, the mean of its members' tempered probabilities, :func:`mindkit.models.combine_probs`),
so one function serves a single teacher and an ensemble alike. ``teacher_logits=`` is accepted as
a shortcut for a single teacher.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mindkit.models.unimodal import to_probs
from mindkit.registry import Registry
from mindkit.train.losses import (  # noqa: F401  (task_loss: re-exported)
    binary_cross_entropy,
    cross_entropy,
    task_loss,
)

LOSSES: Registry[Callable] = Registry("loss")
register_loss = LOSSES.register


def get_loss(name: str) -> Callable:
    """The loss registered as ``name``; an unknown name lists the valid ones."""
    return LOSSES.get(name)


def _teacher(task: str, T: float, teacher_probs: Tensor | None,
             teacher_logits: Tensor | None) -> Tensor:
    if (teacher_probs is None) == (teacher_logits is None):
        raise ValueError("give exactly one of teacher_probs= or teacher_logits=")
    if teacher_probs is None:
        return to_probs(teacher_logits, task, T)
    return teacher_probs


# the task losses live in mindkit.train.losses (the training loop's Supervised method uses them);
# they are registered here under their names
register_loss("ce")(cross_entropy)
register_loss("bce")(binary_cross_entropy)


@register_loss("kd_softmax")
def kd_softmax(student_logits: Tensor, teacher_probs: Tensor | None = None, T: float = 1.0,
               teacher_logits: Tensor | None = None) -> Tensor:
    """Hinton KD for multiclass: ``T^2 * KL(p_t || softmax(s/T))``, batch mean.

    ``p_t`` are the teacher's probabilities at temperature T (a softmax over classes).
    """
    p = _teacher("multiclass", T, teacher_probs, teacher_logits)
    log_q = F.log_softmax(student_logits / T, dim=-1)
    kl = (torch.xlogy(p, p) - p * log_q).sum(dim=-1)
    return (T * T) * kl.mean()


@register_loss("kd_bernoulli")
def kd_bernoulli(student_logits: Tensor, teacher_probs: Tensor | None = None, T: float = 1.0,
                 teacher_logits: Tensor | None = None) -> Tensor:
    """KD for binary/multilabel: per label the Bernoulli KL between the teacher's
    ``p = sigmoid(t/T)`` and the student's ``q = sigmoid(s/T)``, times T^2, mean over samples
    and labels. Computed as BCE(s/T, p) minus the entropy of p (exactly the KL)."""
    p = _teacher("binary", T, teacher_probs, teacher_logits)
    bce = F.binary_cross_entropy_with_logits(student_logits / T, p, reduction="none")
    entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
    return (T * T) * (bce - entropy).mean()


def kd_loss(task: str, student_logits: Tensor, teacher_probs: Tensor, T: float) -> Tensor:
    """The KD primitive that fits ``task`` (softmax KD over a single logit is meaningless)."""
    return get_loss("kd_softmax" if task == "multiclass" else "kd_bernoulli")(
        student_logits, teacher_probs, T)
