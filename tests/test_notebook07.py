"""Notebook 07 (MCKD and the three seed methods side by side) through papermill, quick."""

import json

import pandas as pd
import pytest

from mindkit.cli import execute_notebook
from mindkit.run import REQUIRED_FIELDS


@pytest.mark.notebook
def test_notebook_07_runs_quick(tmp_path):
    run = tmp_path / "nb07"
    execute_notebook("07_mckd_and_comparison", run, {"dataset": "avdigits", "seed": 0,
                                                     "quick": True, "run_dir": str(run)})
    records = json.loads((run / "metrics.json").read_text())
    assert records and all(all(f in r for f in REQUIRED_FIELDS) for r in records)
    methods = {"mind", "pb_kd_gm", "mckd", "no_kd", "single_head_zero"}
    scores = [r for r in records if r["statistic"] == "availability"]
    assert {(r["method"], r["pattern"]) for r in scores} == {
        (m, p) for m in methods for p in ("audio+image", "audio", "image")}
    pooled = [r for r in records if r["statistic"] == "availability_difference_pooled"]
    assert len({(r["method_a"], r["method_b"]) for r in pooled}) == 10  # every pair
    curves = [r for r in records if r["statistic"] == "robustness_curve"]
    assert {r["method"] for r in curves} == methods
    assert {r["method"] for r in records if r.get("statistic") == "profile"} == methods
    lead = pd.read_csv(run / "07_leaders.csv")
    assert len(lead) == 3 and set(lead["best"]) <= methods
    assert (lead["lead_ci_low"] <= lead["lead"]).all()
    assert (lead["lead"] <= lead["lead_ci_high"]).all()
    imp = pd.read_csv(run / "07_importances.csv")
    cols = ["importance/audio", "importance/image"]
    assert set(imp["method"]) == {"mckd"} and (imp[cols].sum(axis=1) - 1).abs().max() < 1e-6
    for fig in ("07_side_by_side", "07_missing_curves", "07_importances"):
        assert (run / f"{fig}.png").stat().st_size > 0
    # notebook 09 reads this run folder's notebook-07 records (one dataset) when no sweep is given
    execute_notebook("09_replication", run, {"dataset": "avdigits", "seed": 0, "quick": True,
                                             "run_dir": str(run)})
    recs = [r for r in json.loads((run / "metrics.json").read_text())
            if r.get("notebook") == "09_replication"]
    diffs = [r for r in recs if r["statistic"] == "replication_difference"]
    assert {r["method_a"] for r in diffs} == methods - {"no_kd"}
    assert {r["pattern"] for r in diffs} == {"audio+image", "audio", "image"}
    assert all(r["verdict"] in ("holds", "fails", "undecided") for r in diffs)
    claims = pd.read_csv(run / "09_claims.csv")
    assert len(claims) == 5 and (claims["n_cases"] >= 1).all()
    assert (run / "09_forest.png").stat().st_size > 0
