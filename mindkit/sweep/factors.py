"""The factors of a sweep: which parameters it varied, and the rows at their baseline values.

:func:`varied_factors` finds the parameters that take more than one value over the finished
runs; :func:`expand_json_column` turns a JSON-object parameter (``dataset_options``) into one
column per key, so that its keys count as factors too; :func:`baseline_rows` keeps the rows of a
one-factor-at-a-time sweep where every other factor is at its fixed value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from mindkit.sweep.collect import param_cell, run_folders

# columns of a collect() frame that describe a record or a run, never a sweep factor
NOT_FACTORS = {
    "dataset", "method", "model", "head", "group", "metric", "value", "ci_low", "ci_high", "seed",
    "split", "notebook", "statistic", "method_a", "method_b", "p_a_better", "value_a", "value_b",
    "n", "boot_undefined", "params", "still_improving", "head_weights", "run", "status", "error",
    "run_dir", "teacher_dir", "quick", "n_boot", "epochs", "progress", "extra_params",
}


def ok_rows(df):
    """The rows of the runs that finished ok (all rows of a frame without ``status``)."""
    return df[df["status"] == "ok"] if "status" in df else df


def sorted_values(values):
    """``values`` sorted, as text where they do not compare (a factor's settings in order)."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


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
    ok = ok_rows(df)
    if candidates is None and sweep_dir is not None:
        candidates = []
        for f in run_folders(sweep_dir):
            p = f / "params.json"
            for k in (json.loads(p.read_text()) if p.exists() else {}):
                if k not in candidates:
                    candidates.append(k)
    if candidates is None:
        candidates = [c for c in df.columns if c not in NOT_FACTORS
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
