"""Datasets that follow the batch contract of :mod:`mindkit.data.base`.

``load(name, **options)`` builds a registered dataset; ``available()`` lists the names.
"""

from __future__ import annotations

# importing the modules registers their datasets
from mindkit.data import avdigits as _avdigits  # noqa: F401,E402
from mindkit.data import avdigits3 as _avdigits3  # noqa: F401,E402
from mindkit.data import mimic as _mimic  # noqa: F401,E402
from mindkit.data import pbc as _pbc  # noqa: F401,E402
from mindkit.data import synthetic as _synthetic  # noqa: F401,E402
from mindkit.data.base import (
    Batch,
    ModalitySpec,
    MultimodalDataset,
    Split,
    iterate_batches,
)
from mindkit.data.registry import DATASETS, available, load

__all__ = [
    "Batch",
    "ModalitySpec",
    "MultimodalDataset",
    "Split",
    "iterate_batches",
    "DATASETS",
    "available",
    "load",
]
