"""Rebuild a model from the JSON config saved beside its checkpoint."""

from __future__ import annotations

from torch import nn

from mindkit.device import resolve_device
from mindkit.models import mckd, student, unimodal  # noqa: F401 (they register their types)
from mindkit.models.types import MODEL_TYPES


def model_config(model: nn.Module) -> dict:
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"{type(model).__name__} carries no mindkit config; only mindkit models "
                        "(UnimodalNet, the students) can be rebuilt from a checkpoint")
    return cfg


def build_model(config: dict, device=None) -> nn.Module:
    """A freshly initialised model of ``config`` (``model_config`` of a model, or a checkpoint's
    ``"model"``), on device option ``device`` (:func:`mindkit.device.resolve_device`;
    ``None``: the CPU)."""
    model = _build(config)
    if device is not None:
        model.to(resolve_device(device))
    return model


def _build(config: dict) -> nn.Module:
    kind = config.get("type")
    try:
        rebuild = MODEL_TYPES.get(kind)
    except KeyError as err:
        raise ValueError(f"{err.args[0]} (the config's 'type')") from None
    return rebuild({k: v for k, v in config.items() if k != "type"})
