"""A method added in one file with one registration line (tests/test_toy_method.py): the
multi-head student trained on labels with label smoothing on every head. Nothing else in the
kit names it; ``MINDKIT_PLUGINS=tests/plugins/toy_method.py`` makes it known to notebooks and
sweeps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mindkit.distill.base import MethodContext, StudentSettings, register
from mindkit.models.student import MultiHeadStudent
from mindkit.train.method import Method


@dataclass
class SmoothSettings(StudentSettings):
    smoothing: float = 0.1  # label smoothing of each head's cross-entropy
    mm_weight: float = 1.0  # weight of the multimodal head's term


class LabelSmoothing(Method):
    name = "toy_smooth"

    def __init__(self, student, task: str, smoothing: float, mm_weight: float) -> None:
        super().__init__(student, task)
        if task != "multiclass":
            raise ValueError(f"toy_smooth smooths class labels; task {task!r} is not multiclass")
        self.smoothing, self.mm_weight = smoothing, mm_weight

    def settings(self) -> dict:
        return {"smoothing": self.smoothing, "mm_weight": self.mm_weight}

    def forward_train(self, batch):
        out = self.student.forward_batch(batch)
        self.last_output = out
        total = next(iter(out.logits.values())).new_zeros(())
        terms = {}
        for head, logits in out.logits.items():
            rows = out.mask[head]
            if not bool(rows.any()):
                continue
            loss = F.cross_entropy(logits[rows], batch.y[rows].long(),
                                   label_smoothing=self.smoothing)
            terms[f"task/{head}"] = loss.detach()
            total = total + (self.mm_weight if head == "mm" else 1.0) * loss
        terms["total"] = total
        return terms


def build(ctx: MethodContext, s: SmoothSettings) -> LabelSmoothing:
    """The multi-head student trained on labels with label smoothing on every head (a toy)."""
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = MultiHeadStudent(ds.modalities, ds.num_outputs, s.student_size)
    return LabelSmoothing(student, ds.task, s.smoothing, s.mm_weight)


register("toy_smooth", build, SmoothSettings, teachers=False)
