"""Knowledge distillation: losses in a registry, teacher sources (cached ensembles, a model),
the methods (one module per family: ``mind``, ``baselines``, ``hint``, ``selfkd``, ``mckd``),
what a method file needs (``base``), the catalogue (``methods``) and the recipes."""

from mindkit.distill.cache import EnsembleTargets, ModelTargets, TeacherCache, mean_target
from mindkit.distill.losses import (
    LOSSES,
    get_loss,
    kd_bernoulli,
    kd_loss,
    kd_softmax,
    register_loss,
    task_loss,
)
from mindkit.distill.mckd import MCKD, MCKDStudent
from mindkit.distill.mind import (
    WEIGHT_MODES,
    MindDistiller,
    MindLoss,
    modality_informed_weights,
)

__all__ = [
    "LOSSES",
    "MCKD",
    "WEIGHT_MODES",
    "EnsembleTargets",
    "MCKDStudent",
    "MindDistiller",
    "MindLoss",
    "ModelTargets",
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
