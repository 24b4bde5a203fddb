"""Degradation steps shared by the digit datasets (:mod:`mindkit.data.avdigits` and
:mod:`mindkit.data.avdigits3`), written once so that an option means the same for every modality:
a difficulty level resolved into its sub-options, the number of principal components that keep a
share of the variance, and one square patch zeroed per image at a seeded position.
"""

from __future__ import annotations

import numpy as np

from mindkit.common import check_choice


def level_options(levels: dict[str, dict[str, float]], difficulty: str,
                  given: dict[str, float | None]) -> dict[str, float | None]:
    """The sub-options ``given`` with each ``None`` replaced by the ``difficulty`` level's value
    (an explicit sub-option overrides the level); a ValueError for an unknown level."""
    check_choice("difficulty", difficulty, sorted(levels))
    level = levels[difficulty]
    return {k: (level[k] if v is None else v) for k, v in given.items()}


def n_components(evals: np.ndarray, energy: float) -> int:
    """How many of the leading principal components (``evals`` in decreasing order, none
    negative) hold at least the share ``energy`` of the variance."""
    return int(np.searchsorted(np.cumsum(evals) / evals.sum(), energy) + 1)


def occlude(images: np.ndarray, size: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """Square ``side`` x ``side`` images (``[N, side * side]``) with one ``size`` x ``size``
    patch per image set to 0, at a position drawn from ``rng`` (one draw per image, in order);
    ``images`` itself when ``size`` is 0."""
    if size <= 0:
        return images
    size = min(int(size), side)
    pos = rng.integers(0, side - size + 1, size=(images.shape[0], 2))
    ax = np.arange(side)
    r_in = (ax[None, :] >= pos[:, :1]) & (ax[None, :] < pos[:, :1] + size)
    c_in = (ax[None, :] >= pos[:, 1:]) & (ax[None, :] < pos[:, 1:] + size)
    mask = (r_in[:, :, None] & c_in[:, None, :]).reshape(-1, side * side)
    return np.where(mask, 0.0, images).astype(np.float32)
