"""Where models train and predict: one resolver for every ``device`` option of the kit.

``resolve_device(spec)`` turns a device option into a :class:`torch.device`:

* ``"auto"``: CUDA when ``torch.cuda.is_available()``, else Apple's MPS when
  ``torch.backends.mps.is_available()``, else the CPU;
* ``"cpu"``, ``"cuda"`` (the current CUDA device), ``"cuda:N"``, ``"mps"``: that device, refused
  with a :class:`DeviceError` naming what torch sees and what to use instead when it is not there.

:class:`mindkit.train.TrainConfig` (``device=``), the evaluation, explanation and profiling
functions (``device=``; ``None``: where the model already is) and the command line's
``--device`` all go through it, so "auto" means the same everywhere.

Models and data: :func:`module_device` is the device a model's weights are on (evaluation runs
there); :func:`move_model` moves a model (or a dict of them) to a device option. A split moves to
a device whole when it fits (:func:`place_split`, :meth:`mindkit.data.base.Split.to`); a larger
one stays in CPU memory and its batches stream to the device
(:func:`mindkit.data.base.iterate_batches` with ``device=``).

``amp="bf16"`` (:func:`check_amp`, :func:`autocast`) runs the training forward pass under
bfloat16 autocast; it is CUDA only (CPU and MPS autocast are slower or incomplete for these
models) and refused elsewhere with the reason.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import nn

if TYPE_CHECKING:
    from mindkit.data.base import Split

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
"""The device options (plus ``"cuda:N"`` for the N-th visible GPU)."""
AMP_CHOICES = (None, "bf16")
SPLIT_MEMORY_SHARE = 0.5
"""Share of a device's free memory a training split may take when it is moved there whole (the
rest is left for the model, its activations, gradients and optimizer state)."""

_SPEC = re.compile(r"(auto|cpu|mps|cuda)(?::(\d+))?")
_USE = ("use 'auto' (CUDA, else MPS, else CPU), 'cpu', 'cuda', 'cuda:N' (the N-th visible GPU) "
        "or 'mps'")


class DeviceError(ValueError):
    """A device option that is not one, or names a device this machine does not have."""


def parse_device(spec: Any) -> str:
    """The device option ``spec`` (a str or a :class:`torch.device`) in its normal form
    (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``), without checking that the device
    exists; a :class:`DeviceError` for anything else."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = spec.strip().lower() if isinstance(spec, str) else None
    m = _SPEC.fullmatch(text) if text else None
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise DeviceError(f"unknown device {spec!r}; {_USE}")
    return text


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _no_cuda_reason() -> str:
    built = torch.version.cuda
    if not built:
        return (f"this torch ({torch.__version__}) is a CPU-only build; install a CUDA build of "
                "torch on a machine with an NVIDIA GPU")
    return (f"torch {torch.__version__} (CUDA {built}) sees no GPU: check the driver "
            "(nvidia-smi) and CUDA_VISIBLE_DEVICES")


def resolve_device(spec: Any = "auto") -> torch.device:
    """The :class:`torch.device` of device option ``spec`` (module docstring). ``"auto"`` picks
    CUDA, else MPS, else the CPU; an explicit device this machine lacks is refused with a
    :class:`DeviceError` saying why and what to use instead. CUDA devices carry their index
    (``cuda:0``), so devices compare equal to the ones tensors report."""
    text = parse_device(spec)
    kind, _, index = text.partition(":")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            mps = getattr(torch.backends, "mps", None)
            why = ("this torch is not built with MPS" if mps is None or not mps.is_built()
                   else "MPS needs macOS 12.3+ on Apple silicon")
            raise DeviceError(f"device 'mps' is not available here ({why}); use device='auto' "
                              "or 'cpu'")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {text!r} is not available here ({_no_cuda_reason()}); use "
                          "device='auto' (it falls back to the CPU) or 'cpu'")
    n = torch.cuda.device_count()
    i = int(index) if index else torch.cuda.current_device()
    if i >= n:
        raise DeviceError(f"device {text!r} is not available here: torch sees {n} GPU(s), "
                          f"cuda:0 to cuda:{n - 1}; pick one of them (CUDA_VISIBLE_DEVICES "
                          "renumbers the GPUs a process sees from 0)")
    return torch.device("cuda", i)


def check_amp(amp: Any, device: Any) -> None:
    """Refuse an ``amp`` option that is not one of :data:`AMP_CHOICES`, or ``"bf16"`` on a device
    that is not CUDA (``device``: a device option or a :class:`torch.device`; ``"auto"`` is
    checked as what it resolves to), or on a GPU without bfloat16 support."""
    if amp not in AMP_CHOICES:
        raise DeviceError(f"unknown amp {amp!r}; use None (full precision) or 'bf16' (bfloat16 "
                          "autocast, CUDA only)")
    if amp is None:
        return
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if dev.type != "cuda":
        raise DeviceError(
            f"amp={amp!r} (bfloat16 autocast) runs on CUDA only, and the device is {dev.type!r}"
            + (" (what device='auto' found here)" if device == "auto" else "")
            + ": drop amp (amp=None) or train on device='cuda'")
    if not torch.cuda.is_bf16_supported():
        raise DeviceError(f"amp={amp!r}: the GPU {torch.cuda.get_device_name(dev)} does not "
                          "support bfloat16; drop amp (amp=None)")


def autocast(amp: str | None, device: torch.device):
    """The autocast context of ``amp`` on ``device`` (a no-op context when ``amp`` is None)."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def module_device(model: Any) -> torch.device:
    """The device of a model's first parameter (else first buffer), for a module or a dict of
    modules (profiling's "all ensembles"); the CPU for a model with neither."""
    mods = list(model.values()) if isinstance(model, Mapping) else [model]
    for mod in mods:
        if isinstance(mod, nn.Module):
            for t in (*mod.parameters(), *mod.buffers()):
                return t.device
    return torch.device("cpu")


def move_model(model: Any, device: Any = None) -> torch.device:
    """Move ``model`` (a module or a dict of modules) to device option ``device`` in place and
    return the device; with ``device=None`` leave it where it is and return that device. The
    evaluation, explanation and profiling functions call it with their ``device=`` argument, so a
    model loaded from a checkpoint (on the CPU) is scored on the configured device."""
    if device is None:
        return module_device(model)
    dev = resolve_device(device)
    for mod in (model.values() if isinstance(model, Mapping) else [model]):
        if isinstance(mod, nn.Module):
            mod.to(dev)
    return dev


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes: on CUDA, ``torch.cuda.mem_get_info``'s free memory
    plus what torch's caching allocator holds reserved but unused (it hands that out first); on
    MPS, its recommended working set less what its driver holds; ``None`` on the CPU (no limit
    here)."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0] + max(0, cached))
    if device.type == "mps":
        mps = getattr(torch, "mps", None)
        try:
            return int(mps.recommended_max_memory() - mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    return None


def place_split(split: "Split", device: torch.device, max_bytes: int | None = None
                ) -> tuple["Split", bool]:
    """``(split, stream)``: the split moved to ``device`` once, with ``stream=False``, when it
    fits; else the split left in CPU memory with ``stream=True`` (its batches are then gathered
    into pinned memory and copied to the device as they are used,
    :func:`mindkit.data.base.iterate_batches` with ``device=``).

    It fits when its bytes (:attr:`Split.nbytes`) are at most ``max_bytes``, or, with
    ``max_bytes=None``, at most :data:`SPLIT_MEMORY_SHARE` of the device's free memory
    (:func:`free_memory_bytes`; a CPU split bound for the CPU always fits)."""
    budget = max_bytes
    if budget is None:
        free = free_memory_bytes(device)
        budget = None if free is None else int(free * SPLIT_MEMORY_SHARE)
    if budget is not None and split.nbytes > budget:
        return split.to("cpu"), True
    return split.to(device), False


__all__ = ["AMP_CHOICES", "DEVICE_CHOICES", "DeviceError", "SPLIT_MEMORY_SHARE", "autocast",
           "check_amp", "free_memory_bytes", "module_device", "move_model", "parse_device",
           "place_split", "resolve_device"]
