"""Training: one Trainer, seeding, checkpoints, live plots."""

from mindkit.train.checkpoint import load_model, read_meta, save_model
from mindkit.train.trainer import Callback, History, TrainConfig, Trainer, seed_everything

__all__ = [
    "Callback",
    "History",
    "TrainConfig",
    "Trainer",
    "load_model",
    "read_meta",
    "save_model",
    "seed_everything",
]
