"""Two notebook-02 runs on one run_dir at the same time keep both runs' records (issue 19)."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from mindkit.cli import execute_notebook
from mindkit.run import RunDir

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def _run(name: str, run_dir: str, params: dict) -> None:
    from pathlib import Path

    execute_notebook(name, Path(run_dir) / f"exec-{params.get('alpha', 'x')}", params)


def test_two_notebook_02_runs_started_together_both_keep_their_records(tmp_path):
    run_dir = str(tmp_path / "run")
    base = {"dataset": "pbc", "seed": 0, "quick": True, "run_dir": run_dir}
    _run("01_teachers", run_dir, {**base, "sizes": ["xs"]})
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_run, args=("02_mind_distillation", run_dir,
                                            {**base, "alpha": a, "teacher_sizes": ["xs"]}))
             for a in (0.1, 0.9)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
        assert p.exitcode == 0
    records = RunDir(run_dir).read_metrics()
    assert records == json.loads((tmp_path / "run" / "metrics.json").read_text())
    nb02 = [r for r in records if r["notebook"] == "02_mind_distillation"]
    keys = {r["run_key"] for r in nb02}
    assert len(keys) == 2  # one keyed run per alpha
    mind = {(r["run_key"], r["alpha"]) for r in nb02 if r["method"] == "mind"}
    assert sorted(a for _, a in mind) == [0.1, 0.9]
    for key in keys:  # each run wrote its whole set, once: MIND, no-KD, ensembles, paired
        mine = [r for r in nb02 if r["run_key"] == key]
        assert {r["method"] for r in mine} >= {"mind", "no_kd", "teacher_ensemble", "mind - no_kd"}
        rows = [(r["method"], r["model"], r["head"], r["group"], r["metric"]) for r in mine]
        assert len(rows) == len(set(rows))
    assert sum(r["notebook"] == "01_teachers" for r in records) > 0
