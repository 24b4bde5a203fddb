"""Fusion modules: combine per-modality features into one vector.

Every fusion module has the signature ``fusion(feats, present) -> Tensor[B, out_dim]`` where
``feats`` maps modality name -> ``[B, D_m]`` features and ``present`` maps name -> ``bool[B]``,
and exposes ``out_dim``. Each module states how it treats an absent modality.
"""

from mindkit.fusion.base import (
    FUSIONS,
    MISSING_MODES,
    JointConcat,
    build_fusion,
)
from mindkit.fusion.bottleneck import BottleneckFusion  # registers bottleneck
from mindkit.fusion.modules import (  # registers early, late, attention
    AttentionFusion,
    EarlyConcat,
    FrozenEncoder,
    LateFusion,
    freeze_encoders,
)

__all__ = [
    "FUSIONS",
    "AttentionFusion",
    "BottleneckFusion",
    "EarlyConcat",
    "FrozenEncoder",
    "JointConcat",
    "LateFusion",
    "MISSING_MODES",
    "build_fusion",
    "freeze_encoders",
]
