"""Knowledge-distillation losses (a registry by name), the MIND recipe and the teacher cache."""

from mindkit.distill.cache import TeacherCache
from mindkit.distill.losses import (
    LOSSES,
    get_loss,
    kd_bernoulli,
    kd_loss,
    kd_softmax,
    register_loss,
    task_loss,
)
from mindkit.distill.mind import MindLoss, mean_target, modality_informed_weights

__all__ = [
    "LOSSES",
    "MindLoss",
    "TeacherCache",
    "get_loss",
    "kd_bernoulli",
    "kd_loss",
    "kd_softmax",
    "mean_target",
    "modality_informed_weights",
    "register_loss",
    "task_loss",
]
