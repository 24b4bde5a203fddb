"""The metric registry: one :class:`Metric` per metric, the only place a metric is defined.

A :class:`Metric` names the metric, the tasks it applies to (and those where it is reported by
default), whether higher is better, its value on all samples (``point``) and its values on a
chunk of bootstrap resamples (``boot``). Everything in :mod:`mindkit.evaluate.metrics` (point
values, bootstraps, paired comparisons, records) and every scorer outside it looks metrics up
here, so adding a metric is one :func:`register_metric` call (the built-in ones are in
:mod:`mindkit.evaluate.metrics.builtin`).

Derived views, always in step with the registry:

* :data:`AVAILABLE_METRICS` ``{task: names}``: every metric valid for the task, its defaults
  first, each part in registration order;
* :data:`METRICS_BY_TASK` ``{task: names}``: the default metrics of each task;
* :func:`primary_metric`: the headline metric of a task, its first default (``accuracy`` for
  multiclass, ``auroc`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mindkit.common import TASKS
from mindkit.evaluate.metrics.inputs import Prepared, Resamples, check_task


@dataclass(frozen=True)
class Metric:
    """One metric.

    ``point(p)`` is the value on all samples of a :class:`~.inputs.Prepared` ``p`` (``nan``
    where undefined). ``boot(p, r)`` gives the float64 ``[r.b]`` values on a chunk ``r`` of
    resamples (:class:`~.bootstrap.Resamples`: rows ``r.idx[b]``, row counts ``r.counts``),
    ``nan`` where a resample leaves the metric undefined; it must equal ``point`` on each
    resample's rows (vectorised). Without ``boot`` the bootstrap calls ``point`` on each
    resample's rows, exact but one call per resample. ``default_for`` lists the tasks (of
    ``tasks``) whose default metrics include this one.
    """

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    point: Callable[[Prepared], float]
    boot: Callable[[Prepared, Resamples], np.ndarray] | None = None
    default_for: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a metric needs a non-empty name, got {self.name!r}")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "default_for", tuple(self.default_for))
        if not self.tasks:
            raise ValueError(f"metric {self.name!r} applies to no task")
        for task in self.tasks:
            check_task(task)
        extra = [t for t in self.default_for if t not in self.tasks]
        if extra:
            raise ValueError(f"metric {self.name!r} is a default for {extra}, not in its tasks")


class MetricRegistry(Mapping[str, Metric]):
    """``{name: Metric}`` in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def __getitem__(self, name: str) -> Metric:
        return self._metrics[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def register(self, metric: Metric) -> Metric:
        """Add ``metric`` (``ValueError`` if its name is taken); returns it."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name!r} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def unregister(self, name: str) -> Metric:
        """Remove and return the metric ``name``."""
        return self._metrics.pop(name)

    def defaults(self, task: str) -> tuple[str, ...]:
        """The default metrics of ``task``, in registration order."""
        return tuple(m.name for m in self._metrics.values() if task in m.default_for)

    def available(self, task: str) -> tuple[str, ...]:
        """Every metric valid for ``task``: the defaults first, then the others."""
        rest = (m.name for m in self._metrics.values()
                if task in m.tasks and task not in m.default_for)
        return self.defaults(task) + tuple(rest)


METRIC_REGISTRY = MetricRegistry()
"""The registry every scorer in mindkit reads."""


def register_metric(metric: Metric) -> Metric:
    """Register ``metric`` in :data:`METRIC_REGISTRY`; returns it."""
    return METRIC_REGISTRY.register(metric)


def unregister_metric(name: str) -> Metric:
    """Remove the metric ``name`` from :data:`METRIC_REGISTRY` and return it."""
    return METRIC_REGISTRY.unregister(name)


def get_metric(name: str) -> Metric:
    """The registered metric ``name`` (``ValueError`` listing the valid names otherwise)."""
    try:
        return METRIC_REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; valid metrics: {', '.join(sorted(METRIC_REGISTRY))}"
        ) from None


class _TaskView(Mapping[str, tuple[str, ...]]):
    """``{task: metric names}`` read from the registry on each access."""

    def __init__(self, names: Callable[[str], tuple[str, ...]], doc: str) -> None:
        self._names = names
        self.__doc__ = doc

    def __getitem__(self, task: str) -> tuple[str, ...]:
        if task not in TASKS:
            raise KeyError(task)
        return self._names(task)

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS)

    def __len__(self) -> int:
        return len(TASKS)

    def __repr__(self) -> str:
        return repr(dict(self))


METRICS_BY_TASK: Mapping[str, tuple[str, ...]] = _TaskView(
    METRIC_REGISTRY.defaults, "Default metrics per task."
)
AVAILABLE_METRICS: Mapping[str, tuple[str, ...]] = _TaskView(
    METRIC_REGISTRY.available, "Every metric name valid for each task."
)


def primary_metric(task: str) -> str:
    """The headline metric of a task (its first default): ``accuracy`` for multiclass,
    ``auroc`` otherwise."""
    check_task(task)
    return METRICS_BY_TASK[task][0]


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (False only for ``nll``)."""
    return get_metric(metric).higher_is_better


def resolve_metrics(task: str, metrics: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """The metric names to compute for ``task``: ``metrics`` checked against
    :data:`AVAILABLE_METRICS` (``ValueError`` on an unknown or repeated name), or the task's
    defaults when ``None``."""
    check_task(task)
    if metrics is None:
        return list(METRICS_BY_TASK[task])
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    valid = AVAILABLE_METRICS[task]
    bad = [m for m in metrics if m not in valid]
    if bad:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, bad))} for task {task!r}; "
            f"valid metrics: {', '.join(valid)}"
        )
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"duplicate metric names in {metrics}")
    return metrics
