"""Independent trainings in parallel give the serial path's results (issue 20, item 2)."""

from __future__ import annotations

import pytest
import torch

from mindkit.data import load
from mindkit.distill.recipes import train_teachers
from mindkit.parallel import Task, resolve_workers, run_tasks
from mindkit.studies.compare import compare_methods
from mindkit.train import TrainConfig
from mindkit.train.store import ModelStore

pytestmark = pytest.mark.slow
CFG = TrainConfig(epochs=2, batch_size=32)


def _square(x):
    return x * x


def test_run_tasks_serial_and_parallel_agree_and_respect_order():
    tasks = [Task(f"sq {i}", _square, (i,), after=(("sq 0",) if i else ())) for i in range(5)]
    assert run_tasks(tasks, 0, progress=False) == run_tasks(tasks, 2, progress=False) == {
        f"sq {i}": i * i for i in range(5)}
    with pytest.raises(ValueError, match="list dependencies first"):
        run_tasks([Task("a", _square, (1,), after=("b",)), Task("b", _square, (2,))], 0,
                  progress=False)
    with pytest.raises(RuntimeError, match="sq bad failed: TypeError"):
        run_tasks([Task("sq bad", _square, ("x",)), Task("ok", _square, (1,))], 2,
                  progress=False)


def test_workers_resolve_to_cores_and_never_nest(monkeypatch):
    monkeypatch.delenv("MINDKIT_WORKERS", raising=False)
    assert resolve_workers(-1) >= 1 and resolve_workers(0) == 0 and resolve_workers(3) == 3
    monkeypatch.setenv("MINDKIT_WORKERS", "0")  # inside a sweep's run
    assert resolve_workers(-1) == 0 and resolve_workers(2) == 0
    with pytest.raises(ValueError, match="workers must be"):
        monkeypatch.delenv("MINDKIT_WORKERS")
        resolve_workers(-3)


def test_parallel_teachers_equal_serial_ones(tmp_path):
    ds = load("pbc", seed=0).subsample(80, 0)
    serial, rows_s = train_teachers(ds, ["xs", "s"], config=CFG, progress=False,
                                    store=ModelStore(tmp_path / "a"))
    par, rows_p = train_teachers(ds, ["xs", "s"], config=CFG, progress=False,
                                 store=ModelStore(tmp_path / "b"), workers=2)
    for m in serial:
        for a, b in zip(serial[m], par[m]):
            for k, v in a.state_dict().items():
                assert torch.equal(v, b.state_dict()[k]), (m, k)
    assert [r["val_score"] for r in rows_s] == [r["val_score"] for r in rows_p]
    assert {r["source"] for r in rows_p} == {"trained"}  # trained by the workers


def test_a_study_trained_in_parallel_gives_the_serial_records(tmp_path):
    kw = dict(dataset_options={}, max_per_split=80, teacher_sizes=["xs"], teacher_config=CFG,
              student_config=CFG, n_boot=20, progress=False)
    serial, _ = compare_methods("pbc", ["mind", "no_kd"], [0, 1], tmp_path / "s",
                                store=ModelStore(tmp_path / "s-store"), workers=0, **kw)
    store = ModelStore(tmp_path / "p-store")
    par, runs = compare_methods("pbc", ["mind", "no_kd"], [0, 1], tmp_path / "p",
                                store=store, workers=2, **kw)
    strip = [{k: v for k, v in r.items() if k != "train_s"} for r in serial]
    assert strip == [{k: v for k, v in r.items() if k != "train_s"} for r in par]
    ev = store.events()
    trained = [e["key"] for e in ev if e["event"] == "trained"]
    assert len(trained) == len(set(trained)) == 2 * 2 + 2 * 2  # teachers and students, once
