"""Checkpoints that vouch for themselves.

A checkpoint is one ``safetensors`` file, ``<name>.safetensors``: the weights (no pickle, so
loading runs no code) and, in its metadata header, everything that says where they came from:
the model's config (to rebuild it), the dataset's provenance and fingerprint
(:func:`mindkit.provenance.dataset_provenance`), the method and its settings, the training
config (seed among it), and the SHA-256 of the weights (:func:`weights_sha256`). A copy of that
header is written beside it as ``<name>.json`` for people and tools to read.

:func:`load_model` refuses, with :class:`CheckpointError` naming the path, what differs and the
command that rebuilds it:

* a file that cannot be parsed (truncated, overwritten header, not a safetensors file);
* weights whose hash is not the one recorded (bytes altered inside the file);
* a weights file whose ``.json`` beside it records other weights (swapped in from another run);
* a checkpoint made for other data, with ``dataset=`` (:func:`mindkit.provenance.check_provenance`
  names each option that differs);
* an old-format ``<name>.pt`` (a bare state_dict whose provenance lived only in its JSON, with no
  hash): it cannot prove where it came from, so it is refused with the rebuild command.

Writes are atomic (temporary file + rename) and a lock (``filelock``) per checkpoint keeps the
weights file and its JSON copy from two concurrent writers consistent.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from mindkit.atomic import atomic_path, write_text
from mindkit.common import with_ext
from mindkit.device import resolve_device
from mindkit.models.build import build_model, model_config
from mindkit.provenance import StaleStateError, check_provenance

WEIGHTS_EXT = ".safetensors"
LEGACY_EXT = ".pt"
FORMAT = "mindkit-checkpoint/1"
_KNOWN = (WEIGHTS_EXT, LEGACY_EXT, ".json")
DEFAULT_FIX = "retrain it for this dataset (rerun the notebook that made it)"


class CheckpointError(StaleStateError):
    """A checkpoint cannot vouch for itself: damaged, altered, swapped, stale or old-format."""


def checkpoint_path(path: str | Path) -> Path:
    """The weights file of checkpoint ``path`` (with or without an extension):
    ``<path>.safetensors``."""
    return with_ext(path, WEIGHTS_EXT, _KNOWN)


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors of ``state`` in name order: each name, dtype, shape and raw
    bytes, so any changed value, shape, dtype or name changes the hash."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _lock(path: Path):
    from filelock import FileLock

    locks = path.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / f"{path.name}.lock"))


def save_model(model: nn.Module, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``model``'s weights and ``extra`` (provenance, method, settings, training config)
    to ``<path>.safetensors`` (+ a ``.json`` copy of the header), atomically. Returns the
    weights file."""
    from safetensors.torch import save_file

    path = checkpoint_path(path)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "model": model_config(model), **(extra or {}),
            "weights_sha256": weights_sha256(state)}
    header = json.dumps(meta, default=str)
    with _lock(path):
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"mindkit": header})
        write_text(with_ext(path, ".json", _KNOWN), json.dumps(json.loads(header), indent=1))
    return path


def _rebuild(fix: str) -> str:
    return f"Rebuild it: {fix}"


def _legacy_or_missing(path: Path, fix: str) -> Exception:
    legacy = with_ext(path, LEGACY_EXT, _KNOWN)
    if legacy.exists():
        return CheckpointError(
            f"{legacy} is an old-format checkpoint (a bare state_dict whose provenance lived "
            "only in the JSON beside it, with no hash of its weights); it cannot prove where it "
            f"came from, so it is not loaded. {_rebuild(fix)}")
    return FileNotFoundError(f"no checkpoint at {path}")


def read_meta(path: str | Path, fix: str = DEFAULT_FIX) -> dict:
    """The header of checkpoint ``path``: model config, provenance, method, settings, training
    config, weights hash. Read from the weights file itself (not the JSON copy); a damaged or
    old-format file raises :class:`CheckpointError`, a missing one ``FileNotFoundError``."""
    from safetensors import safe_open

    path = checkpoint_path(path)
    if not path.exists():
        raise _legacy_or_missing(path, fix)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get("mindkit")
        meta = json.loads(header) if header else None
    except Exception as err:  # safetensors raises its own SafetensorError, or OSError/ValueError
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {err}): it is truncated, "
            f"overwritten or not a safetensors file. {_rebuild(fix)}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has no mindkit header (format {FORMAT!r}); it "
                              f"was not written by mindkit's save_model. {_rebuild(fix)}")
    return meta


def load_model(path: str | Path, map_location: str | torch.device = "cpu", dataset=None,
               fix: str = DEFAULT_FIX) -> nn.Module:
    """Rebuild the model saved at ``path`` after checking that the checkpoint vouches for itself
    (module docstring). With ``dataset``, also refuse a checkpoint made for other data
    (dataset, options, split, task, outputs, modality specs). ``fix`` is the rebuild command
    every refusal names. The model is returned in eval mode on ``map_location`` (a device or a
    device option such as ``"auto"``, :func:`mindkit.device.resolve_device`); the weights
    are read and their hash checked on the CPU first, so a checkpoint loads on any device."""
    from safetensors.torch import load_file

    map_location = resolve_device(map_location)
    path = checkpoint_path(path)
    meta = read_meta(path, fix)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as err:
        raise CheckpointError(f"checkpoint {path}: its weights cannot be read "
                              f"({type(err).__name__}: {err}). {_rebuild(fix)}") from None
    got = weights_sha256(state)
    if got != meta.get("weights_sha256"):
        raise CheckpointError(
            f"checkpoint {path}: its weights were altered after saving (SHA-256 recorded "
            f"{meta.get('weights_sha256')}, file holds {got}). {_rebuild(fix)}")
    side = with_ext(path, ".json", _KNOWN)
    if side.exists():
        try:
            side_hash = json.loads(side.read_text()).get("weights_sha256")
        except (OSError, ValueError, AttributeError) as err:
            raise CheckpointError(f"checkpoint {path}: the config beside it, {side}, cannot be "
                                  f"read ({err}). {_rebuild(fix)}") from None
        if side_hash != got:
            raise CheckpointError(
                f"checkpoint {path} does not match the config beside it ({side} records weights "
                f"{side_hash}, the file holds {got}): one of them was copied in from another "
                f"run. {_rebuild(fix)}")
    if dataset is not None:
        cfg = meta["model"]
        mods = [cfg["spec"]["name"]] if "spec" in cfg else sorted(cfg.get("specs", {}))
        check_provenance(meta.get("provenance", {}), dataset, f"checkpoint {path}", fix, mods)
    model = build_model(meta["model"])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path}: its weights do not fit the model its header "
                              f"describes ({err}). {_rebuild(fix)}") from None
    model.to(map_location)
    model.eval()
    return model


__all__ = ["CheckpointError", "WEIGHTS_EXT", "checkpoint_path", "load_model", "read_meta",
           "save_model", "weights_sha256"]
