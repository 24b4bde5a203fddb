"""Paired comparisons: the difference between two models scored on the same samples.

:func:`paired_bootstrap` scores two models on the same resampled rows and reports the
difference ``a - b`` with a percentile CI and the share of resamples where ``a`` is better (in
the metric's direction, :attr:`~.registry.Metric.higher_is_better`; for ``nll``: lower).
Across independent runs (seeds), :func:`paired_distribution` gives each run's paired bootstrap
distributions and :func:`pooled_paired_difference` pools them: the mean over runs of the
difference, with a CI from the resample-wise means over runs. docs/statistics.md describes the
statistics; :mod:`~.records` turns paired results into tidy records.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mindkit.evaluate.metrics.bootstrap import (
    boot_args,
    check_ci_alpha,
    distributions,
    percentiles,
    points_and_distributions,
)
from mindkit.evaluate.metrics.inputs import Prepared, check_task, prepare, to_numpy
from mindkit.evaluate.metrics.registry import METRIC_REGISTRY, higher_is_better


def prepare_pair(
    task: str, y_true: Any, scores_a: Any, scores_b: Any, from_probs: bool
) -> tuple[Prepared, Prepared]:
    """Both models' validated inputs (``ValueError`` on different shapes or no samples)."""
    check_task(task)
    sa = to_numpy(scores_a, "scores_a")
    sb = to_numpy(scores_b, "scores_b")
    if sa.shape != sb.shape:
        raise ValueError(
            f"paired comparison needs scores of the same shape: scores_a has shape "
            f"{list(sa.shape)}, scores_b {list(sb.shape)} (both models must score the same "
            "samples and labels/classes)"
        )
    y = to_numpy(y_true, "y_true")
    pa = prepare(task, y, sa, from_probs)
    pb = prepare(task, y, sb, from_probs)
    if pa.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return pa, pb


def _difference_interval(
    d: np.ndarray, ci_alpha: float, higher_better: bool
) -> tuple[float, float, float]:
    """The percentile interval of the resampled differences ``d`` (``a - b``, defined ones
    only) and the share of them favouring ``a``: ``(ci_low, ci_high, p_a_better)``, all
    ``nan`` when ``d`` is empty."""
    lo, hi = percentiles(d, ci_alpha)
    if d.size:
        p_better = float(np.mean(d > 0) if higher_better else np.mean(d < 0))
    else:
        p_better = float("nan")
    return lo, hi, p_better


def _paired_stats(
    point_a: float,
    point_b: float,
    dist_a: np.ndarray,
    dist_b: np.ndarray,
    ci_alpha: float,
    higher_better: bool,
) -> dict[str, Any]:
    ok = np.isfinite(dist_a) & np.isfinite(dist_b)
    lo, hi, p_better = _difference_interval(dist_a[ok] - dist_b[ok], ci_alpha, higher_better)
    return {
        "diff": float(point_a - point_b),
        "ci_low": lo,
        "ci_high": hi,
        "p_a_better": p_better,
        "n_boot": int(dist_a.shape[0]),
        "n_undefined": int(dist_a.shape[0] - ok.sum()),
    }


def paired_bootstrap(task: str, y_true: Any, scores_a: Any, scores_b: Any,
                     metrics: list[str] | None = None, n_boot: int = 1000,
                     ci_alpha: float = 0.05, boot_seed: int = 0, *, from_probs: bool = False,
                     seed: int | None = None) -> dict[str, dict[str, Any]]:
    """Paired percentile bootstrap of ``metric(a) - metric(b)`` on the same samples.

    Both models are scored on the same resampled rows (resample ``b`` is row ``b`` of
    ``np.random.default_rng(boot_seed).integers(0, N, size=(n_boot, N))``; ``seed`` is an
    alias of ``boot_seed``). Returns, per metric, ``{"diff", "ci_low", "ci_high",
    "p_a_better", "n_boot", "n_undefined", "n", "value_a", "value_b"}``: ``diff = value_a -
    value_b`` on all samples; the CI holds the ``ci_alpha / 2`` and ``1 - ci_alpha / 2``
    percentiles of the per-resample difference; ``p_a_better`` is the share of defined
    resamples where ``a`` is strictly better (higher, or lower for ``nll``; the difference
    itself stays ``a - b``); ``n_undefined`` counts the resamples where either model's metric
    is undefined, which are skipped. CI bounds and ``p_a_better`` are ``nan`` when no resample
    is defined (or ``n_boot == 0``). ``scores_a`` and ``scores_b`` must have the same shape
    (``ValueError`` otherwise).
    """
    names, boot_seed = boot_args(task, metrics, n_boot, ci_alpha, boot_seed, seed)
    pa, pb = prepare_pair(task, y_true, scores_a, scores_b, from_probs)
    (point_a, point_b), (dist_a, dist_b) = points_and_distributions(
        [pa, pb], names, n_boot, boot_seed
    )
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        stats = _paired_stats(
            point_a[m], point_b[m], dist_a[m], dist_b[m], ci_alpha, higher_is_better(m)
        )
        out[m] = {**stats, "n": pa.n, "value_a": point_a[m], "value_b": point_b[m]}
    return out


def paired_distribution(
    task: str,
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    metric: str,
    n_boot: int = 1000,
    boot_seed: int = 0,
    *,
    from_probs: bool = False,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(point_a, point_b, dist_a, dist_b)`` of one metric for two models on the same
    samples: the values on all samples and the float64 ``[n_boot]`` per-resample values, both
    models on the same resamples (``nan`` where undefined). The input of
    :func:`pooled_paired_difference`, one call per independent run."""
    (name,), boot_seed = boot_args(task, [metric], n_boot, None, boot_seed)
    pa, pb = prepare_pair(task, y_true, scores_a, scores_b, from_probs)
    dist_a, dist_b = distributions([pa, pb], [name], int(n_boot), boot_seed)
    point = METRIC_REGISTRY[name].point
    return point(pa), point(pb), dist_a[name], dist_b[name]


def pooled_paired_difference(
    dists_a: list[np.ndarray],
    dists_b: list[np.ndarray],
    points_a: list[float],
    points_b: list[float],
    ci_alpha: float = 0.05,
    *,
    metric: str | None = None,
) -> dict[str, Any]:
    """Pool the paired bootstraps of several independent runs (seeds) of a comparison.

    Run ``k`` gives ``points_a[k]``/``points_b[k]`` (the metric of each model on all its test
    samples) and ``dists_a[k]``/``dists_b[k]`` (float ``[n_boot]``, both models on the same
    resamples, as :func:`paired_distribution` returns; every run with the same ``n_boot``).
    Returns ``{"diff", "ci_low", "ci_high", "p_a_better", "n_runs", "n_boot",
    "n_undefined"}``: ``diff`` is the mean over runs of ``point_a - point_b``; the CI holds the
    percentiles of the resample-wise mean over runs of ``dist_a - dist_b``, skipping the
    ``n_undefined`` resample indices undefined (``nan``) in any run; ``p_a_better`` is the
    share of those means favouring ``a``. ``metric`` sets the direction of ``p_a_better``
    (lower is better for ``nll``); without it higher is better.
    """
    check_ci_alpha(ci_alpha)
    k = len(dists_a)
    if not (k == len(dists_b) == len(points_a) == len(points_b)):
        raise ValueError(
            f"one entry per run in each argument: got {len(dists_a)} dists_a, {len(dists_b)} "
            f"dists_b, {len(points_a)} points_a, {len(points_b)} points_b"
        )
    if k == 0:
        raise ValueError("no runs to pool")
    da = [np.asarray(d, dtype=np.float64) for d in dists_a]
    db = [np.asarray(d, dtype=np.float64) for d in dists_b]
    shapes = {d.shape for d in da + db}
    if len(shapes) != 1 or next(iter(shapes)) != (da[0].size,):
        raise ValueError(
            "every run's dists_a and dists_b must be 1-d arrays of the same length (n_boot), "
            f"got shapes {[list(d.shape) for d in da]} and {[list(d.shape) for d in db]}"
        )
    higher_better = True if metric is None else higher_is_better(metric)
    diff = float(
        np.mean(np.asarray(points_a, dtype=np.float64) - np.asarray(points_b, dtype=np.float64))
    )
    d = np.stack(da) - np.stack(db)  # [runs, n_boot]
    ok = np.isfinite(d).all(axis=0)
    means = d[:, ok].mean(axis=0)
    lo, hi, p_better = _difference_interval(means, ci_alpha, higher_better)
    n_boot = int(d.shape[1])
    return {
        "diff": diff,
        "ci_low": lo,
        "ci_high": hi,
        "p_a_better": p_better,
        "n_runs": k,
        "n_boot": n_boot,
        "n_undefined": int(n_boot - ok.sum()),
    }


def pooled_paired_bootstrap(runs, metric: str, n_boot: int = 1000,
                            ci_alpha: float = 0.05) -> dict[str, Any]:
    """:func:`paired_distribution` of each independent run, pooled by
    :func:`pooled_paired_difference`: the one loop behind every pooled comparison (over seeds,
    sweep runs, availability patterns). ``runs``: ``(task, y_true, probs_a, probs_b, boot_seed)``
    per run, both models' probabilities on the same samples."""
    pts_a, pts_b, d_a, d_b = [], [], [], []
    for task, y, probs_a, probs_b, boot_seed in runs:
        pa, pb, da, db = paired_distribution(task, y, probs_a, probs_b, metric, n_boot,
                                             int(boot_seed), from_probs=True)
        pts_a.append(pa)
        pts_b.append(pb)
        d_a.append(da)
        d_b.append(db)
    return pooled_paired_difference(d_a, d_b, pts_a, pts_b, ci_alpha, metric=metric)
