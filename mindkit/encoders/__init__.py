"""Encoders, one per input kind, with size presets (``xs``/``s``/``m``/``l``).

Every encoder maps one modality's batch to a feature vector ``[B, out_dim]``:
``encoder(x, lengths=None)``; ``encoder.tokens(x, lengths)`` gives ``(tokens [B, L, out_dim],
mask bool[B, L])`` before pooling and ``forward`` is ``encoder.pool(*encoder.tokens(...))``.
``build_encoder(spec, size, arch)`` picks the class from the
modality's kind; ``preset_table(spec)`` lists each preset with its parameter count.

The models that own encoders (teachers, students) store convolution weights channels-last
(:func:`set_conv_layout`): oneDNN's convolutions on CPU then run in NHWC, 1.4-1.6x faster over a
small CNN's training step on the kit's 28x28 digits (same results up to float rounding; the
``state_dict`` keys and values are the same, and checkpoints are written contiguous).
"""

import torch
from torch import nn

from mindkit.encoders.image import ResNetCNN
from mindkit.encoders.presets import (
    PRESETS,
    SIZES,
    build_encoder,
    count_parameters,
    preset_table,
)
from mindkit.encoders.sequence import RNN_IMPLS, RNNEncoder, TransformerEncoder, set_rnn_impl
from mindkit.encoders.tabular import TabularMLP

CONV_LAYOUTS = ("channels_last", "contiguous")


def set_conv_layout(module: nn.Module, layout: str = "channels_last") -> nn.Module:
    """Store the weights of every 2-D convolution in ``module`` channels-last (the fast layout
    on CPU, and the one :class:`mindkit.models.UnimodalNet` and the students use) or
    ``"contiguous"`` (NCHW: the layout before; for comparisons). Values, ``state_dict`` keys
    and the ``Parameter`` objects stay the same (only their strides change); returns
    ``module``."""
    if layout not in CONV_LAYOUTS:
        raise ValueError(f"unknown conv layout {layout!r}; use one of {CONV_LAYOUTS}")
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = m.weight.data.contiguous(memory_format=fmt)
    return module


__all__ = [
    "CONV_LAYOUTS",
    "PRESETS",
    "RNN_IMPLS",
    "SIZES",
    "ResNetCNN",
    "RNNEncoder",
    "TabularMLP",
    "TransformerEncoder",
    "build_encoder",
    "count_parameters",
    "preset_table",
    "set_conv_layout",
    "set_rnn_impl",
]
