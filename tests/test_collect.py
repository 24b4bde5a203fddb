"""sweep-collect: tolerant of a damaged run, atomic outputs (issue 19, item 5)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mindkit.run import RunDir
from mindkit.sweep import collect

REC = {"dataset": "d", "method": "m", "model": "x", "head": "mm", "metric": "accuracy",
       "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "seed": 0, "split": "test"}


def _sweep(tmp_path, n=3):
    out = tmp_path / "sw"
    for i in range(n):
        folder = out / f"alpha={i}"
        folder.mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps({"alpha": i}))
        (folder / "status.json").write_text(json.dumps({"status": "ok", "params": {"alpha": i}}))
        RunDir(folder).write_metrics([{**REC, "value": i / 10}], "02", params={"alpha": i})
    return out


def test_a_run_with_damaged_records_is_reported_and_the_others_collected(tmp_path):
    out = _sweep(tmp_path)
    bad = out / "alpha=1"
    (bad / "records.sqlite").unlink()
    (bad / "metrics.json").write_text('[{"dataset": ')  # damaged, and no database to rebuild it
    with pytest.warns(UserWarning, match=f"alpha=1 is listed as failed.*{bad / 'metrics.json'}"):
        df = collect(out)
    assert sorted(df.loc[df.status == "ok", "value"]) == [0.0, 0.2]
    row = df[df.run == "alpha=1"].iloc[0]
    assert row.status == "failed" and "unreadable records" in row.error
    assert str(bad / "metrics.json") in row.error
    assert pd.read_csv(out / "results.csv").shape[0] == 3


def test_an_interrupted_collect_leaves_the_previous_results_intact(tmp_path, monkeypatch):
    out = _sweep(tmp_path)
    collect(out)
    before = (out / "results.csv").read_text()
    before_pq = (out / "results.parquet").read_bytes()
    RunDir(out / "alpha=2").write_metrics([{**REC, "value": 0.9}], "02", params={"alpha": 2})

    def crash(self, path, *a, **k):  # killed half-way through writing the CSV
        open(path, "w").write("alpha,run\n0,")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(KeyboardInterrupt):
        collect(out)
    monkeypatch.undo()
    assert (out / "results.csv").read_text() == before
    assert not list(out.glob(".results.csv.*"))  # the partial temporary file is removed
    # the parquet may already be the new one (written first, atomically), never a partial one
    assert (out / "results.parquet").read_bytes() == before_pq or \
        len(pd.read_parquet(out / "results.parquet")) == 3
    assert sorted(collect(out)["value"]) == [0.0, 0.1, 0.9]
