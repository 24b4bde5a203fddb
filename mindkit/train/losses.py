"""The task losses the training loop needs (:class:`mindkit.train.method.Supervised`), below
distillation (docs/architecture.md, "Layers"). :mod:`mindkit.distill.losses` registers them as
``"ce"`` and ``"bce"`` and re-exports them, so ``from mindkit.distill import task_loss`` works as
before."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Task loss for multiclass: cross-entropy against class indices, batch mean."""
    return F.cross_entropy(logits, y.long())


def binary_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Task loss for binary/multilabel: BCE with logits against 0/1 floats, mean over all."""
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))


def task_loss(task: str, logits: Tensor, y: Tensor) -> Tensor:
    return cross_entropy(logits, y) if task == "multiclass" else binary_cross_entropy(logits, y)


__all__ = ["binary_cross_entropy", "cross_entropy", "task_loss"]
