"""Checkpoints: a ``state_dict`` (``.pt``) beside a small JSON of the model's config.

Loading rebuilds the model from the JSON and reads the weights with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from mindkit.models.build import build_model, model_config


def save_model(model: nn.Module, path: str | Path, extra: dict | None = None) -> Path:
    path = Path(path).with_suffix(".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model_config(model), **(extra or {})}
    torch.save(model.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))
    return path


def read_meta(path: str | Path) -> dict:
    meta_path = Path(path).with_suffix(".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"no checkpoint config at {meta_path}; a mindkit checkpoint is "
                                "a .pt state_dict with a .json config beside it")
    return json.loads(meta_path.read_text())


def load_model(path: str | Path, map_location: str = "cpu") -> nn.Module:
    path = Path(path).with_suffix(".pt")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    model = build_model(read_meta(path)["model"])
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model
