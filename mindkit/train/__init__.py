"""Training: one Trainer, seeding, checkpoints, live plots."""

from mindkit.train.checkpoint import load_model, read_meta, save_model
from mindkit.train.method import LossFnMethod, Method, Supervised
from mindkit.train.trainer import (
    Callback,
    ConvergenceWarning,
    History,
    TrainConfig,
    Trainer,
    seed_everything,
)

__all__ = [
    "Callback",
    "ConvergenceWarning",
    "LossFnMethod",
    "Method",
    "Supervised",
    "History",
    "TrainConfig",
    "Trainer",
    "load_model",
    "read_meta",
    "save_model",
    "seed_everything",
]
