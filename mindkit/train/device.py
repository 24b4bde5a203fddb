"""Where models train and predict (re-exported): the resolver lives in :mod:`mindkit.device`,
below the models and the training loop (docs/architecture.md, "Layers"), so that models,
evaluation and explanation use it without importing :mod:`mindkit.train`. This path stays
for the notebooks and user code that import it from here."""

from mindkit.device import (
    AMP_CHOICES,
    DEVICE_CHOICES,
    SPLIT_MEMORY_SHARE,
    DeviceError,
    autocast,
    check_amp,
    free_memory_bytes,
    module_device,
    move_model,
    parse_device,
    place_split,
    resolve_device,
)

__all__ = ["AMP_CHOICES", "DEVICE_CHOICES", "DeviceError", "SPLIT_MEMORY_SHARE", "autocast",
           "check_amp", "free_memory_bytes", "module_device", "move_model", "parse_device",
           "place_split", "resolve_device"]
