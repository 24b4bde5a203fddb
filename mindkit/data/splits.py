"""Split helpers shared by the dataset builders."""

from __future__ import annotations

import numpy as np

from mindkit.common import check_number


def stratified_split_index(strata: np.ndarray, fractions: tuple[float, float, float],
                           rng: np.random.Generator) -> np.ndarray:
    """Split index per item (0 train, 1 val, 2 test), stratified by ``strata``.

    Within each stratum the items are shuffled with ``rng``; ``round(fraction * count)`` go to
    val and to test, the rest to train (``fractions`` = train, val, test; train's share is what
    remains).
    """
    out = np.empty(len(strata), dtype=np.int64)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        n_train = len(idx) - n_val - n_test
        out[idx[:n_train]] = 0
        out[idx[n_train : n_train + n_val]] = 1
        out[idx[n_train + n_val :]] = 2
    return out


def split_fractions(val_fraction: float, test_fraction: float) -> tuple[float, float, float]:
    """``(train, val, test)`` shares from the val and test options; a ValueError naming the
    option unless each is a finite number in ``[0, 1)`` and together they leave train a
    positive share."""
    val = check_number("val_fraction", val_fraction, 0.0, 1.0, high_open=True)
    test = check_number("test_fraction", test_fraction, 0.0, 1.0, high_open=True)
    fr = (1.0 - val - test, val, test)
    if fr[0] <= 0:
        raise ValueError(f"val_fraction + test_fraction must be < 1 (train needs a positive "
                         f"share), got {val:g} + {test:g} = {val + test:g}")
    return fr


def check_seed(seed) -> int:
    """``seed`` as an int if it is a whole number >= 0 (what numpy's seeding accepts); else a
    ValueError naming it."""
    return check_number("seed", seed, 0, integer=True)
