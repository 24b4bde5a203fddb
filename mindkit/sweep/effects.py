"""The effect of each setting of a sweep: a paired difference pooled over seeds.

Every run of the swept notebook (one seed, one setting) records a paired difference ``a - b``
between two methods on its own test samples (a ``paired_difference`` record whose ``method`` is
``"a - b"``; which methods is the notebook's choice, not this module's: by default the only pair
the runs recorded). :func:`sweep_effect` takes the :func:`mindkit.sweep.collect` frame and, for
each setting (the columns ``by``), pools the seeds: the mean of the per-seed
differences, its 95% t-interval across seeds (DESIGN 5b; :func:`mindkit.evaluate.aggregate.
seed_aggregate` does the arithmetic) and whether that interval excludes zero (``holds``).
Parameters left out of ``by`` are averaged within each seed first, which gives the main effect of
the ``by`` factors over the rest of the grid. With ``sweep_dir`` the pooled per-run paired
bootstrap is added from the saved test predictions (``pooled_*``,
:func:`mindkit.evaluate.metrics.pooled_paired_difference`): the test-set sampling uncertainty of
the same mean, where the t-interval measures how much it moves between seeds.

:func:`significant_settings` keeps the settings whose interval excludes zero and
:func:`effect_records` turns an effect frame into tidy records.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from mindkit.evaluate.aggregate import pool_prediction_files, seed_aggregate
from mindkit.evaluate.metrics import (
    METRICS_BY_TASK,
    higher_is_better,
    primary_metric,
)
from mindkit.sweep.factors import NOT_FACTORS, ok_rows, sorted_values

STATISTIC = "sweep_mean_paired_difference"


def _as_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _describe(df, col: str) -> str:
    if col not in df:
        return "none"
    return ", ".join(repr(v) for v in sorted(df[col].dropna().astype(str).unique())) or "none"


def _pick_metric(sel, method: str) -> str:
    have = set(sel["metric"].dropna())
    if len(have) == 1:
        return next(iter(have))
    for task, names in METRICS_BY_TASK.items():
        if have == set(names):
            return primary_metric(task)
    raise ValueError(f"the {method!r} records hold several metrics ({sorted(have)}); pass "
                     "metric=, e.g. mindkit.evaluate.primary_metric(task)")


def _check_frame(df) -> None:
    import pandas as pd

    if not isinstance(df, pd.DataFrame) or df.empty:
        raise ValueError("no sweep records: pass the frame of mindkit.sweep.collect(sweep_dir) "
                         "after at least one run finished")


def paired_rows(df, *, head: str = "routed", group: str = "all", metric: str | None = None,
                method: str | None = None):
    """The per-run paired-difference records of ``method`` (``"a - b"``; default: the only
    paired method the finished runs recorded) on one head, group and metric (the rows
    :func:`sweep_effect` pools), with a clear error naming what the frame has instead."""
    _check_frame(df)
    need = [c for c in ("method", "head", "group", "metric", "value", "seed") if c not in df]
    if need:
        raise ValueError(f"the frame lacks the columns {need} of metric records (it has "
                         f"{sorted(df.columns)}); is it the frame of mindkit.sweep.collect()?")
    ok = ok_rows(df)
    paired = ok
    if "statistic" in ok:
        paired = ok[ok["statistic"] == "paired_difference"]
    if method is None:
        present = list(dict.fromkeys(paired["method"].dropna().astype(str)))
        if len(present) > 1:
            raise ValueError(f"the finished runs hold paired differences of several methods "
                             f"({_describe(paired, 'method')}); pass method=, e.g. "
                             f"method={present[0]!r}")
        method = present[0] if present else None
    by_method = paired[paired["method"] == method]
    if by_method.empty:
        raise ValueError(
            f"no paired-difference records of {method or 'any method'!r} among the finished "
            f"runs; paired methods present: {_describe(paired, 'method')} (all methods: "
            f"{_describe(ok, 'method')}; runs ok: {ok['run'].nunique() if 'run' in ok else '?'})")
    sel = by_method[(by_method["head"] == head) & (by_method["group"] == group)]
    if sel.empty:
        pairs = sorted({f"{h}/{g}" for h, g in zip(by_method["head"], by_method["group"])})
        raise ValueError(f"no {method!r} records for head={head!r}, group={group!r}; "
                         f"head/group present: {', '.join(pairs)}")
    metric = metric or _pick_metric(sel, method)
    out = sel[sel["metric"] == metric]
    if out.empty:
        raise ValueError(f"no {method!r} records of metric {metric!r} on {head}/{group}; "
                         f"metrics present: {_describe(sel, 'metric')}")
    return out


def _holds(lo: float, hi: float, metric: str) -> str:
    if not (lo == lo and hi == hi):  # NaN bounds: one seed, no across-seed interval
        return "no"
    up = higher_is_better(metric)
    if lo > 0:
        return "better" if up else "worse"
    if hi < 0:
        return "worse" if up else "better"
    return "no"


def sweep_effect(df, by, *, head: str = "routed", group: str = "all", metric: str | None = None,
                 method: str | None = None, sweep_dir: str | Path | None = None,
                 n_boot: int = 1000, task: str | None = None):
    """One row per setting (each combination of the columns ``by``), seeds pooled.

    Columns: the ``by`` values; ``mean_diff`` (mean over seeds of the per-seed ``method``
    differences, ``"a - b"``; default: the only paired method the runs recorded);
    ``ci_low``/``ci_high``, its 95% t-interval across seeds (NaN with one seed); ``std``;
    ``n_seeds``; ``seeds`` and ``per_seed`` (the seeds and their differences, in seed order);
    ``holds``: ``"better"``/``"worse"`` where the interval excludes zero (``a`` better or worse,
    lower being better for ``nll``), else ``"no"``; ``mean_a`` and ``mean_b`` (both methods' mean
    scores); ``run_ci_low``/``run_ci_high`` (the mean per-run paired-bootstrap bounds: one test
    set's sampling uncertainty); ``n_pooled`` (records averaged within each seed: more than 1 where
    the grid varies a parameter not in ``by``); ``n`` (test samples scored per run, the mean over
    runs); ``n_failed`` (failed runs of the setting); ``runs``; and ``metric``, ``head``, ``group``,
    ``method``.

    ``metric`` defaults to the only metric present, or the task's primary metric when the
    metrics are a task's defaults. With ``sweep_dir`` (the folder that was collected), the
    pooled per-run paired bootstrap from each run's ``predictions/<a|b>.parquet`` is added:
    ``pooled_diff``, ``pooled_ci_low``/``high``, ``pooled_p_a_better`` (``n_boot`` resamples per
    run; ``task`` read from the prediction files unless given).
    """
    import numpy as np
    import pandas as pd

    _check_frame(df)
    by = _as_list(by)
    missing = [c for c in by if c not in df]
    if missing:
        params = sorted(c for c in df.columns if c not in NOT_FACTORS)
        raise ValueError(f"cannot group by {missing}: the frame has no such column; parameter "
                         f"columns: {params} (all columns: {sorted(df.columns)})")
    if "seed" in by:
        raise ValueError("'seed' is what sweep_effect pools over; leave it out of by")
    sel = paired_rows(df, head=head, group=group, metric=metric, method=method)
    metric, method = str(sel["metric"].iloc[0]), str(sel["method"].iloc[0])
    sel = sel.copy()
    sel["_key"] = 0  # so that by=[] gives one overall row
    keys = by or ["_key"]
    for c in ("value_a", "value_b", "ci_low", "ci_high"):
        if c not in sel:
            sel[c] = np.nan
    # a run gives one record; several records of one seed in a setting (other parameters
    # varying) are averaged first, so each seed counts once
    per_seed = (sel.groupby(keys + ["seed"], dropna=False, sort=False)
                .agg(value=("value", "mean"), ci_low=("ci_low", "mean"),
                     ci_high=("ci_high", "mean"), value_a=("value_a", "mean"),
                     value_b=("value_b", "mean"), n_pooled=("value", "size"))
                .reset_index())
    agg = seed_aggregate(per_seed, by=keys)
    rows = []
    for _, a in agg.iterrows():
        mask = np.ones(len(per_seed), bool)
        smask = np.ones(len(sel), bool)
        for k in keys:
            mask &= _same(per_seed[k], a[k])
            smask &= _same(sel[k], a[k])
        ps = per_seed[mask].sort_values("seed")
        lo, hi = float(a["seed_ci_low"]), float(a["seed_ci_high"])
        rows.append({
            **{k: a[k] for k in by},
            "mean_diff": float(a["mean"]), "ci_low": lo, "ci_high": hi, "std": float(a["std"]),
            "n_seeds": int(a["n_seeds"]), "holds": _holds(lo, hi, metric),
            "seeds": [_plain(s) for s in ps["seed"]],
            "per_seed": [float(v) for v in ps["value"]],
            "mean_a": float(ps["value_a"].mean()), "mean_b": float(ps["value_b"].mean()),
            "run_ci_low": float(a["boot_low_mean"]), "run_ci_high": float(a["boot_high_mean"]),
            "n_pooled": int(ps["n_pooled"].max()),
            "n": (int(round(float(sel[smask]["n"].mean())))
                  if "n" in sel and sel[smask]["n"].notna().any() else None),
            "runs": sorted(sel[smask]["run"].astype(str).unique()) if "run" in sel else [],
            "model": (",".join(sorted(sel[smask]["model"].dropna().astype(str).unique()))
                      if "model" in sel else "student"),
            "metric": metric, "head": head, "group": group, "method": method,
        })
    out = pd.DataFrame(rows)
    out["n_failed"] = _failed_counts(df, out, by)
    if sweep_dir is not None:
        pooled = [_pooled(Path(sweep_dir), sel, r, by, metric, head, group, n_boot, task)
                  for _, r in out.iterrows()]
        out = pd.concat([out, pd.DataFrame(pooled, index=out.index)], axis=1)
    if by:
        order = out[by].apply(lambda col: col.map({v: i for i, v in
                                                   enumerate(sorted_values(col.unique()))}))
        out = out.loc[order.sort_values(by).index].reset_index(drop=True)
    return out


def _same(col, value):
    if isinstance(value, float) and math.isnan(value):
        return col.isna().to_numpy()
    return (col == value).to_numpy()


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def _failed_counts(df, out, by):
    if "status" not in df:
        return 0
    failed = df[df["status"] != "ok"]
    if failed.empty:
        return 0
    import numpy as np

    failed = failed.drop_duplicates("run") if "run" in failed else failed
    counts = []
    for _, r in out.iterrows():
        m = np.ones(len(failed), bool)
        for k in by:
            m &= _same(failed[k], r[k]) if k in failed else np.zeros(len(failed), bool)
        counts.append(int(m.sum()))
    return counts


def _pooled(sweep_dir: Path, sel, row, by, metric, head, group, n_boot, task) -> dict:
    """Pool the paired bootstraps of a setting's runs from their saved test predictions."""
    import numpy as np

    nan = {"pooled_diff": math.nan, "pooled_ci_low": math.nan, "pooled_ci_high": math.nan,
           "pooled_p_a_better": math.nan}
    m = np.ones(len(sel), bool)
    for k in by:
        m &= _same(sel[k], row[k])
    runs = []
    for _, rec in sel[m].iterrows():
        if "run" not in rec or "method_a" not in rec:
            return nan
        base = sweep_dir / str(rec["run"]) / "predictions"
        runs.append((f"run {rec['run']}", base / str(rec["method_a"]),
                     base / str(rec["method_b"]), int(rec["seed"])))
    try:
        res = pool_prediction_files(runs, task, metric, head, group, n_boot)
    except FileNotFoundError as e:  # read_predictions names the missing file
        warnings.warn(f"no pooled bootstrap for {dict(row[by]) if by else 'the sweep'}: {e}",
                      stacklevel=3)
        return nan
    return {"pooled_diff": res["diff"], "pooled_ci_low": res["ci_low"],
            "pooled_ci_high": res["ci_high"], "pooled_p_a_better": res["p_a_better"]}


def significant_settings(effect):
    """The settings whose across-seed interval excludes zero (``holds`` is ``"better"`` or
    ``"worse"``); an empty frame when none does (with one seed none can)."""
    cols = [c for c in effect.columns if c not in ("runs", "run_ci_low", "run_ci_high")]
    return effect.loc[effect["holds"] != "no", cols].reset_index(drop=True)


def effect_records(effect, *, dataset: str, split: str = "test", **fields) -> list[dict]:
    """Tidy records of an effect frame: ``value`` the mean difference over seeds, ``ci_low``/
    ``ci_high`` its t-interval, ``statistic="sweep_mean_paired_difference"``, ``seed`` the
    pooled seeds as text (``"0,1,2"``), and the setting's parameters as fields."""
    skip = {"mean_diff", "ci_low", "ci_high", "seeds", "per_seed", "runs", "std"}
    recs = []
    for _, r in effect.iterrows():
        rec = {"dataset": dataset, "split": split, "model": "student", **fields,
               "statistic": STATISTIC}
        rec.update({k: _plain(v) for k, v in r.items() if k not in skip})
        a, _, b = str(r["method"]).partition(" - ")
        rec.update({"method_a": a, "method_b": b or None, "value": float(r["mean_diff"]),
                    "ci_low": _nan_none(r["ci_low"]), "ci_high": _nan_none(r["ci_high"]),
                    "std": _nan_none(r["std"]), "seed": ",".join(str(s) for s in r["seeds"]),
                    "per_seed": list(r["per_seed"])})
        recs.append(rec)
    return recs


def _nan_none(v):
    v = float(v)
    return None if math.isnan(v) else v
