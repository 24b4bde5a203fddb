"""Gather a sweep's results into one pandas DataFrame: every run's metric records with the run's
parameters beside them (scrapbook-style collections lose the parameters; these keep them).

A run whose records cannot be read (a damaged ``metrics.json`` or record database) is reported
by path, listed as failed with the reason, and the other runs are collected. The outputs are
written to temporary files and renamed into place, so an interrupted collect leaves the previous
``results.parquet``/``results.csv`` intact.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd

from mindkit.atomic import atomic_path
from mindkit.run import RecordsError, RunDir
from mindkit.sweep.folders import STAGES_DIR, TMP_DIR, read_status

RUN_COLUMNS = ("run", "status", "error")


def param_cell(v):
    """Parameter values as frame cells: lists and mappings as JSON text (hashable, Parquet-safe)."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def run_folders(out: str | Path) -> list[Path]:
    """The finished runs of a sweep (folders holding a ``status.json``), by name."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no sweep folder {out}")
    return sorted(p for p in out.iterdir() if p.is_dir() and p.name not in (STAGES_DIR, TMP_DIR)
                  and (p / "status.json").exists())


def collect(out: str | Path, write: bool = True) -> pd.DataFrame:
    """One row per metric record of every finished run under ``out``, with one column per sweep
    parameter (named as given to the sweep; list/dict values as JSON text), ``run`` (the folder
    name), ``status`` and ``error``. A failed run gives one row with its parameters and error and
    no metric. A record field that a parameter of the same name contradicts is kept as
    ``record.<name>``. A run whose records cannot be read gets status ``failed`` and the reason
    (with the file's path) in ``error``, and a warning names it. With ``write``, also saves
    ``out/results.parquet`` and ``results.csv`` (atomically)."""
    out = Path(out)
    rows = []
    folders = run_folders(out)
    param_names: list[str] = []
    for folder in folders:
        st = read_status(folder) or {}
        params = json.loads((folder / "params.json").read_text()) \
            if (folder / "params.json").exists() else st.get("params", {})
        for k in params:
            if k not in param_names:
                param_names.append(k)
        err = st.get("error")
        run = {"run": folder.name, "status": st.get("status", "unknown"),
               "error": None if not err else f"{err.get('ename')}: {err.get('evalue')}"
               + (f" (cell {err['cell_index']})" if err.get("cell_index") is not None else "")}
        pcells = {k: param_cell(v) for k, v in params.items()}
        records = []
        if run["status"] == "ok":
            try:
                records = RunDir(folder).read_metrics()
            except RecordsError as err:
                warnings.warn(f"sweep run {folder.name} is listed as failed: {err}",
                              stacklevel=2)
                run.update(status="failed", error=f"unreadable records: {err}")
        if not records:
            rows.append({**pcells, **run})
            continue
        for r in records:
            row = {}
            for k, v in r.items():
                if k in pcells and not _same(v, params[k]):
                    row[f"record.{k}"] = v
                elif k not in pcells and k not in RUN_COLUMNS:
                    row[k] = v
            rows.append({**row, **pcells, **run})
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=list(RUN_COLUMNS))
    lead = [c for c in param_names if c in df] + list(RUN_COLUMNS)
    df = df[lead + [c for c in df.columns if c not in lead]]
    if write:
        write_results(df, out)
    return df


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b or (isinstance(a, float) and math.isnan(a))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return param_cell(a) == param_cell(b)


def write_results(df: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """``results.parquet`` (columns of mixed types are stored as text) and ``results.csv``."""
    out = Path(out)
    safe = df.copy()
    for c in safe.columns:
        if safe[c].dtype == object:
            kinds = {type(v) for v in safe[c].dropna()}
            if len(kinds) > 1 or kinds - {str, bool}:
                safe[c] = safe[c].map(lambda v: None if v is None or (isinstance(v, float)
                                      and math.isnan(v)) else str(v))
    pq, csv = out / "results.parquet", out / "results.csv"
    with atomic_path(pq) as tmp:
        safe.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    return pq, csv
