"""Rebuild a model from the JSON config saved beside its checkpoint."""

from __future__ import annotations

from torch import nn

from mindkit.device import resolve_device
from mindkit.fusion.modules import FrozenEncoder
from mindkit.models.mckd import MCKDStudent
from mindkit.models.student import MultiHeadStudent, SingleHeadStudent
from mindkit.models.unimodal import UnimodalNet, spec_from_dict


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
    kw = {k: v for k, v in config.items() if k != "type"}
    if kind == "UnimodalNet":
        kw["spec"] = spec_from_dict(kw["spec"])
        return UnimodalNet(**kw)
    if kind in ("MultiHeadStudent", "SingleHeadStudent"):
        kw["specs"] = {m: spec_from_dict(s) for m, s in kw["specs"].items()}
        frozen = kw.pop("frozen_encoders", [])
        model = (MultiHeadStudent if kind == "MultiHeadStudent" else SingleHeadStudent)(**kw)
        if frozen:  # early fusion: these encoders were frozen pre-trained teachers' encoders
            for m in frozen:
                model.encoders[m] = FrozenEncoder(model.encoders[m])
            model.config["frozen_encoders"] = list(frozen)
        return model
    if kind == "MCKDStudent":
        kw["specs"] = {m: spec_from_dict(s) for m, s in kw["specs"].items()}
        return MCKDStudent(**kw)
    raise ValueError(f"unknown model type {kind!r} in config; known: UnimodalNet, "
                     "MultiHeadStudent, SingleHeadStudent, MCKDStudent")
