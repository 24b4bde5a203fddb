"""Point values: the registered metrics on all the samples given."""

from __future__ import annotations

from typing import Any

from mindkit.evaluate.metrics.inputs import prepare_nonempty
from mindkit.evaluate.metrics.registry import METRIC_REGISTRY, resolve_metrics


def compute_metrics(
    task: str,
    y_true: Any,
    scores: Any,
    metrics: list[str] | None = None,
    *,
    from_probs: bool = False,
) -> dict[str, float]:
    """Metrics of one set of predictions, as ``{name: value}``.

    ``scores`` are logits (``[N, C]`` multiclass, ``[N, L]`` binary/multilabel) unless
    ``from_probs=True``. ``metrics`` defaults to ``METRICS_BY_TASK[task]``; see
    :mod:`mindkit.evaluate.metrics.builtin` for their definitions. An undefined metric (AUROC
    with one class only) is ``nan``. Raises ``ValueError`` for an unknown task or metric,
    mismatched shapes, or no samples.
    """
    names = resolve_metrics(task, metrics)
    p = prepare_nonempty(task, y_true, scores, from_probs)
    return {m: METRIC_REGISTRY[m].point(p) for m in names}
