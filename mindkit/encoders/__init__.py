"""Encoders, one per input kind, with size presets (``xs``/``s``/``m``/``l``).

Every encoder maps one modality's batch to a feature vector ``[B, out_dim]``:
``encoder(x, lengths=None)``; ``encoder.tokens(x, lengths)`` gives ``(tokens [B, L, out_dim],
mask bool[B, L])`` before pooling and ``forward`` is ``encoder.pool(*encoder.tokens(...))``.
``build_encoder(spec, size, arch)`` picks the class from the
modality's kind; ``preset_table(spec)`` lists each preset with its parameter count.

Convolution weights stay NCHW (PyTorch's default). :func:`set_conv_layout` can store them
channels-last for measurements only: it made a small CNN's training step 1.3-1.6x faster on one
CPU thread here, but torch 2.13 (oneDNN 3.12) corrupts memory in the backward pass of a 1x1
stride-2 convolution that receives a channels-last input (the xs CNN's shortcut): a segfault or
``corrupted size vs. prev_size`` within a few hundred steps of varying batch sizes on 2 threads at
28 px, and within 20 steps on one thread at 128 px.
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

CONV_LAYOUTS = ("contiguous", "channels_last")


def set_conv_layout(module: nn.Module, layout: str) -> nn.Module:
    """Store the weight of every 2-D convolution in ``module`` NCHW-``"contiguous"`` (what the
    kit's models use) or ``"channels_last"`` (for measurements only: unsafe in torch 2.13, see
    the module docstring). Values, ``state_dict`` keys and the ``Parameter`` objects stay the
    same; only strides change. Returns ``module``."""
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
