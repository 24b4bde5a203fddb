"""Encoders, one per input kind, with size presets (``xs``/``s``/``m``/``l``).

Every encoder maps one modality's batch to a feature vector ``[B, out_dim]``:
``encoder(x, lengths=None)``; ``encoder.tokens(x, lengths)`` gives ``(tokens [B, L, out_dim],
mask bool[B, L])`` before pooling and ``forward`` is ``encoder.pool(*encoder.tokens(...))``.
``build_encoder(spec, size, arch)`` picks the class from the
modality's kind; ``preset_table(spec)`` lists each preset with its parameter count.
"""

from mindkit.encoders.image import ResNetCNN
from mindkit.encoders.presets import (
    PRESETS,
    SIZES,
    build_encoder,
    count_parameters,
    preset_table,
)
from mindkit.encoders.sequence import RNNEncoder, TransformerEncoder
from mindkit.encoders.tabular import TabularMLP

__all__ = [
    "PRESETS",
    "SIZES",
    "ResNetCNN",
    "RNNEncoder",
    "TabularMLP",
    "TransformerEncoder",
    "build_encoder",
    "count_parameters",
    "preset_table",
]
