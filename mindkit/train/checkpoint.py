"""Checkpoints: a ``state_dict`` (``.pt``) beside a small JSON of the model's config.

Loading rebuilds the model from the JSON and reads the weights with ``weights_only=True``. The
JSON also records where the model came from (``provenance``: dataset and options, seed, split
hash, task, outputs, modality specs, mindkit version; ``train``: the training config), and
``load_model(path, dataset=ds)`` refuses a checkpoint made for another dataset or split.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from mindkit.common import with_ext
from mindkit.models.build import build_model, model_config


def save_model(model: nn.Module, path: str | Path, extra: dict | None = None) -> Path:
    path = with_ext(path, ".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model_config(model), **(extra or {})}
    torch.save(model.state_dict(), path)
    with_ext(path, ".json").write_text(json.dumps(meta, indent=1, default=str))
    return path


def read_meta(path: str | Path) -> dict:
    meta_path = with_ext(path, ".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"no checkpoint config at {meta_path}; a mindkit checkpoint is "
                                "a .pt state_dict with a .json config beside it")
    return json.loads(meta_path.read_text())


def load_model(path: str | Path, map_location: str = "cpu", dataset=None,
               fix: str = "retrain it for this dataset") -> nn.Module:
    """Rebuild the model saved at ``path``. With ``dataset``, refuse (``StaleStateError``) a
    checkpoint whose provenance (dataset, split, task, outputs, modality specs) does not match."""
    path = with_ext(path, ".pt")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    meta = read_meta(path)
    if dataset is not None:
        from mindkit.provenance import check_provenance

        cfg = meta["model"]
        mods = [cfg["spec"]["name"]] if "spec" in cfg else sorted(cfg.get("specs", {}))
        check_provenance(meta.get("provenance", {}), dataset, f"checkpoint {path}", fix, mods)
    model = build_model(meta["model"])
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model
