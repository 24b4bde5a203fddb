"""The model types a saved config can name (``config["type"]``), each registered by its own
module with the function that rebuilds a freshly initialised model from the config's other
fields. :func:`mindkit.models.build.build_model` looks them up; a new model is one registration
beside its class."""

from __future__ import annotations

from typing import Callable

from torch import nn

from mindkit.registry import Registry

MODEL_TYPES: Registry[Callable[[dict], nn.Module]] = Registry("model type")
register_model_type = MODEL_TYPES.register

__all__ = ["MODEL_TYPES", "register_model_type"]
