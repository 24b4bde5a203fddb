"""Notebook 06 (pooled bottleneck + KD + gradient modulation) through papermill, quick, on the
three-modality digits it defaults to."""

import json

import pandas as pd
import pytest

from mindkit.cli import execute_notebook
from mindkit.evaluate.availability import availability_patterns
from mindkit.run import REQUIRED_FIELDS


@pytest.mark.notebook
def test_notebook_06_runs_quick(tmp_path):
    run = tmp_path / "nb06"
    execute_notebook("06_bottleneck_gm", run, {"dataset": "avdigits3", "seed": 0, "quick": True,
                                               "run_dir": str(run)})
    records = json.loads((run / "metrics.json").read_text())
    assert records and all(all(f in r for f in REQUIRED_FIELDS) for r in records)
    scores = [r for r in records if r["statistic"] == "availability"]
    methods = {"pb_kd_gm", "concat_kd_gm", "pb_gm", "pb_kd", "mind", "mind_gm"}
    patterns = availability_patterns(["image", "audio", "optical"])
    assert len(patterns) == 7
    # every method under every pattern, all on the same samples
    assert {(r["method"], r["pattern"]) for r in scores} == {(m, p) for m in methods
                                                             for p in patterns}
    assert len({r["n"] for r in scores}) == 1 and {r["group"] for r in scores} == {"complete"}
    pooled = [r for r in records if r["statistic"] == "availability_difference_pooled"]
    assert {(r["method_a"], r["method_b"]) for r in pooled} == {
        ("pb_kd_gm", "concat_kd_gm"), ("pb_kd_gm", "pb_gm"), ("pb_kd_gm", "pb_kd"),
        ("mind_gm", "mind")}
    assert {r["seed"] for r in pooled} == {"0"}
    for fig in ("06_availability", "06_ablation_differences", "06_gm_curves"):
        assert (run / f"{fig}.png").stat().st_size > 0
    log = pd.read_csv(run / "06_gm_log.csv")
    assert set(log["method"]) == {"pb_kd_gm", "pb_gm", "concat_kd_gm", "mind_gm"}
    active = log[log["active"]]
    coeff = active[[c for c in log if c.startswith("gm/coeff/")]]
    assert len(active) and ((coeff > 0) & (coeff <= 1)).all().all()
    runs = pd.read_csv(run / "06_runs.csv")
    assert set(runs["method"]) == methods and runs["source"].eq("trained").all()
    # the pooled-bottleneck models distil from themselves: no teachers trained for them, only
    # for MIND (one folder per seed)
    assert (run / "06" / "seed0" / "teachers").is_dir()
