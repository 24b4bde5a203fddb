"""Run-folder records: concurrent writers, reruns, killed writers, damaged files (issue 19)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from mindkit.run import RECORDS_DB, RecordsError, RunDir, run_key

REC = {"dataset": "d", "method": "m", "model": "x", "head": "mm", "metric": "accuracy",
       "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "seed": 0, "split": "test"}


def _records(writer: int, n: int = 20) -> list[dict]:
    return [{**REC, "value": i / n, "writer": writer, "i": i} for i in range(n)]


def _write(path: str, writer: int, start: float) -> None:
    while time.time() < start:  # all writers start at the same instant
        pass
    run = RunDir(path)
    run.params = {"alpha": writer / 10, "run_dir": path}
    run.write_metrics(_records(writer), "02_mind_distillation")


def test_rerun_with_the_same_parameters_replaces_only_its_own_records(tmp_path):
    run = RunDir(tmp_path)
    run.write_metrics([REC], "01_teachers")
    run.write_metrics([{**REC, "value": 0.7}], "02", params={"alpha": 0.1})
    run.write_metrics([{**REC, "value": 0.9}], "02", params={"alpha": 0.9})
    run.write_metrics([{**REC, "value": 0.8}], "02", params={"alpha": 0.1})  # rerun
    got = json.loads(run.metrics_path.read_text())
    assert sorted((r["notebook"], r["value"]) for r in got) == [
        ("01_teachers", 0.5), ("02", 0.8), ("02", 0.9)]
    assert got == run.read_metrics()
    keys = {r["run_key"] for r in got if r["notebook"] == "02"}
    assert keys == {run_key({"alpha": 0.1}), run_key({"alpha": 0.9})}
    assert sorted((r["notebook"], r["n_records"]) for r in run.runs()) == [
        ("01_teachers", 1), ("02", 1), ("02", 1)]
    # run_dir is not part of the key: the same run elsewhere has the same key
    assert run_key({"alpha": 0.1, "run_dir": "a"}) == run_key({"alpha": 0.1, "run_dir": "b"})


def test_a_legacy_metrics_json_is_imported_and_replaced_by_a_rerun(tmp_path):
    old = [{**REC, "notebook": "01_teachers"}, {**REC, "value": 0.1, "notebook": "02"}]
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    run = RunDir(tmp_path)
    assert run.read_metrics() == old  # read as it is before any write
    run.write_metrics([{**REC, "value": 0.3}], "02", params={"alpha": 0.5})
    got = run.read_metrics()
    assert sorted((r["notebook"], r["value"]) for r in got) == [("01_teachers", 0.5),
                                                                ("02", 0.3)]


@pytest.mark.slow
def test_four_concurrent_writers_50_trials_lose_nothing(tmp_path):
    """4 processes write one run dir at the same instant, 50 times: every record lands once and
    metrics.json always parses."""
    ctx = mp.get_context("fork")
    for trial in range(50):
        path = str(tmp_path / f"t{trial}")
        RunDir(path).write_metrics([REC], "01_teachers")
        start = time.time() + 0.05
        procs = [ctx.Process(target=_write, args=(path, w, start)) for w in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0, f"trial {trial}: a writer failed"
        got = json.loads((tmp_path / f"t{trial}" / "metrics.json").read_text())
        assert got == RunDir(path).read_metrics()
        seen = sorted((r["writer"], r["i"]) for r in got if r["notebook"] != "01_teachers")
        assert seen == [(w, i) for w in range(4) for i in range(20)], f"trial {trial}"
        assert sum(r["notebook"] == "01_teachers" for r in got) == 1
        assert not list((tmp_path / f"t{trial}").glob(".metrics.json.*.tmp"))


def test_a_writer_killed_mid_write_leaves_the_previous_state_intact(tmp_path):
    """A writer SIGKILLed inside its transaction (after its DELETE/INSERTs, while exporting):
    the database and metrics.json keep the previous records, and the next write works."""
    run = RunDir(tmp_path)
    run.write_metrics([REC, {**REC, "value": 0.6}], "01_teachers")
    before = run.read_metrics()
    script = textwrap.dedent(f"""
        import os, signal, mindkit.run as r
        def die(path, text):  # killed while writing the export, inside the transaction
            open(str(path) + ".partial", "w").write(text[:10])
            os.kill(os.getpid(), signal.SIGKILL)
        r.write_text = die
        run = r.RunDir({str(tmp_path)!r})
        run.write_metrics([{REC!r}], "01_teachers", params={{"x": 1}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert run.read_metrics() == before
    assert json.loads(run.metrics_path.read_text()) == before
    run.write_metrics([{**REC, "value": 0.9}], "02")
    assert len(run.read_metrics()) == 3


def test_damaged_record_files_are_named_and_nothing_is_overwritten(tmp_path):
    run = RunDir(tmp_path / "a")
    run.write_metrics([REC], "01_teachers")
    db = run.records_path
    db.write_bytes(b"this is not a database" * 100)
    for wal in db.parent.glob(f"{RECORDS_DB}-*"):
        wal.unlink()
    with pytest.raises(RecordsError, match=f"{db}.*damaged.*mv "):
        run.check_records()
    with pytest.raises(RecordsError, match=str(db)):
        run.write_metrics([REC], "02")
    assert db.read_bytes().startswith(b"this is not a database")  # left for the user to inspect
    # an old folder with a truncated metrics.json and no database
    old = RunDir(tmp_path / "b")
    old.metrics_path.write_text('[{"dataset": "d", "val')
    with pytest.raises(RecordsError, match=f"{old.metrics_path}"):
        old.check_records()
    with pytest.raises(RecordsError, match="metrics.json"):
        old.write_metrics([REC], "02")
    assert old.metrics_path.read_text() == '[{"dataset": "d", "val'


def test_a_damaged_export_is_rebuilt_from_the_database(tmp_path):
    run = RunDir(tmp_path)
    run.write_metrics([REC], "01_teachers")
    run.metrics_path.write_text("[{")  # the export, not the source of truth
    assert run.check_records() == 1
    run.write_metrics([REC], "02")
    assert len(json.loads(run.metrics_path.read_text())) == 2


def test_records_survive_a_reader_during_writes(tmp_path):
    """Readers (read_metrics, metrics.json) never see a half-written state while writers run."""
    path = str(tmp_path)
    RunDir(path).write_metrics([REC], "01_teachers")
    ctx = mp.get_context("fork")
    start = time.time() + 0.05
    procs = [ctx.Process(target=_write, args=(path, w, start)) for w in range(3)]
    for p in procs:
        p.start()
    run = RunDir(path)
    while any(p.is_alive() for p in procs):
        n = len(run.read_metrics())
        assert n in (1, 21, 41, 61)
        assert len(json.loads(run.metrics_path.read_text())) in (1, 21, 41, 61)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(run.read_metrics()) == 61
    assert sqlite3.connect(run.records_path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert os.path.exists(run.records_path)
