"""Percentile-bootstrap distributions and confidence intervals of the registered metrics.

Resample ``b`` uses row ``b`` of ``np.random.default_rng(boot_seed).integers(0, N,
size=(n_boot, N))``, so two models evaluated on the same ``N`` samples with the same seed see
the same resamples. The draws are made in chunks of resamples (:class:`Resamples`, at most
:data:`CHUNK_ENTRIES` resample-sample entries each), which bounds memory without changing the
resamples drawn; each metric's ``boot`` function scores a whole chunk at once.

A resample where a metric is undefined (macro AUROC/AUPRC: a label of the fixed label set has
one class only in it) holds ``nan``; the intervals skip such resamples and count them
(``n_undefined`` of :class:`BootstrapSummary`, ``boot_undefined`` of the records).

Knobs: ``ci_alpha`` (the interval holds the ``ci_alpha / 2`` and ``1 - ci_alpha / 2``
percentiles) and ``boot_seed``; ``seed`` is still accepted as a keyword alias of
``boot_seed``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from mindkit.evaluate.metrics.inputs import MetricWarning, Prepared, Resamples, prepare_nonempty
from mindkit.evaluate.metrics.registry import METRIC_REGISTRY, Metric, resolve_metrics

CHUNK_ENTRIES = 2_000_000
"""Most (resample, sample) entries drawn at once."""


def iter_resamples(n: int, n_boot: int, boot_seed: int) -> Iterator[Resamples]:
    """The ``n_boot`` resamples of ``n`` rows for ``boot_seed``, in chunks."""
    rng = np.random.default_rng(boot_seed)
    chunk = max(1, min(n_boot, CHUNK_ENTRIES // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        yield Resamples(rng.integers(0, n, size=(b, n)), n)
        done += b


def check_ci_alpha(ci_alpha: float) -> None:
    """``ValueError`` unless ``ci_alpha`` lies in (0, 1)."""
    if not 0.0 < ci_alpha < 1.0:
        raise ValueError(f"ci_alpha must lie in (0, 1), got {ci_alpha!r}")


def check_boot_args(n_boot: int, ci_alpha: float | None = None) -> None:
    """``ValueError`` unless ``n_boot`` is a non-negative integer and ``ci_alpha`` in (0, 1)."""
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if ci_alpha is not None:
        check_ci_alpha(ci_alpha)


def seed_alias(boot_seed: int, seed: int | None) -> int:
    """``boot_seed``, or ``seed`` where a caller used that older keyword."""
    if seed is None:
        return boot_seed
    if boot_seed != 0:
        raise TypeError("pass boot_seed or its alias seed, not both")
    return seed


def boot_args(task: str, metrics: list[str] | None, n_boot: int, ci_alpha: float | None = None,
              boot_seed: int = 0, seed: int | None = None) -> tuple[list[str], int]:
    """The checks every bootstrap entry point makes first, in this order: the seed alias
    (:func:`seed_alias`), the metric names (:func:`resolve_metrics`) and ``n_boot``/``ci_alpha``
    (:func:`check_boot_args`; ``ci_alpha=None`` leaves it unchecked). Returns the metric names
    and the bootstrap seed."""
    boot_seed = seed_alias(boot_seed, seed)
    names = resolve_metrics(task, metrics)
    check_boot_args(n_boot, ci_alpha)
    return names, boot_seed


def percentiles(vals: np.ndarray, ci_alpha: float) -> tuple[float, float]:
    """``ci_alpha / 2`` and ``1 - ci_alpha / 2`` percentiles of ``vals`` (nan, nan when empty)."""
    if vals.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [100 * ci_alpha / 2, 100 * (1 - ci_alpha / 2)])
    return float(lo), float(hi)


def resample_values(metric: Metric, p: Prepared, r: Resamples) -> np.ndarray:
    """``metric`` on each resample of the chunk ``r``: float64 ``[r.b]``."""
    if metric.boot is not None:
        return metric.boot(p, r)
    with warnings.catch_warnings():  # point() on each resample's rows
        warnings.simplefilter("ignore", MetricWarning)
        return np.array([metric.point(p.subset(rows)) for rows in r.idx], dtype=np.float64)


def distributions(
    ps: list[Prepared], names: list[str], n_boot: int, boot_seed: int
) -> list[dict[str, np.ndarray]]:
    """Per-resample metrics of each prepared input (all with the same ``N``) on the same
    resamples, drawn once: ``[{name: float64[n_boot]}]``, one dict per input."""
    out: list[dict[str, list[np.ndarray]]] = [{m: [] for m in names} for _ in ps]
    for r in iter_resamples(ps[0].n, n_boot, boot_seed):
        for i, p in enumerate(ps):
            # a fresh chunk object per input: the chunk caches per-input counts
            ri = r if i == 0 else Resamples(r.idx, r.n)
            for m in names:
                out[i][m].append(resample_values(METRIC_REGISTRY[m], p, ri))
    return [
        {m: np.concatenate(v) if v else np.empty(0, dtype=np.float64) for m, v in o.items()}
        for o in out
    ]


def points_and_distributions(
    ps: list[Prepared], names: list[str], n_boot: int, boot_seed: int
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    """Each metric on all samples (``[{name: value}]``) and on each resample (as
    :func:`distributions`) of each prepared input, one dict per input, all inputs on the same
    resamples."""
    points = [{m: METRIC_REGISTRY[m].point(p) for m in names} for p in ps]
    return points, distributions(ps, names, int(n_boot), boot_seed)


def bootstrap_distribution(task: str, y_true: Any, scores: Any, metrics: list[str] | None = None,
                           n_boot: int = 1000, boot_seed: int = 0, *, from_probs: bool = False,
                           seed: int | None = None) -> dict[str, np.ndarray]:
    """Each metric on each of ``n_boot`` bootstrap resamples: ``{name: float64[n_boot]}``.

    A resample where the metric is undefined holds ``nan``. Equal ``boot_seed`` (alias
    ``seed``) and sample counts give paired resamples across models.
    """
    names, boot_seed = boot_args(task, metrics, n_boot, None, boot_seed, seed)
    p = prepare_nonempty(task, y_true, scores, from_probs)
    return distributions([p], names, int(n_boot), boot_seed)[0]


@dataclass(frozen=True)
class BootstrapSummary:
    """One metric's point estimate and percentile-bootstrap interval.

    ``n_undefined`` counts the resamples (of ``n_boot``) where the metric was undefined and
    which the interval therefore skips; it is 0 for the metrics that are always defined.
    """

    value: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_undefined: int

    def as_tuple(self) -> tuple[float, float, float]:
        """``(value, ci_low, ci_high)``, the shape :func:`bootstrap_ci` returns."""
        return (self.value, self.ci_low, self.ci_high)


def bootstrap_summary(task: str, y_true: Any, scores: Any, metrics: list[str] | None = None,
                      n_boot: int = 1000, ci_alpha: float = 0.05, boot_seed: int = 0, *,
                      from_probs: bool = False, seed: int | None = None
                      ) -> dict[str, BootstrapSummary]:
    """``{name: BootstrapSummary(value, ci_low, ci_high, n_boot, n_undefined)}``.

    The point estimate is the metric on all samples (as :func:`~.point.compute_metrics`); the
    interval holds the ``ci_alpha / 2`` and ``1 - ci_alpha / 2`` percentiles of the metric over
    ``n_boot`` resamples of the rows (with replacement), skipping the ``n_undefined`` resamples
    where the metric is undefined. The bounds are ``nan`` when ``n_boot == 0`` or no resample
    is defined. ``seed`` is an alias of ``boot_seed``.
    """
    names, boot_seed = boot_args(task, metrics, n_boot, ci_alpha, boot_seed, seed)
    p = prepare_nonempty(task, y_true, scores, from_probs)
    (point,), (dist,) = points_and_distributions([p], names, n_boot, boot_seed)
    out: dict[str, BootstrapSummary] = {}
    for m in names:
        ok = np.isfinite(dist[m])
        lo, hi = percentiles(dist[m][ok], ci_alpha)
        out[m] = BootstrapSummary(point[m], lo, hi, int(n_boot), int(n_boot - ok.sum()))
    return out


def bootstrap_ci(task: str, y_true: Any, scores: Any, metrics: list[str] | None = None,
                 n_boot: int = 1000, ci_alpha: float = 0.05, boot_seed: int = 0, *,
                 from_probs: bool = False, seed: int | None = None
                 ) -> dict[str, tuple[float, float, float]]:
    """``{name: (point estimate, ci_low, ci_high)}`` with a percentile bootstrap.

    As :func:`bootstrap_summary` (which also returns the count of undefined resamples), as
    plain tuples.
    """
    summary = bootstrap_summary(task, y_true, scores, metrics, n_boot, ci_alpha,
                                seed_alias(boot_seed, seed), from_probs=from_probs)
    return {m: s.as_tuple() for m, s in summary.items()}
