"""What a sweep shows: the effect of each setting as a paired difference over seeds.

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

:func:`effect_heatmap`, :func:`effect_plot` and :func:`significant_settings` show the result;
:func:`effect_records` turns it into tidy records. :func:`varied_factors` and
:func:`expand_json_column` find what a sweep varied (``dataset_options`` keys included).
:func:`plan_sweep` splits a grid into the ``run_sweep`` calls that reuse existing teachers where
they fit (only for the seed they were made with), and :func:`ensure_sweep` runs them unless the
folder already holds finished runs (the sweep-analysis notebook does all of this).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Sequence

from mindkit.evaluate.aggregate import pool_prediction_files, seed_aggregate
from mindkit.evaluate.metrics import (
    METRICS_BY_TASK,
    higher_is_better,
    primary_metric,
)
from mindkit.sweep import run_sweep
from mindkit.sweep.collect import param_cell, run_folders
from mindkit.sweep.runner import read_status

STATISTIC = "sweep_mean_paired_difference"
# columns of a collect() frame that describe a record or a run, never a sweep factor
_NOT_FACTORS = {
    "dataset", "method", "model", "head", "group", "metric", "value", "ci_low", "ci_high", "seed",
    "split", "notebook", "statistic", "method_a", "method_b", "p_a_better", "value_a", "value_b",
    "n", "boot_undefined", "params", "still_improving", "head_weights", "run", "status", "error",
    "run_dir", "teacher_dir", "quick", "n_boot", "epochs", "progress", "extra_params",
}


def _as_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _describe(df, col: str) -> str:
    if col not in df:
        return "none"
    return ", ".join(repr(v) for v in sorted(df[col].dropna().astype(str).unique())) or "none"


def _ok_rows(df):
    return df[df["status"] == "ok"] if "status" in df else df


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
    ok = _ok_rows(df)
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


def _sort_key(values):
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


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
        params = sorted(c for c in df.columns if c not in _NOT_FACTORS)
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
                                                   enumerate(_sort_key(col.unique()))}))
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


# ---------------------------------------------------------------------------------------------
# factors of a sweep
# ---------------------------------------------------------------------------------------------


def expand_json_column(df, column: str = "dataset_options", prefix: str = "",
                       default: str = "(default)"):
    """A copy of ``df`` with one column per key of the JSON objects in ``column`` (e.g.
    ``'{"difficulty": "hard"}'`` gives a ``difficulty`` column); runs that do not set a key get
    ``default``. Keys that clash with an existing column are prefixed with ``column + "."``."""
    out = df.copy()
    if column not in df:
        return out
    parsed = [_parse_json(v) for v in df[column]]
    keys = sorted({k for p in parsed if isinstance(p, dict) for k in p})
    for k in keys:
        name = prefix + k
        if name in out.columns:
            name = f"{column}.{k}"
        out[name] = [param_cell(p.get(k, default)) if isinstance(p, dict) else default
                     for p in parsed]
    return out


def _parse_json(v):
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def varied_factors(df, candidates: Sequence[str] | None = None,
                   sweep_dir: str | Path | None = None) -> list[str]:
    """The parameters that take more than one value over the finished runs, ``seed`` and
    ``teacher_dir`` left out. The candidates are ``candidates``, else the parameters of the runs
    of ``sweep_dir`` (their ``params.json``), else every column that does not describe a record
    or a run. A JSON-object parameter (``dataset_options``) whose keys
    :func:`expand_json_column` turned into columns is replaced by the keys that vary."""
    ok = _ok_rows(df)
    if candidates is None and sweep_dir is not None:
        candidates = []
        for f in run_folders(sweep_dir):
            p = f / "params.json"
            for k in (json.loads(p.read_text()) if p.exists() else {}):
                if k not in candidates:
                    candidates.append(k)
    if candidates is None:
        candidates = [c for c in df.columns if c not in _NOT_FACTORS
                      and not str(c).startswith(("_", "record."))]
    out = []
    for c in candidates:
        if c not in ok or c in ("seed", "teacher_dir", "run_dir"):
            continue
        if ok[c].dropna().astype(str).nunique() < 2:
            continue
        parsed = [_parse_json(v) for v in ok[c].dropna().unique()]
        keys = sorted({k for p in parsed if isinstance(p, dict) for k in p})
        expanded = [k if k in ok else f"{c}.{k}" for k in keys]
        if keys and all(e in ok for e in expanded):
            out += [e for e in expanded if ok[e].dropna().astype(str).nunique() > 1]
        else:
            out.append(c)
    return list(dict.fromkeys(out))


def baseline_rows(df, keep: Sequence[str], sweep_dir: str | Path,
                  factors: Sequence[str] | None = None):
    """The rows of ``df`` where every varied factor other than ``keep`` is at its baseline: the
    value the sweep's ``fixed`` parameters give it (``sweep_dir/sweep.json``; for a key that
    :func:`expand_json_column` took out of a fixed JSON object, that object's value or
    ``"(default)"``). This is how a one-factor-at-a-time design is read: the effect of teacher
    size at the default alpha and T, not averaged over an alpha x T grid. Factors without a fixed
    value (pure grid axes) are kept whole, so they are averaged over within each seed."""
    manifest = Path(sweep_dir) / "sweep.json"
    fixed = json.loads(manifest.read_text()).get("fixed", {}) if manifest.exists() else {}
    factors = list(factors) if factors is not None else varied_factors(df, sweep_dir=sweep_dir)
    objects = {k: v for k, v in fixed.items() if isinstance(v, dict)}
    out = df
    for f in factors:
        if f in keep:
            continue
        if f in fixed:
            base = fixed[f]
        elif objects:  # a key expanded out of a fixed JSON object (``o.key`` when it clashed)
            o = next((o for o in objects if f.startswith(o + ".")), next(iter(objects)))
            base = objects[o].get(f[len(o) + 1:] if f.startswith(o + ".") else f, "(default)")
        else:
            continue
        out = out[[_matches(v, base) for v in out[f]]]
    if out.empty:
        raise ValueError(f"no run has every factor but {list(keep)} at its fixed value "
                         f"({ {f: fixed.get(f) for f in factors if f in fixed} }); is this a "
                         "one-factor-at-a-time sweep?")
    return out


def _matches(cell, base) -> bool:
    if isinstance(base, (list, dict)):
        return _parse_json(cell) == base
    if isinstance(base, (int, float)) and not isinstance(base, bool):
        try:
            return float(cell) == float(base)
        except (TypeError, ValueError):
            return False
    return cell == base or str(cell) == str(base)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _fmt_ci(m, lo, hi, digits=3) -> str:
    if lo == lo and hi == hi:
        return f"{m:+.{digits}f}\n[{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return f"{m:+.{digits}f}\n(no CI)"


def _label(effect) -> str:
    r = effect.iloc[0]
    return f"{r['method']}, {r['metric']} ({r['head']}/{r['group']})"


def effect_heatmap(effect, x: str = "alpha", y: str = "T", ax=None):
    """Mean difference per (``x``, ``y``) setting, each cell annotated with its 95% interval
    across seeds (a ``*`` where it excludes zero); a diverging colormap centred at zero.
    ``effect`` must hold one row per (``x``, ``y``): compute it with ``by=[x, y]``."""
    import matplotlib.pyplot as plt
    import numpy as np

    for c in (x, y):
        if c not in effect:
            raise ValueError(f"the effect frame has no column {c!r}; it has {list(effect.columns)}"
                             f" (compute it with sweep_effect(df, by=[{x!r}, {y!r}]))")
    if effect.duplicated([x, y]).any():
        raise ValueError(f"several rows per ({x}, {y}) setting: compute the effect with "
                         f"by=[{x!r}, {y!r}] (other factors are then averaged within each seed)")
    xs, ys = _sort_key(effect[x].unique()), _sort_key(effect[y].unique())
    grid = np.full((len(ys), len(xs)), np.nan)
    notes = np.full((len(ys), len(xs)), "", dtype=object)
    for _, r in effect.iterrows():
        i, j = ys.index(r[y]), xs.index(r[x])
        grid[i, j] = r["mean_diff"]
        notes[i, j] = _fmt_ci(r["mean_diff"], r["ci_low"], r["ci_high"]) + (
            " *" if r["holds"] != "no" else "")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 + 1.6 * len(xs), 0.9 + 1.0 * len(ys)))
    else:
        fig = ax.figure
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0
    lim = lim or 1e-9
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-lim, vmax=lim, origin="lower",
                   aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if notes[i, j]:
                dark = abs(grid[i, j]) > 0.6 * lim
                ax.text(j, i, notes[i, j], ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    fig.colorbar(im, ax=ax, label="mean difference over seeds")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    n = sorted(set(effect["n_seeds"]))
    ax.set_title(f"{_label(effect)}\nmean over {'/'.join(map(str, n))} seed(s) "
                 "[95% t-interval across seeds]; * excludes 0", fontsize=9)
    fig.tight_layout()
    return fig


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def effect_plot(effect, x: str, ax=None, hue: str | None = None):
    """Mean difference with its 95% across-seed interval (error bars) against one factor
    ``x`` (one series per ``hue`` value), and the zero line. Settings with one seed have no
    interval and are drawn as open markers."""
    import matplotlib.pyplot as plt
    import numpy as np

    for c in [x] + ([hue] if hue else []):
        if c not in effect:
            raise ValueError(f"the effect frame has no column {c!r}; it has {list(effect.columns)}")
    keys = [x] + ([hue] if hue else [])
    if effect.duplicated(keys).any():
        raise ValueError(f"several rows per {keys} setting: compute the effect with by={keys}, "
                         "or pass hue=")
    xs = _sort_key(effect[x].unique())
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  for v in xs)
    pos = {v: (float(v) if numeric else i) for i, v in enumerate(xs)}
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.6, 1.4 + 1.1 * len(xs)), 3.4))
    else:
        fig = ax.figure
    hues = _sort_key(effect[hue].unique()) if hue else [None]
    width = 0.0 if numeric else 0.5 / max(1, len(hues))
    for j, h in enumerate(hues):
        d = effect if hue is None else effect[effect[hue] == h]
        d = d.assign(_p=[pos[v] for v in d[x]]).sort_values("_p")
        px = d["_p"].to_numpy() + (j - (len(hues) - 1) / 2) * width
        m = d["mean_diff"].to_numpy(float)
        lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
        has = np.isfinite(lo) & np.isfinite(hi)
        color = f"C{j}"
        label = None if hue is None else f"{hue}={_tick(h)}"
        ax.errorbar(px[has], m[has], yerr=np.vstack([m[has] - lo[has], hi[has] - m[has]]),
                    fmt="o", capsize=3, color=color, label=label)
        if (~has).any():
            ax.plot(px[~has], m[~has], "o", mfc="none", color=color,
                    label=None if has.any() else label)
        if numeric and len(px) > 1:
            ax.plot(px, m, "-", lw=0.8, color=color, alpha=0.5)
    ax.axhline(0.0, color="grey", lw=1, ls="--")
    if not numeric:
        ax.set_xticks(range(len(xs)), [_tick(v) for v in xs], rotation=15)
    ax.set_xlabel(x)
    ax.set_ylabel("difference (95% CI across seeds)")
    one = not np.isfinite(effect[["ci_low", "ci_high"]].to_numpy(float)).all()
    ax.set_title(_label(effect) + ("\nopen markers: one seed, no interval" if one else ""),
                 fontsize=9)
    if hue:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# records and sweep planning
# ---------------------------------------------------------------------------------------------


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


TEACHER_FIELDS = ("dataset", "dataset_options", "quick", "sizes", "archs")


def plan_sweep(notebook: str, grid: dict[str, list], seeds: Sequence[int], *,
               fixed: dict[str, Any] | None = None, teacher_dir: str | Path | None = None,
               teacher_seed: int | None = None, upstream: str | None = None) -> list[dict]:
    """The :func:`mindkit.sweep.run_sweep` calls for ``notebook`` over ``grid`` x ``seeds``, as
    a list of ``{"notebooks", "grid", "fixed"}`` keyword arguments.

    Teachers are made for one split, and the split depends on the seed (and on quick mode and
    the dataset options). So existing teachers (``teacher_dir``, made with ``teacher_seed`` and
    the dataset settings in ``fixed``) serve only the runs of that seed: those get
    ``teacher_dir``; every other seed chains ``upstream`` (run once per seed, shared by the
    settings; default: the notebook that makes ``teacher_dir``,
    :data:`mindkit.notebook.NOTEBOOK_INPUTS`). A grid that varies what teachers depend on
    (``dataset``, ``dataset_options``, ``quick``, parameters prefixed ``<upstream>.``) chains every
    run. ``fixed`` goes to every run (a ``"<notebook>.epochs"`` prefix reaches that notebook
    only)."""
    from mindkit.notebook import NOTEBOOK_INPUTS

    upstream = upstream or NOTEBOOK_INPUTS["teacher_dir"][0]
    grid = {k: list(v) for k, v in grid.items()}
    if "seed" in grid:
        raise ValueError("give the seeds as seeds=, not in the grid")
    for k, v in grid.items():
        if not v:
            raise ValueError(f"grid parameter {k!r} has no values")
    fixed = dict(fixed or {})
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds to run")
    teacher_bound = any(k in TEACHER_FIELDS or k.startswith(f"{upstream}.") for k in grid)
    reuse = ([s for s in seeds if s == teacher_seed]
             if teacher_dir is not None and not teacher_bound else [])
    chained = [s for s in seeds if s not in reuse]
    calls = []
    if reuse:
        calls.append({"notebooks": notebook, "grid": {**grid, "seed": reuse},
                      "fixed": {k: v for k, v in fixed.items()
                                if not k.startswith(f"{upstream}.")}
                      | {"teacher_dir": str(teacher_dir)}})
    if chained:
        calls.append({"notebooks": [upstream, notebook], "grid": {**grid, "seed": chained},
                      "fixed": fixed})
    return calls


def finished_runs(sweep_dir: str | Path) -> int:
    """How many runs under ``sweep_dir`` finished ok (0 when the folder does not exist)."""
    if not Path(sweep_dir).is_dir():
        return 0
    return sum((read_status(f) or {}).get("status") == "ok" for f in run_folders(sweep_dir))


def ensure_sweep(sweep_dir: str | Path, notebook: str, grid: dict[str, list],
                 seeds: Sequence[int], *, fixed: dict[str, Any] | None = None,
                 teacher_dir: str | Path | None = None, teacher_seed: int | None = None,
                 upstream: str | None = None, **run_kwargs) -> list:
    """Run the sweep that :func:`plan_sweep` plans into ``sweep_dir``, unless it already holds
    finished runs (then they are analysed as they are and nothing runs; an interrupted sweep is
    resumed with :func:`mindkit.sweep.run_sweep` itself). Returns the
    :class:`mindkit.sweep.SweepSummary` of each call (empty when nothing ran); ``run_kwargs``
    go to ``run_sweep`` (``workers``, ``timeout``, ``progress`` ...)."""
    done = finished_runs(sweep_dir)
    if done:
        print(f"{sweep_dir} holds {done} finished run(s): analysing them as they are (the grid "
              "parameters are not used; give another sweep_dir to run a new grid)")
        return []
    summaries = []
    for call in plan_sweep(notebook, grid, seeds, fixed=fixed, teacher_dir=teacher_dir,
                           teacher_seed=teacher_seed, upstream=upstream):
        summaries.append(run_sweep(call["notebooks"], call["grid"], sweep_dir,
                                   fixed=call["fixed"], **run_kwargs))
        print(summaries[-1])
    return summaries
