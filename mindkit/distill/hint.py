"""Feature (hint) KD as one method object (FitNets-style hints; docs/methods.md).

Each modality's student features pass through a learned projection and are matched (MSE) to a
frozen teacher's encoder features on the same sample; the student's heads train on the task
loss. The projections are training-only: the deployed model is the plain student, and
:meth:`HintDistiller.extra_parameters` counts them separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from mindkit.data.base import Batch, Split
from mindkit.distill.base import MethodContext, StudentSettings, register
from mindkit.distill.mind import MindLoss, student_for
from mindkit.models.predict import encoder_features
from mindkit.models.unimodal import UnimodalNet
from mindkit.train.method import Method


class HintDistiller(Method):
    name = "feature_kd"

    def __init__(self, student: nn.Module, task: str, teachers: dict[str, UnimodalNet],
                 hint_weight: float = 1.0) -> None:
        super().__init__(student, task)
        unknown = sorted(set(teachers) - set(student.encoders.keys()))
        if unknown:
            raise ValueError(f"hint teachers for modalities {unknown} the student does not have")
        self.teachers = dict(teachers)  # not submodules: frozen, never saved with the method
        for net in self.teachers.values():
            for p in net.parameters():
                p.requires_grad_(False)
        self.proj = nn.ModuleDict({m: nn.Linear(student.encoders[m].out_dim, n.encoder.out_dim)
                                   for m, n in sorted(teachers.items())})
        self.hint_weight = float(hint_weight)
        self.loss = MindLoss(task, alpha=0.0)
        self.feats: dict[str, Tensor] = {}

    def teacher_modules(self) -> list[nn.Module]:
        return list(self.teachers.values())

    def settings(self) -> dict:
        return {"hint_weight": self.hint_weight}

    def prepare(self, train: Split) -> Split:
        self.feats = encoder_features(self.teachers, train)
        return train

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        out = self.student.forward_batch(batch)
        terms = self.loss(out, batch.y)
        for m, proj in self.proj.items():
            rows = batch.present[m]
            if rows.any():
                pred = proj(out.features[m][rows])
                hint = self.hint_weight * F.mse_loss(pred, self.feats[m][batch.idx][rows])
                terms[f"hint/{m}"] = hint.detach()
                terms["total"] = terms["total"] + hint
        return terms


__all__ = ["HintDistiller"]


@dataclass
class HintSettings(StudentSettings):
    """Feature KD's settings."""

    fusion: str = "joint"  # fusion of the student's multimodal head (mindkit.fusion)


def build_feature_kd(ctx: MethodContext, s: HintSettings) -> HintDistiller:
    """Feature (hint) KD: each modality's student features, through a learned projection,
    match the best teacher's encoder features (MSE), plus the task loss."""
    best = {m: e.members[0] for m, e in ctx.best_teachers().items()}
    return HintDistiller(student_for(ctx, s), ctx.dataset.task, best)


register("feature_kd", build_feature_kd, HintSettings)
