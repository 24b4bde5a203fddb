"""Teachers, teacher ensembles and the multi-head student."""

from mindkit.models.build import build_model, model_config
from mindkit.models.student import MultiHeadStudent, SingleHeadStudent, StudentOutput
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, combine_probs

__all__ = [
    "MultiHeadStudent",
    "SingleHeadStudent",
    "StudentOutput",
    "TeacherEnsemble",
    "UnimodalNet",
    "build_model",
    "combine_probs",
    "model_config",
]
