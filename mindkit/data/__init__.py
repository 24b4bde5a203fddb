"""Datasets that follow the batch contract of :mod:`mindkit.data.base`.

``load(name, **options)`` builds a registered dataset, or reads a dataset folder when ``name`` is
the path of one (:mod:`mindkit.data.folder`); ``available()`` lists the names.
:func:`from_arrays` builds a dataset from a researcher's own arrays (docs/your-data.md).
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
from mindkit.data.user import DataError, from_arrays

__all__ = [
    "Batch",
    "ModalitySpec",
    "MultimodalDataset",
    "Split",
    "iterate_batches",
    "DATASETS",
    "DataError",
    "available",
    "from_arrays",
    "load",
]
