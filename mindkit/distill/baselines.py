"""The single-head joint-fusion baselines MIND is compared with (docs/methods.md): one
prediction from fused features, the absent modality zero-filled or replaced by a learned
token, trained on labels or distilled from the present modalities' teacher ensembles."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from mindkit.distill.base import MethodContext, StudentSettings, register
from mindkit.distill.cache import EnsembleTargets
from mindkit.distill.mind import MindDistiller, mind_method
from mindkit.models.student import SingleHeadStudent


@dataclass
class SingleHeadSettings(StudentSettings):
    """The single-head baselines' settings (KD ones used only by the distilled baseline)."""

    alpha: float = 0.5  # weight of the KD term (1 - alpha: the task loss)
    T: float = 2.0  # distillation temperature
    ensemble_weighting: str = "uniform"  # teacher ensemble members: "uniform" or "val_score"


def build_single_head(ctx: MethodContext, s: SingleHeadSettings, missing: str,
                      kd: bool) -> MindDistiller:
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = SingleHeadStudent(ds.modalities, ds.num_outputs, s.student_size, missing=missing)
    # each sample's target: the mean of the ensembles of the modalities it has
    teacher = EnsembleTargets(ctx.ensembles(weighting=s.ensemble_weighting),
                              combine="present_mean") if kd else None
    return mind_method(ctx, s, teacher, student=student, head_weights={})


register("single_head_zero", partial(build_single_head, missing="zero", kd=False),
         SingleHeadSettings, doc="Single-head joint fusion, absent modality zero-filled (with "
         "presence flags).")
register("single_head_learned", partial(build_single_head, missing="learned", kd=False),
         SingleHeadSettings, doc="Single-head joint fusion with a learned missing token.")
register("single_head_ensemble_kd", partial(build_single_head, missing="zero", kd=True),
         SingleHeadSettings, doc="Single-head student distilled from the mean of the present "
         "modalities' teacher ensembles.")
