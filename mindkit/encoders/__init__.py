"""Encoders, one per input kind, with size presets (``xs``/``s``/``m``/``l``).

Every encoder maps one modality's batch to a feature vector ``[B, out_dim]``:
``encoder(x, lengths=None)``; ``encoder.tokens(x, lengths)`` gives ``(tokens [B, L, out_dim],
mask bool[B, L])`` before pooling and ``forward`` is ``encoder.pool(*encoder.tokens(...))``.
``build_encoder(spec, size, arch)`` picks the class from the
modality's kind; ``preset_table(spec)`` lists each preset with its parameter count.

The models that own encoders (teachers, students) run their convolutions channels-last while
torch uses one CPU thread (:func:`set_conv_layout`, ``"auto"``): oneDNN's convolutions then work
in NHWC, 1.3-1.6x faster over a small CNN's training step on the kit's 28x28 digits (same results
up to float rounding; the ``state_dict`` keys and values are the same, and checkpoints are written
contiguous). With more threads, or off the CPU, they stay NCHW: in torch 2.13 the channels-last
backward of a 1x1 stride-2 convolution with 8 input channels (the xs CNN's shortcut) corrupts
memory when it runs on 2 threads (a segfault or ``corrupted size vs. prev_size`` within a few
hundred steps of varying batch sizes; one thread ran 3,000 without fault).
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

CONV_LAYOUTS = ("auto", "channels_last", "contiguous")


def _fast_layout_ok(x: torch.Tensor) -> bool:
    """Whether channels-last is safe and fast for a convolution on ``x`` now: on the CPU with
    one torch thread (module docstring)."""
    return x.device.type == "cpu" and torch.get_num_threads() == 1


def _auto_layout(conv: nn.Conv2d, args: tuple) -> tuple | None:
    """Forward pre-hook of ``set_conv_layout(..., "auto")``: put the weight (and the input) in
    the layout that is safe at this call, channels-last or contiguous."""
    x = args[0]
    fmt = torch.channels_last if _fast_layout_ok(x) else torch.contiguous_format
    w = conv.weight
    if not w.is_contiguous(memory_format=fmt):
        w.data = w.data.contiguous(memory_format=fmt)
    if x.dim() == 4 and not x.is_contiguous(memory_format=fmt):
        return (x.contiguous(memory_format=fmt), *args[1:])
    return None


def set_conv_layout(module: nn.Module, layout: str = "auto") -> nn.Module:
    """Choose the memory layout of every 2-D convolution in ``module`` (returns ``module``).

    ``"auto"`` (what :class:`mindkit.models.UnimodalNet` and the students use): channels-last
    while torch runs one CPU thread, NCHW otherwise, checked at every call (a forward pre-hook
    on each convolution converts the weight when the thread count changed and gives the
    convolution its input in the same layout). ``"channels_last"``: always channels-last (unsafe
    with more than one CPU thread, see the module docstring). ``"contiguous"``: always NCHW (the
    layout before; for comparisons). Values, ``state_dict`` keys and the ``Parameter`` objects
    stay the same; only strides change."""
    if layout not in CONV_LAYOUTS:
        raise ValueError(f"unknown conv layout {layout!r}; use one of {CONV_LAYOUTS}")
    for m in module.modules():
        if not isinstance(m, nn.Conv2d):
            continue
        hook = getattr(m, "_mindkit_layout_hook", None)
        if layout == "auto":
            if hook is None:
                m._mindkit_layout_hook = m.register_forward_pre_hook(_auto_layout)
            continue
        if hook is not None:
            hook.remove()
            m._mindkit_layout_hook = None
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
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
