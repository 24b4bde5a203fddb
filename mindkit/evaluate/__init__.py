"""Evaluation: task metrics with bootstrap confidence intervals, paired comparisons and tidy
records."""

from mindkit.evaluate.metrics import (
    AVAILABLE_METRICS,
    METRICS_BY_TASK,
    BootstrapSummary,
    MetricWarning,
    bootstrap_ci,
    bootstrap_distribution,
    bootstrap_summary,
    compute_metrics,
    higher_is_better,
    metric_records,
    paired_bootstrap,
    paired_distribution,
    paired_records,
    pooled_paired_difference,
    primary_metric,
)

__all__ = [
    "AVAILABLE_METRICS",
    "METRICS_BY_TASK",
    "BootstrapSummary",
    "MetricWarning",
    "bootstrap_ci",
    "bootstrap_distribution",
    "bootstrap_summary",
    "compute_metrics",
    "higher_is_better",
    "metric_records",
    "paired_bootstrap",
    "paired_distribution",
    "paired_records",
    "pooled_paired_difference",
    "primary_metric",
]
