"""Evaluation: task metrics with bootstrap confidence intervals, paired comparisons and tidy
records."""

from mindkit.evaluate.calibration import (
    calibration_records,
    ece_distribution,
    expected_calibration_error,
    per_label_table,
    reliability_table,
)
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
from mindkit.evaluate.profile import (
    PROFILE_BATCH_SIZES,
    profile_model,
    profile_models,
    profile_ratios,
    profile_records,
)

__all__ = [
    "PROFILE_BATCH_SIZES",
    "AVAILABLE_METRICS",
    "METRICS_BY_TASK",
    "BootstrapSummary",
    "MetricWarning",
    "bootstrap_ci",
    "bootstrap_distribution",
    "bootstrap_summary",
    "calibration_records",
    "compute_metrics",
    "ece_distribution",
    "expected_calibration_error",
    "higher_is_better",
    "metric_records",
    "paired_bootstrap",
    "paired_distribution",
    "paired_records",
    "per_label_table",
    "pooled_paired_difference",
    "primary_metric",
    "profile_model",
    "profile_models",
    "profile_ratios",
    "profile_records",
    "reliability_table",
]
