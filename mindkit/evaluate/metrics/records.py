"""Tidy metric records, one dict per metric, for ``metrics.json`` and pandas.

:func:`metric_records` gives one model's metrics with percentile-bootstrap intervals
(:mod:`~.bootstrap`); :func:`paired_records` gives the paired difference of two models
(:mod:`~.paired`). Caller-chosen ``**fields`` (dataset, method, head, the run's ``seed``, ...)
are copied into every record, so the bootstrap knobs are spelled ``boot_seed`` and
``ci_alpha``; a field named like a record key raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mindkit.evaluate.metrics.bootstrap import boot_args, bootstrap_summary
from mindkit.evaluate.metrics.inputs import to_numpy
from mindkit.evaluate.metrics.paired import paired_bootstrap, prepare_pair

RESERVED_FIELDS = ("metric", "value", "ci_low", "ci_high", "n", "boot_undefined")
"""The keys of a :func:`metric_records` record."""

PAIRED_RESERVED_FIELDS = (
    "metric",
    "method_a",
    "method_b",
    "value",
    "ci_low",
    "ci_high",
    "p_a_better",
    "value_a",
    "value_b",
    "n",
    "boot_undefined",
)
"""The keys of a :func:`paired_records` record."""


def check_fields(fields: dict[str, Any], reserved: tuple[str, ...]) -> None:
    """``ValueError`` if a caller's record field would overwrite one of ``reserved``."""
    clash = [k for k in fields if k in reserved]
    if clash:
        raise ValueError(f"fields {clash} clash with record keys; reserved: {', '.join(reserved)}")


def _checked_labels(
    task: str, y_true: Any, metrics: list[str] | None, n_boot: int, ci_alpha: float,
    fields: dict[str, Any], reserved: tuple[str, ...],
) -> tuple[list[str], np.ndarray, bool]:
    """The checks both record functions make before scoring (record fields, metric names,
    bootstrap knobs, in this order): the metric names, ``y_true`` as an array, and whether it
    holds no samples (no records then)."""
    check_fields(fields, reserved)
    names, _ = boot_args(task, metrics, n_boot, ci_alpha)
    y = to_numpy(y_true, "y_true")
    return names, y, bool(y.shape and y.shape[0] == 0)


def metric_records(task: str, y_true: Any, scores: Any, *, metrics: list[str] | None = None,
                   n_boot: int = 1000, ci_alpha: float = 0.05, boot_seed: int = 0,
                   from_probs: bool = False, **fields: Any) -> list[dict[str, Any]]:
    """Tidy records, one per metric, for ``metrics.json`` and pandas.

    Each record is ``{**fields, "metric", "value", "ci_low", "ci_high", "n",
    "boot_undefined"}`` (``boot_undefined``: resamples where the metric was undefined, skipped
    by the CI), e.g.
    ``metric_records("binary", y, logits, dataset="pbc", method="mind", head="mm", seed=0)``
    (``seed`` there is a record field: the run's seed; ``boot_seed`` seeds the bootstrap and
    ``ci_alpha`` sets the CI level, so ``alpha``/``seed`` stay free for record fields).
    With no samples (``N == 0``) the result is ``[]``: a group with no samples has no metric.
    ``n_boot=0`` skips the bootstrap (``ci_low``/``ci_high`` are ``nan``).
    """
    names, y, empty = _checked_labels(task, y_true, metrics, n_boot, ci_alpha, fields,
                                      RESERVED_FIELDS)
    if empty:
        return []
    summary = bootstrap_summary(
        task, y, scores, names, n_boot=n_boot, ci_alpha=ci_alpha, boot_seed=boot_seed,
        from_probs=from_probs,
    )
    n = int(y.shape[0])
    return [
        {
            **fields,
            "metric": m,
            "value": s.value,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": n,
            "boot_undefined": s.n_undefined,
        }
        for m, s in summary.items()
    ]


def paired_records(task: str, y_true: Any, scores_a: Any, scores_b: Any, *, method_a: str,
                   method_b: str, metrics: list[str] | None = None, n_boot: int = 1000,
                   ci_alpha: float = 0.05, boot_seed: int = 0, from_probs: bool = False,
                   **fields: Any) -> list[dict[str, Any]]:
    """Tidy paired-difference records, one per metric (see :func:`~.paired.paired_bootstrap`).

    Each record is ``{**fields, "metric", "method_a", "method_b", "value" (= value_a -
    value_b), "ci_low", "ci_high", "p_a_better", "value_a", "value_b", "n",
    "boot_undefined"}``. ``[]`` when there are no samples.
    """
    names, y, empty = _checked_labels(task, y_true, metrics, n_boot, ci_alpha, fields,
                                      PAIRED_RESERVED_FIELDS)
    if empty:
        sa, sb = to_numpy(scores_a, "scores_a"), to_numpy(scores_b, "scores_b")
        if sa.shape != sb.shape:
            prepare_pair(task, y, sa, sb, from_probs)  # raises the shape error
        return []
    res = paired_bootstrap(
        task, y, scores_a, scores_b, names, n_boot=n_boot, ci_alpha=ci_alpha,
        boot_seed=boot_seed, from_probs=from_probs,
    )
    return [
        {
            **fields,
            "metric": m,
            "method_a": method_a,
            "method_b": method_b,
            "value": r["diff"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "p_a_better": r["p_a_better"],
            "value_a": r["value_a"],
            "value_b": r["value_b"],
            "n": r["n"],
            "boot_undefined": r["n_undefined"],
        }
        for m, r in res.items()
    ]
