"""Notebook 06's study: methods trained per seed, scored under every availability pattern,
compared pairwise with a reference, with the gradient-modulation logs kept for the curves.

:func:`availability_study` trains (or reuses, :func:`mindkit.studies.models.models_for_seed`) each
method for each seed, scores every method on the same test samples (those with every modality)
under each availability pattern (:mod:`mindkit.evaluate.availability`), and returns tidy records:
per-seed scores with bootstrap CIs, per-seed paired differences against ``reference``, the same
differences pooled over seeds, and for methods that modulate gradients their per-step log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from mindkit.distill.methods import parse_method
from mindkit.evaluate.aggregate import seed_aggregate
from mindkit.evaluate.availability import (
    availability_differences,
    availability_patterns,
    availability_scores,
    pooled_availability_differences,
)
from mindkit.evaluate.metrics import higher_is_better, primary_metric
from mindkit.studies.jobs import pretrain
from mindkit.studies.models import models_for_seed
from mindkit.train.trainer import TrainConfig

# the pooled-bottleneck paper's ablation: the full method and one component removed at a time
ABLATION = {"pb_kd_gm": "full (PB + KD + GM)", "concat_kd_gm": "without PB (concatenation)",
            "pb_gm": "without KD", "pb_kd": "without GM"}


@dataclass
class StudyResult:
    records: list[dict] = field(default_factory=list)  # per seed, method, pattern, metric
    differences: list[dict] = field(default_factory=list)  # per seed: reference - other
    pooled: list[dict] = field(default_factory=list)  # over seeds: reference - other
    runs: list[dict] = field(default_factory=list)  # one row per trained or reused model
    gm_logs: pd.DataFrame | None = None  # per-step rho and coefficients (seed, method, step...)
    importance_logs: pd.DataFrame | None = None  # MCKD's importances per meta step
    per_seed: list = field(default_factory=list)  # each seed's AvailabilityResult
    models: dict = field(default_factory=dict)  # seed -> {method: trained student}
    datasets: dict = field(default_factory=dict)  # seed -> the dataset it used


def availability_study(dataset: str, methods: Sequence[str], seeds: Sequence[int],
                       run_dir: str | Path, reference: str = "pb_kd_gm",
                       compare_to: dict[str, Sequence[str]] | None = None,
                       dataset_options: dict | None = None, max_per_split: int | None = None,
                       teacher_sizes: Sequence[str] = ("xs", "s", "m"),
                       teacher_config: TrainConfig | None = None,
                       student_config: TrainConfig | None = None, n_boot: int = 1000,
                       run_seed: int | None = None, progress: bool = True,
                       stage: str = "06", workers: int = 0, **context) -> StudyResult:
    """Train/reuse ``methods`` for each seed and score them under every availability pattern.

    ``compare_to`` maps a reference method to the methods it is compared with (paired, per
    pattern); default ``{reference: the other methods}``; ``"all"`` compares every pair.
    Models are saved under ``run_dir/<stage>/seed<k>`` (teachers and students, where they
    match, are reused from notebooks 01-04 of the same run). ``context`` sets
    :class:`~mindkit.distill.methods.MethodContext` fields (``gm_alpha``, ``bn_absent``...),
    ``store`` among them (a :class:`~mindkit.train.store.ModelStore`); with a store and
    ``workers`` > 1 (-1: one per core), every model is first trained in parallel into it
    (:func:`mindkit.studies.jobs.pretrain`)."""
    for m in methods:
        parse_method(m)  # fail before any training on an unknown name
    if compare_to == "all":
        compare_to = {a: list(methods[i + 1:]) for i, a in enumerate(methods[:-1])}
    compare_to = dict(compare_to or {reference: [m for m in methods if m != reference]})
    for ref, others in compare_to.items():
        unknown = [m for m in [ref, *others] if m not in methods]
        if unknown:
            raise ValueError(f"comparisons name methods {unknown} that are not in {list(methods)}")
    pretrain(dataset, seeds, methods, workers, dataset_options,
             max_per_split, teacher_sizes, teacher_config, student_config, progress=progress,
             **context)
    out = StudyResult()
    per_seed, logs, importances = [], [], []
    for seed in seeds:
        sm = models_for_seed(dataset, seed, methods, run_dir, run_seed=run_seed,
                             dataset_options=dataset_options, max_per_split=max_per_split,
                             teacher_sizes=teacher_sizes, teacher_config=teacher_config,
                             student_config=student_config, progress=progress, stage=stage,
                             **context)
        ds = sm.dataset
        out.datasets[seed] = ds
        out.models[seed] = dict(sm.students)
        fields = {"dataset": ds.display_name, "seed": seed}
        res = availability_scores(sm.students, ds["test"], ds.task, n_boot=n_boot,
                                  boot_seed=seed, **fields)
        out.records += res.records
        for ref, others in compare_to.items():
            out.differences += availability_differences(res, ref, others, n_boot=n_boot,
                                                        boot_seed=seed, **fields, split="test")
        per_seed.append(res)
        for name in methods:
            info = sm.info[name]
            row = {k: v for k, v in info.row().items() if k != "extra_params"}
            out.runs.append({"seed": seed, "method": name, **row, **info.settings})
            gm = info.step_logs.get("gm")
            if gm is not None and len(gm):
                logs.append(gm.assign(seed=seed, method=name))
            imp = info.step_logs.get("mckd")
            if imp is not None and len(imp):
                importances.append(imp.assign(seed=seed, method=name))
    metric = primary_metric(per_seed[0].task)
    name = out.datasets[seeds[0]].display_name
    for ref, others in compare_to.items():
        out.pooled += pooled_availability_differences(per_seed, ref, others, metric,
                                                      n_boot=n_boot, dataset=name,
                                                      seed=",".join(map(str, seeds)),
                                                      split="test")
    out.gm_logs = pd.concat(logs, ignore_index=True) if logs else None
    out.importance_logs = pd.concat(importances, ignore_index=True) if importances else None
    out.per_seed = per_seed
    return out


def ablation_table(records, metric: str, methods: Sequence[str] | None = None,
                   labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Methods x availability patterns: the mean over seeds of ``metric`` with its across-seed
    t-interval, as ``"0.812 [0.790, 0.834]"`` strings (one seed: the value alone)."""
    df = pd.DataFrame(list(records))
    df = df[(df["metric"] == metric) & (df["statistic"] == "availability")]
    if df.empty:
        raise ValueError(f"no availability records for metric {metric!r}")
    agg = seed_aggregate(df, by=["method", "pattern"])
    order = list(methods or dict.fromkeys(df["method"]))
    mods = sorted({m for p in df["pattern"] for m in p.split("+")})
    pats = [p for p in availability_patterns(mods) if p in set(df["pattern"])]

    def cell(r):
        if r["n_seeds"] > 1:
            return f"{r['mean']:.3f} [{r['seed_ci_low']:.3f}, {r['seed_ci_high']:.3f}]"
        return f"{r['mean']:.3f}"

    agg["cell"] = agg.apply(cell, axis=1)
    table = agg.pivot(index="method", columns="pattern", values="cell")
    table = table.reindex(index=[m for m in order if m in table.index], columns=pats)
    if labels:
        table.index = [labels.get(m, m) for m in table.index]
    return table


def difference_table(pooled, metric: str, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Pooled paired differences (reference - other) per pattern, as ``"+0.012 [-0.004, 0.027]
    p=0.93"`` strings (``p``: share of resamples favouring the reference)."""
    df = pd.DataFrame(list(pooled))
    df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"no pooled differences for metric {metric!r}")
    df = df.assign(cell=[f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}] p={p:.2f}" for v, lo, hi, p in
                         zip(df["value"], df["ci_low"], df["ci_high"], df["p_a_better"])],
                   row=[f"{a} - {labels.get(b, b) if labels else b}" for a, b in
                        zip(df["method_a"], df["method_b"])])
    pats = list(dict.fromkeys(df["pattern"]))
    return df.pivot(index="row", columns="pattern", values="cell").reindex(
        index=list(dict.fromkeys(df["row"])), columns=pats)


def verdicts(pooled, metric: str, labels: dict[str, str] | None = None) -> list[str]:
    """One plain sentence per comparison: on how many patterns the reference is better with a
    CI above 0, worse with a CI below 0, or not distinguishable."""
    df = pd.DataFrame(list(pooled))
    df = df[df["metric"] == metric]
    out = []
    for (a, b), g in df.groupby(["method_a", "method_b"], sort=False):
        better = int((g["ci_low"] > 0).sum())
        worse = int((g["ci_high"] < 0).sum())
        same = len(g) - better - worse
        name = labels.get(b, b) if labels else b
        out.append(f"{a} vs {name}: {a} better on {better}, worse on {worse}, no clear "
                   f"difference on {same} of {len(g)} availability patterns ({metric}, pooled "
                   f"paired bootstrap over seeds, 95% CI); mean difference "
                   f"{g['value'].mean():+.3f}.")
    return out


def leaders(records, pooled, metric: str) -> pd.DataFrame:
    """Per availability pattern: the method with the best mean over seeds, the runner-up, and
    the pooled paired difference between them (best minus runner-up, on the same samples) with
    its 95% CI; ``clear_lead`` is True when that CI lies above 0. ``pooled`` must hold the
    pair (in either order; :func:`availability_study` with ``compare_to="all"``)."""
    df = pd.DataFrame(list(records))
    df = df[(df["metric"] == metric) & (df["statistic"] == "availability")]
    agg = seed_aggregate(df, by=["method", "pattern"])
    pairs = {(r["method_a"], r["method_b"], r["pattern"]): r for r in pooled
             if r["metric"] == metric}
    sign = 1 if higher_is_better(metric) else -1
    rows = []
    for pattern, g in agg.groupby("pattern", sort=False):
        g = g.sort_values("mean", ascending=sign < 0)
        best, second = g.iloc[0], g.iloc[1] if len(g) > 1 else None
        row = {"pattern": pattern, "best": best["method"], "best_mean": best["mean"]}
        if second is not None:
            a, b = best["method"], second["method"]
            r = pairs.get((a, b, pattern))
            flip = r is None
            r = r or pairs.get((b, a, pattern))
            if r is None:
                raise ValueError(f"no pooled difference between {a!r} and {b!r} on {pattern}")
            diff, lo, hi = r["value"], r["ci_low"], r["ci_high"]
            if flip:
                diff, lo, hi = -diff, -hi, -lo
            row.update(runner_up=b, runner_up_mean=second["mean"], lead=diff, lead_ci_low=lo,
                       lead_ci_high=hi, clear_lead=bool(lo > 0 if sign > 0 else hi < 0))
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["ABLATION", "StudyResult", "ablation_table", "availability_study", "difference_table",
           "leaders", "verdicts"]
