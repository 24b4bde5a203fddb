"""Scores under every availability pattern, and paired differences between methods per pattern.

The pooled-bottleneck paper reports each method under all ``2^M - 1`` availability patterns of
its M modalities. Here a pattern is scored exactly so: the **scored samples** are the split's
samples that have every modality (``group="complete"``), each is given to the model with only the
pattern's modalities present (the others marked absent, their inputs NaN-filled so a model that
read them would fail loudly: :func:`mindkit.evaluate.robustness.absent_split`), and the model's own
routed prediction is scored. Every method and every pattern is therefore scored on the same
samples, so differences are paired (docs/statistics.md): :func:`availability_differences` runs
the paired bootstrap per seed, and :func:`pooled_availability_differences` pools those over
seeds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mindkit.data.base import Split, validate_for_model
from mindkit.device import move_model
from mindkit.evaluate.metrics import (
    metric_records,
    paired_records,
    pooled_paired_bootstrap,
    resolve_metrics,
)
from mindkit.evaluate.robustness import RoutedPredictions, routed_labels, routed_presence

GROUP = "complete"  # the scored samples: every modality present in the split


def availability_patterns(modalities: Sequence[str]) -> list[str]:
    """Every non-empty subset of ``modalities`` as ``"a+b"`` (sorted names), the full set first,
    then pairs, then single modalities."""
    mods = sorted(modalities)
    return ["+".join(c) for r in range(len(mods), 0, -1) for c in itertools.combinations(mods, r)]


@dataclass
class AvailabilityResult:
    """``records``: one per model, pattern and metric (with a bootstrap CI); ``probs[(model,
    pattern)]``: the routed probabilities on the scored samples; ``y`` and ``ids`` of those."""

    records: list[dict] = field(default_factory=list)
    probs: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    y: np.ndarray | None = None
    ids: np.ndarray | None = None
    task: str = ""
    patterns: list[str] = field(default_factory=list)  # in availability_patterns order

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.records)


def availability_scores(models: dict, split: Split, task: str,
                        metrics: Sequence[str] | None = None, n_boot: int = 1000,
                        boot_seed: int = 0, device=None, **fields) -> AvailabilityResult:
    """Score every model (``{name: model}`` with ``forward_batch`` and ``route``) under every
    availability pattern (module docstring). Records carry ``statistic="availability"``,
    ``method``, ``model``, ``head="routed"``, ``pattern``, ``group="complete"``, ``n`` and
    ``split``; ``fields`` are added (e.g. ``dataset``, ``seed``). ``split`` is checked first
    against each model (:func:`~mindkit.data.base.validate_for_model`). Each model predicts where
    it is, or on ``device`` (a device option: the models are moved there in place); the
    probabilities are scored on the CPU."""
    split = split.to("cpu")
    for name, model in models.items():
        validate_for_model(split, model, task, f"availability_scores ({name})")
        move_model(model, device)
    mods, pres = routed_presence(split.present)
    if len(mods) < 2:
        raise ValueError("availability patterns need at least two modalities")
    rows = np.flatnonzero(pres.all(1))
    if not rows.size:
        raise ValueError(f"split {split.name!r} has no sample with every modality {mods}; "
                         "availability patterns are scored on those")
    names = resolve_metrics(task, list(metrics) if metrics else None)
    y = routed_labels(split, task)[rows]
    ids = split.ids.cpu().numpy()[rows] if split.ids is not None else rows
    out = AvailabilityResult(y=y, ids=ids, task=task, patterns=availability_patterns(mods))
    base = {"split": split.name, "head": "routed", "statistic": "availability", "group": GROUP,
            **fields}
    for name, model in models.items():
        pred = RoutedPredictions(model, split, task)
        for pattern in out.patterns:
            kept = set(pattern.split("+"))
            probs = pred.with_absent(frozenset(set(mods) - kept))[rows]
            if not np.isfinite(probs).all():
                raise ValueError(f"{name}: non-finite predictions with only {pattern}: the model "
                                 "read a withheld (NaN-filled) input")
            out.probs[(name, pattern)] = probs
            out.records += metric_records(task, y, probs, metrics=names, n_boot=n_boot,
                                          boot_seed=boot_seed, from_probs=True,
                                          **{**base, "method": name,
                                             "model": type(model).__name__, "pattern": pattern})
    return out


def availability_differences(result: AvailabilityResult, reference: str,
                             others: Sequence[str] | None = None,
                             metrics: Sequence[str] | None = None, n_boot: int = 1000,
                             boot_seed: int = 0, **fields) -> list[dict]:
    """Paired bootstrap of ``reference`` minus each other model, per pattern, on the same
    samples and resamples: records with ``method_a``, ``method_b``, ``pattern``,
    ``p_a_better`` (share of resamples where ``reference`` is better) and the CI."""
    models = sorted({m for m, _ in result.probs})
    if reference not in models:
        raise ValueError(f"no model {reference!r}; scored models are {models}")
    others = [m for m in (others or models) if m != reference]
    out = []
    for other in others:
        for pattern in result.patterns:
            out += paired_records(result.task, result.y, result.probs[(reference, pattern)],
                                  result.probs[(other, pattern)], method_a=reference,
                                  method_b=other, metrics=list(metrics) if metrics else None,
                                  n_boot=n_boot, boot_seed=boot_seed, from_probs=True,
                                  **{"statistic": "availability_difference", "group": GROUP,
                                     "pattern": pattern, "method": f"{reference} - {other}",
                                     "model": "difference", "head": "routed", **fields})
    return out


def pooled_availability_differences(results: Sequence[AvailabilityResult], reference: str,
                                    others: Sequence[str], metric: str, n_boot: int = 1000,
                                    **fields) -> list[dict]:
    """Per pattern, ``reference`` minus each of ``others`` pooled over independent runs
    (seeds): the mean over runs of the per-run difference, with the CI of the resample-wise
    mean of each run's paired bootstrap (:func:`pooled_paired_difference`; run ``k`` resamples
    with seed ``k``). Give the runs' seeds as ``seed="0,1,2"`` in ``fields`` so the record
    names them."""
    if not results:
        raise ValueError("no runs to pool")
    out = []
    for other in others:
        for pattern in results[0].patterns:
            pooled = pooled_paired_bootstrap(
                [(r.task, r.y, r.probs[(reference, pattern)], r.probs[(other, pattern)], k)
                 for k, r in enumerate(results)], metric, n_boot)
            out.append({"head": "routed", **fields,
                        "statistic": "availability_difference_pooled", "group": GROUP,
                        "pattern": pattern, "metric": metric,
                        "method": f"{reference} - {other}", "model": "difference",
                        "method_a": reference, "method_b": other, "value": pooled["diff"],
                        "ci_low": pooled["ci_low"], "ci_high": pooled["ci_high"],
                        "p_a_better": pooled["p_a_better"], "n_runs": pooled["n_runs"],
                        "n": int(sum(len(r.y) for r in results)),
                        "boot_undefined": pooled["n_undefined"]})
    return out


__all__ = ["GROUP", "AvailabilityResult", "availability_differences", "availability_patterns",
           "availability_scores", "pooled_availability_differences"]
