"""Task metrics, percentile-bootstrap confidence intervals, paired comparisons and tidy records.

Every metric is one :class:`Metric` in :data:`METRIC_REGISTRY` (name, tasks, direction, value
on all samples, vectorised values on bootstrap resamples); everything below looks metrics up
there, so a metric registered with :func:`register_metric` is known to all of it by name.
docs/statistics.md describes the statistics. Modules:

* :mod:`~.inputs`: the ``y_true``/``scores`` conventions per task and their validation;
* :mod:`~.registry`: :class:`Metric`, the registry and its views (:data:`AVAILABLE_METRICS`,
  :data:`METRICS_BY_TASK`, :func:`primary_metric`, :func:`higher_is_better`);
* :mod:`~.builtin`: the built-in metrics (accuracy, macro_f1, f1, auroc, auprc, nll);
* :mod:`~.point`: :func:`compute_metrics`, the metrics on all samples;
* :mod:`~.bootstrap`: resampling, :func:`bootstrap_distribution`, :func:`bootstrap_summary`,
  :func:`bootstrap_ci`;
* :mod:`~.paired`: :func:`paired_bootstrap`, :func:`paired_distribution`,
  :func:`pooled_paired_difference`;
* :mod:`~.records`: :func:`metric_records`, :func:`paired_records`.

The bootstrap knobs are ``n_boot``, ``ci_alpha`` and ``boot_seed`` throughout (``seed`` is
still accepted as a keyword alias of ``boot_seed`` outside the record functions, where
``seed`` is a record field).
"""

from mindkit.evaluate.metrics import builtin  # noqa: F401  (registers the built-in metrics)
from mindkit.evaluate.metrics.bootstrap import (
    BootstrapSummary,
    bootstrap_ci,
    bootstrap_distribution,
    bootstrap_summary,
)
from mindkit.evaluate.metrics.inputs import MetricWarning
from mindkit.evaluate.metrics.paired import (
    paired_bootstrap,
    paired_distribution,
    pooled_paired_bootstrap,
    pooled_paired_difference,
)
from mindkit.evaluate.metrics.point import compute_metrics
from mindkit.evaluate.metrics.records import metric_records, paired_records
from mindkit.evaluate.metrics.registry import (
    AVAILABLE_METRICS,
    METRIC_REGISTRY,
    METRICS_BY_TASK,
    Metric,
    MetricRegistry,
    get_metric,
    higher_is_better,
    primary_metric,
    register_metric,
    resolve_metrics,
    unregister_metric,
)

__all__ = [
    "AVAILABLE_METRICS",
    "METRICS_BY_TASK",
    "METRIC_REGISTRY",
    "BootstrapSummary",
    "Metric",
    "MetricRegistry",
    "MetricWarning",
    "bootstrap_ci",
    "bootstrap_distribution",
    "bootstrap_summary",
    "compute_metrics",
    "get_metric",
    "higher_is_better",
    "metric_records",
    "paired_bootstrap",
    "paired_distribution",
    "paired_records",
    "pooled_paired_bootstrap",
    "pooled_paired_difference",
    "primary_metric",
    "register_metric",
    "resolve_metrics",
    "unregister_metric",
]
