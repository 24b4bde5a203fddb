"""What a sweep shows: the effect of each setting as a paired difference over seeds.

The analysis of a sweep, importable from here as one whole (the sweep-analysis notebook does):

* :mod:`mindkit.sweep.effects`: :func:`sweep_effect` pools each setting's per-seed paired
  differences (mean, 95% t-interval across seeds, ``holds``; optionally the pooled per-run
  paired bootstrap), :func:`paired_rows` picks the records it pools,
  :func:`significant_settings` and :func:`effect_records` (tidy records) read the result;
* :mod:`mindkit.sweep.factors`: :func:`varied_factors` and :func:`expand_json_column` find what
  a sweep varied (``dataset_options`` keys included), :func:`baseline_rows` reads a
  one-factor-at-a-time design;
* :mod:`mindkit.sweep.figures`: :func:`effect_heatmap` and :func:`effect_plot` show it.

Here, :func:`plan_sweep` splits a grid into the ``run_sweep`` calls that reuse existing teachers
where they fit (only for the seed they were made with), and :func:`ensure_sweep` runs them unless
the folder already holds finished runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from mindkit.sweep import run_sweep
from mindkit.sweep.collect import run_folders
from mindkit.sweep.effects import (
    STATISTIC,
    effect_records,
    paired_rows,
    significant_settings,
    sweep_effect,
)
from mindkit.sweep.factors import baseline_rows, expand_json_column, varied_factors
from mindkit.sweep.figures import effect_heatmap, effect_plot
from mindkit.sweep.folders import read_status

__all__ = ["STATISTIC", "TEACHER_FIELDS", "baseline_rows", "effect_heatmap", "effect_plot",
           "effect_records", "ensure_sweep", "expand_json_column", "finished_runs",
           "paired_rows", "plan_sweep", "significant_settings", "sweep_effect", "varied_factors"]

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
