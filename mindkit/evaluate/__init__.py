"""Evaluation: task metrics with bootstrap confidence intervals and tidy records."""

from mindkit.evaluate.metrics import (
    AVAILABLE_METRICS,
    METRICS_BY_TASK,
    MetricWarning,
    bootstrap_ci,
    bootstrap_distribution,
    compute_metrics,
    higher_is_better,
    metric_records,
    primary_metric,
)

__all__ = [
    "AVAILABLE_METRICS",
    "METRICS_BY_TASK",
    "MetricWarning",
    "bootstrap_ci",
    "bootstrap_distribution",
    "compute_metrics",
    "higher_is_better",
    "metric_records",
    "primary_metric",
]
