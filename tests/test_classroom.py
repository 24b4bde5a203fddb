"""The classroom path: a filled run folder copied for each learner reuses every model, and quick
mode keeps to its own folder and trains its own teachers."""

from __future__ import annotations

import json
import os

import pytest

from mindkit.cli import main
from mindkit.distill.recipes import train_teachers
from mindkit.run import QUICK_SUBDIR, RunDir, copy_run, run_dir_for
from mindkit.train import TrainConfig
from mindkit.train.store import store_for

CFG = TrainConfig(epochs=1, batch_size=32)


def _marker(folder, quick: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(
        {"dataset": "avdigits", "seed": 0, "quick": quick, "options": {}}))


def test_quick_runs_go_beside_a_full_run(tmp_path):
    assert run_dir_for(tmp_path / "new", quick=True) == tmp_path / "new"  # nothing there yet
    _marker(tmp_path / "q", quick=True)
    assert run_dir_for(tmp_path / "q", quick=True) == tmp_path / "q"  # a quick run folder
    _marker(tmp_path / "full", quick=False)
    assert run_dir_for(tmp_path / "full", quick=True) == tmp_path / "full" / QUICK_SUBDIR
    assert run_dir_for(tmp_path / "full", quick=False) == tmp_path / "full"


@pytest.fixture
def filled(toy_dataset, tmp_path):
    """A run folder with records, teachers (checkpoints exported from its store) and the store."""
    src = tmp_path / "class"
    _marker(src, quick=False)
    train_teachers(toy_dataset, ["xs"], config=CFG, out_dir=src / "teachers", progress=False,
                   store=store_for("", src))
    RunDir(src).write_metrics([{"dataset": "toy", "method": "m", "model": "x", "head": "mm",
                                "metric": "accuracy", "value": 0.5, "ci_low": 0.4,
                                "ci_high": 0.6, "seed": 0, "split": "test"}], "01_teachers")
    return src


def test_a_copied_run_reuses_every_model_and_keeps_its_own_records(toy_dataset, filled,
                                                                   tmp_path):
    dst = copy_run(filled, tmp_path / "alice")
    _, rows = train_teachers(toy_dataset, ["xs"], config=CFG, out_dir=dst / "teachers",
                             progress=False, store=store_for("", dst))
    assert all(r["source"].startswith("store:") for r in rows)  # nothing trained again
    assert [e["event"] for e in store_for("", dst).events()].count("trained") == 2  # src's
    # checkpoints are shared (mindkit replaces them, never edits them); databases are copies
    a, b = filled / "teachers" / "image_xs.safetensors", dst / "teachers" / "image_xs.safetensors"
    assert os.path.samefile(a, b)
    assert not os.path.samefile(filled / "records.sqlite", dst / "records.sqlite")
    RunDir(dst).write_metrics([{"dataset": "toy", "method": "m2", "model": "x", "head": "mm",
                                "metric": "accuracy", "value": 0.7, "ci_low": 0.6,
                                "ci_high": 0.8, "seed": 0, "split": "test"}], "02_x")
    assert {r["method"] for r in RunDir(dst).read_metrics()} == {"m", "m2"}
    assert {r["method"] for r in RunDir(filled).read_metrics()} == {"m"}  # source untouched


def test_copy_run_refusals(filled, tmp_path, capsys):
    assert main(["copy-run", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "is not a run folder (no dataset.json)" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(["copy-run", str(filled), str(tmp_path / "taken")]) == 2
    assert "exists; give a new folder" in capsys.readouterr().err
    assert main(["copy-run", str(filled), str(tmp_path / "bob")]) == 0
    assert (tmp_path / "bob" / "teachers" / "image_xs.safetensors").exists()


@pytest.mark.notebook
def test_quick_notebook_02_beside_a_full_run_trains_its_own_teachers(tmp_path):
    from mindkit.notebook import execute_notebook

    _marker(tmp_path, quick=False)  # a full run lives here; its teachers would be refused
    params = {"dataset": "avdigits", "seed": 0, "quick": True, "run_dir": str(tmp_path)}
    execute_notebook("02_mind_distillation", tmp_path, params)
    quick = tmp_path / QUICK_SUBDIR
    assert (quick / "teachers" / "image_xs.safetensors").exists()
    assert (quick / "notebooks" / "01_teachers.ipynb").exists()  # run there, in quick mode
    methods = {r["method"] for r in RunDir(quick).read_metrics()}
    assert {"mind", "no_kd", "mind - no_kd"} <= methods
    assert json.loads((tmp_path / "dataset.json").read_text())["quick"] is False  # untouched


@pytest.mark.notebook
def test_full_notebook_02_without_teachers_says_which_notebook_to_run(tmp_path):
    import papermill as pm

    from mindkit.notebook import execute_notebook

    params = {"dataset": "avdigits", "seed": 0, "quick": False, "run_dir": str(tmp_path)}
    with pytest.raises(pm.PapermillExecutionError, match="01_teachers"):
        execute_notebook("02_mind_distillation", tmp_path, params)
