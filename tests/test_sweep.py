"""mindkit.sweep: grids, run names, plans, resume, failure isolation, collect, Dask, kill+resume.

The execution tests run a tiny notebook (written here) so they take seconds per run; notebook 02
over a grid is exercised by notebook 08's papermill test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mindkit.sweep import (
    ParameterError,
    collect,
    expand,
    load_grid_file,
    params_key,
    parse_cli_grid,
    parse_value,
    plan,
    read_status,
    run_folders,
    run_name,
    run_sweep,
    split_values,
)

TINY_PARAMS = '''x = 1  # a number whose square is the metric
fail = False  # raise in the second cell
sleep = 0.0  # seconds to wait before writing the metric
run_dir = "."  # where metrics.json goes
seed = 0  # recorded in the record
'''
TINY_BODY = '''import json, os, pathlib, time
time.sleep(sleep)
if fail:
    raise ValueError("asked to fail")
rec = {"dataset": "tiny", "method": "square", "model": "-", "head": "-", "metric": "x2",
       "value": float(x) ** 2, "ci_low": None, "ci_high": None, "seed": seed, "split": "test",
       "x": 0}
pathlib.Path(run_dir, "metrics.json").write_text(json.dumps([rec]))
pathlib.Path(run_dir, "ran_at.txt").write_text(str(time.time()))
pathlib.Path(run_dir, "env.json").write_text(json.dumps(
    {k: os.environ.get(k) for k in ("MINDKIT_WORKERS", "OMP_NUM_THREADS")}))
'''


def write_notebook(folder: Path, name: str, params: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_notebook(tmp_path, "tiny", TINY_PARAMS, TINY_BODY)


# ------------------------------------------------------------------ grids and names


def test_values_are_typed_like_papermill():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5 and parse_value("1e-3") == 1e-3
    assert parse_value("True") is True and parse_value("false") is False
    assert parse_value("None") is None
    assert parse_value('["xs", "s"]') == ["xs", "s"]
    assert parse_value('{"difficulty": "hard"}') == {"difficulty": "hard"}
    assert parse_value("uniform") == "uniform"
    with pytest.raises(ValueError, match="looks like JSON"):
        parse_value('["xs",')


def test_commas_inside_brackets_do_not_split():
    assert split_values('["xs"],["xs","s"]') == ['["xs"]', '["xs","s"]']
    assert split_values('{"a": 1, "b": 2},x') == ['{"a": 1, "b": 2}', "x"]
    grid = parse_cli_grid([("alpha", "0.2,0.8"), ("teacher_sizes", '["xs"],["xs","s"]'),
                           ("quick", "True")])
    assert grid == {"alpha": [0.2, 0.8], "teacher_sizes": [["xs"], ["xs", "s"]],
                    "quick": [True]}
    with pytest.raises(ValueError, match="given twice"):
        parse_cli_grid([("alpha", "1"), ("alpha", "2")])
    with pytest.raises(ValueError, match="unbalanced"):
        split_values('["xs",')


def test_grid_product_include_fixed_and_duplicates():
    runs = expand({"alpha": [0.2, 0.8], "T": [1, 4]}, include=[{"alpha": 0.5}, {"alpha": 0.2,
                  "T": 1}], fixed={"quick": True, "T": 2})
    assert len(runs) == 5  # 4 grid points + alpha=0.5 (T=2 from fixed); the last is a duplicate
    assert runs[0] == {"quick": True, "T": 1, "alpha": 0.2}
    assert {"quick": True, "T": 2, "alpha": 0.5} in runs
    with pytest.raises(ValueError, match="non-empty list"):
        expand({"alpha": []})


def test_grid_file(tmp_path):
    f = tmp_path / "g.yaml"
    f.write_text("fixed:\n  quick: true\ngrid:\n  alpha: [0.2, 0.8]\n  seed: 0\n"
                 "include:\n  - {alpha: 0.5, seed: 1}\n")
    grid, include, fixed = load_grid_file(f)
    assert grid == {"alpha": [0.2, 0.8], "seed": [0]}
    assert include == [{"alpha": 0.5, "seed": 1}] and fixed == {"quick": True}
    f.write_text("grids:\n  alpha: [1]\n")
    with pytest.raises(ValueError, match="keys 'grid'"):
        load_grid_file(f)


def test_run_names_are_stable_and_readable():
    a = run_name({"alpha": 0.2, "T": 1, "seed": 0})
    assert a == run_name({"seed": 0, "T": 1.0, "alpha": 0.2})  # order and 1 vs 1.0 do not matter
    assert a.startswith("alpha=0.2_seed=0_T=1-")
    # pinned: a sweep folder made by an earlier version must resume under the same name
    # (the first 8 hex digits of sha1('{"T":1,"alpha":0.2,"seed":0}'))
    assert params_key({"alpha": 0.2, "T": 1.0, "seed": 0}) == "b7f15bb1"
    assert a != run_name({"alpha": 0.2, "T": 1, "seed": 1})
    odd = run_name({"teacher_sizes": ["xs", "s"], "dataset_options": {"difficulty": "hard"},
                    "01_teachers.epochs": 30})
    assert odd.startswith("dataset_options=difficulty=hard_teacher_sizes=xs+s_01.epochs=30-")
    assert "/" not in run_name({"path": "a/b c"})


# ------------------------------------------------------------------ plans


def test_plan_shares_upstream_runs_and_routes_parameters(tmp_path):
    nbdir = Path(__file__).resolve().parents[1] / "notebooks"
    points = expand({"alpha": [0.2, 0.8], "seed": [0, 1]},
                    fixed={"quick": True, "01_teachers.epochs": 3,
                           "02_mind_distillation.epochs": 2})
    jobs = plan(["01_teachers", "02_mind_distillation"], points, tmp_path, nbdir)
    assert len(jobs) == 4
    ups = {str(j.upstream.folder) for j in jobs}
    assert len(ups) == 2  # one teachers run per seed, shared by both alphas
    j = jobs[0]
    assert j.upstream.params == {"quick": True, "epochs": 3, "seed": 0}  # no alpha for 01
    assert j.params["epochs"] == 2 and j.params["alpha"] == 0.2
    assert j.params["teacher_dir"] == str(j.upstream.folder / "teachers")
    with pytest.raises(ParameterError, match="unknown parameter 'alfa': 02_mind_distillation "
                       "does not declare it; did you mean 'alpha'"):
        plan("02_mind_distillation", [{"alfa": 1}], tmp_path, nbdir)
    with pytest.raises(ParameterError, match="the sweep sets it"):
        plan("02_mind_distillation", [{"run_dir": "x"}], tmp_path, nbdir)
    with pytest.raises(ParameterError, match="01_teachers does not declare 'alpha'"):
        plan(["01_teachers", "02_mind_distillation"], [{"01_teachers.alpha": 1}], tmp_path, nbdir)
    with pytest.raises(ParameterError, match="'epochs' of 02_mind_distillation takes an int "
                       r"\(default 12\), not a str 'abc'"):
        plan("02_mind_distillation", [{"epochs": "abc"}], tmp_path, nbdir)
    # an int for a float parameter reaches the notebook as a float; the run's name is unchanged
    (job,) = plan("02_mind_distillation", [{"T": 4}], tmp_path, nbdir)
    assert job.params["T"] == 4.0 and isinstance(job.params["T"], float)
    assert job.folder.name == run_name({"T": 4.0})


# ------------------------------------------------------------------ execution (serial)


def test_serial_sweep_isolates_failures_resumes_and_collects(tiny, tmp_path):
    out = tmp_path / "sw"
    grid, include = {"x": [2, 3], "fail": [False]}, [{"x": 4, "fail": True}]  # 2 ok, 1 failing
    s = run_sweep(str(tiny), grid, out, include=include, workers=0, retries=1, stagger=0,
                  progress=False)
    assert (s.ok, s.failed, s.skipped) == (2, 1, 0)
    failed = [r for r in s.runs if r["status"] == "failed"]
    err = failed[0]["error"]
    assert err["ename"] == "ValueError" and "asked to fail" in err["evalue"]
    # the index in the executed copy kept in the run folder (papermill's injected-parameters
    # cell comes after the parameters cell)
    assert err["cell_index"] == 2 and "raise ValueError" in err["cell_source"]
    assert failed[0]["attempts"] == 1  # the notebook's own error is not retried
    assert not (out / ".tmp").exists()
    for r in s.runs:
        assert set(r) >= {"status", "start", "end", "duration_s", "host", "mindkit_version"}
    assert sorted(p.name for p in run_folders(out)) == sorted(
        run_name(p) for p in expand(grid, include))
    ok_dirs = [Path(r["folder"]) for r in s.runs if r["status"] == "ok"]
    stamps = {d: (d / "ran_at.txt").read_text() for d in ok_dirs}
    # each run computes on one thread and trains nothing in parallel of its own (no nesting)
    for d in ok_dirs:
        assert json.loads((d / "env.json").read_text()) == {"MINDKIT_WORKERS": "0",
                                                            "OMP_NUM_THREADS": "1"}

    again = run_sweep(str(tiny), grid, out, include=include, workers=0, stagger=0,
                      progress=False)
    assert (again.ok, again.failed, again.skipped) == (0, 0, 3)  # failed ones wait for the flag
    retried = run_sweep(str(tiny), grid, out, include=include, workers=0, stagger=0,
                        progress=False, retry_failed=True, retries=0)
    assert (retried.ok, retried.failed, retried.skipped) == (0, 1, 2)
    assert {d: (d / "ran_at.txt").read_text() for d in ok_dirs} == stamps  # ok runs not redone

    df = collect(out)
    assert {"x", "fail", "run", "status", "error"} <= set(df.columns)
    ok = df[df.status == "ok"].sort_values("x")
    assert ok["value"].tolist() == [4.0, 9.0] and ok["x"].tolist() == [2, 3]
    assert ok["record.x"].tolist() == [0, 0]  # the record's own x, contradicted by the parameter
    bad = df[df.status == "failed"]
    assert len(bad) == 1 and bad["value"].isna().all() and bad["x"].tolist() == [4]
    assert bad["error"].str.contains("ValueError: asked to fail").all()
    assert (out / "results.parquet").exists() and (out / "results.csv").exists()


def test_a_run_that_times_out_is_killed_and_recorded(tiny, tmp_path):
    out = tmp_path / "sw"
    s = run_sweep(str(tiny), {"sleep": [60]}, out, workers=0, timeout=15, retries=0,
                  stagger=0, progress=False)
    assert s.failed == 1
    err = s.runs[0]["error"]
    assert err["ename"] == "Timeout" and err["cell_index"] == 2
    assert s.runs[0]["duration_s"] < 40


def test_a_folder_with_other_parameters_is_refused(tiny, tmp_path):
    out = tmp_path / "sw"
    run_sweep(str(tiny), {"x": [2]}, out, workers=0, stagger=0, progress=False)
    folder = run_folders(out)[0]
    st = json.loads((folder / "status.json").read_text())
    st["key"] = "00000000"
    (folder / "status.json").write_text(json.dumps(st))
    with pytest.raises(ValueError, match="other parameters"):
        run_sweep(str(tiny), {"x": [2]}, out, workers=0, progress=False)


# ------------------------------------------------------------------ Dask and interruption


@pytest.mark.slow
def test_local_cluster_two_workers(tiny, tmp_path):
    out = tmp_path / "sw"
    s = run_sweep(str(tiny), {"x": [1, 2, 3, 4]}, out, workers=2, stagger=0.5, progress=False)
    assert (s.ok, s.failed) == (4, 0)
    hosts_pids = {r["pid"] for r in s.runs}
    assert len(hosts_pids) == 2  # both worker processes took runs
    assert sorted(collect(out)["value"]) == [1.0, 4.0, 9.0, 16.0]


@pytest.mark.slow
def test_killed_sweep_resumes_without_redoing_finished_runs(tiny, tmp_path):
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "mindkit.cli", "sweep", str(tiny), "--out", str(out),
           "-p", "x", "1,2,3,4", "-p", "sleep", "2", "--workers", "2", "--stagger", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(run_folders(out) if out.exists() else []) < 2:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its cluster and its workers, at once
    proc.wait()
    finished = {p.name: (p / "ran_at.txt").read_text() for p in run_folders(out)}
    assert 2 <= len(finished) < 4
    time.sleep(2)  # the runs in flight die with their worker (no orphan writes afterwards)
    assert {p.name for p in run_folders(out)} == set(finished)
    for p in run_folders(out):
        assert read_status(p)["status"] == "ok"

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "skipped" in res.stdout
    folders = run_folders(out)
    assert len(folders) == 4
    for p in folders:
        if p.name in finished:
            assert (p / "ran_at.txt").read_text() == finished[p.name]  # not redone
    assert sorted(collect(out)["value"]) == [1.0, 4.0, 9.0, 16.0]


def test_failed_run_makes_the_command_exit_nonzero(tiny, tmp_path):
    from mindkit.cli import main

    rc = main(["sweep", str(tiny), "--out", str(tmp_path / "sw"), "-p", "fail", "True,False",
               "--workers", "0", "--stagger", "0"])
    assert rc == 1
    assert main(["sweep-collect", str(tmp_path / "sw")]) == 0
