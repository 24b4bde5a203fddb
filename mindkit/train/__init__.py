"""Training: one Trainer, seeding, checkpoints, live plots, and where it all runs (devices)."""

from mindkit.device import DeviceError, module_device, move_model, resolve_device
from mindkit.train.checkpoint import load_model, read_meta, save_model
from mindkit.train.method import LossFnMethod, Method, Supervised
from mindkit.train.trainer import (
    Callback,
    ConvergenceWarning,
    History,
    RunInfo,
    TrainConfig,
    Trainer,
    seed_everything,
)

__all__ = [
    "Callback",
    "ConvergenceWarning",
    "DeviceError",
    "LossFnMethod",
    "Method",
    "RunInfo",
    "Supervised",
    "History",
    "TrainConfig",
    "Trainer",
    "load_model",
    "module_device",
    "move_model",
    "read_meta",
    "resolve_device",
    "save_model",
    "seed_everything",
]
