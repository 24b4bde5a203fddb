"""The replication study's analysis (mindkit.studies.replication) on records built by hand: the
paired differences are read the right way round, the pooled estimate is the inverse-variance mean,
verdicts and the seeds needed follow their formulas, claims count datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mindkit.studies import replication as R

PATTERNS = {"a": ("audio+image", "audio", "image"), "b": ("ecg+lab+note", "lab", "ecg+lab")}


def _records() -> pd.DataFrame:
    """Two datasets (``a`` multiclass, ``b`` binary), three seeds, mind/no_kd/single_head_zero;
    every pooled difference is recorded as ``no_kd - x`` on ``a`` (turned around by the reader)
    and ``x - no_kd`` on ``b``."""
    rows = []
    truth = {("a", "mind"): 0.02, ("a", "single_head_zero"): -0.05,
             ("b", "mind"): 0.01, ("b", "single_head_zero"): 0.03}
    for ds, metric in (("a", "accuracy"), ("b", "auroc")):
        for pat in PATTERNS[ds]:
            for seed in (0, 1, 2):
                for m, v in (("no_kd", 0.80), ("mind", 0.80 + truth[ds, "mind"]),
                             ("single_head_zero", 0.80 + truth[ds, "single_head_zero"])):
                    for met in (metric, "ece"):
                        rows.append({"dataset": ds, "status": "ok", "statistic": "availability",
                                     "pattern": pat, "method": m, "metric": met, "seed": seed,
                                     "value": v + 0.01 * seed, "ci_low": v - 0.02,
                                     "ci_high": v + 0.02})
                for m in ("mind", "single_head_zero"):
                    d = truth[ds, m] + 0.004 * (seed - 1)
                    a, b, s = ("no_kd", m, -1) if ds == "a" else (m, "no_kd", 1)
                    rows.append({"dataset": ds, "status": "ok",
                                 "statistic": "availability_difference", "pattern": pat,
                                 "method_a": a, "method_b": b, "metric": metric, "seed": seed,
                                 "value": s * d, "ci_low": s * d - 0.01, "ci_high": s * d + 0.01})
            for m in ("mind", "single_head_zero"):
                d, half = truth[ds, m], 0.015 if ds == "a" else 0.03
                a, b, s = ("no_kd", m, -1) if ds == "a" else (m, "no_kd", 1)
                lo, hi = sorted((s * (d - half), s * (d + half)))
                rows.append({"dataset": ds, "status": "ok",
                             "statistic": "availability_difference_pooled", "pattern": pat,
                             "method_a": a, "method_b": b, "metric": metric, "seed": "0,1,2",
                             "value": s * d, "ci_low": lo, "ci_high": hi, "p_a_better": 0.9,
                             "n": 300})
    rows.append({"dataset": "c", "status": "failed", "error": "boom"})
    df = pd.DataFrame(rows)
    df["record.dataset"] = df["dataset"].str.upper()
    return df


@pytest.fixture
def frame():
    return R.replication_frame(_records())


def test_failed_runs_are_named_and_left_out(frame):
    assert frame.attrs["failed"] == ["c"] and set(frame["dataset"]) == {"a", "b"}
    assert set(frame["dataset_name"]) == {"A", "B"}
    with pytest.raises(ValueError, match="no finished runs"):
        R.replication_frame(pd.DataFrame())


def test_scores_use_each_datasets_primary_metric(frame):
    s = R.score_table(frame)
    assert set(zip(s["dataset"], s["metric"])) == {("a", "accuracy"), ("b", "auroc")}
    row = s[s["dataset"].eq("a") & s["method"].eq("mind") & s["pattern"].eq("audio+image")]
    assert row["mean"].iloc[0] == pytest.approx(0.83)  # 0.82 + 0.01 * mean(0, 1, 2)
    assert set(s.loc[s["dataset"].eq("a"), "pattern_class"]) == {"complete", "audio", "image"}


def test_differences_are_method_minus_reference_whichever_way_recorded(frame):
    d = R.differences(frame)
    comp = d[d["pattern_class"].eq("complete")].set_index(["dataset", "method"])
    assert comp.loc[("a", "mind"), "diff"] == pytest.approx(0.02)  # recorded as no_kd - mind
    assert comp.loc[("a", "mind"), "ci_low"] == pytest.approx(0.005)
    assert comp.loc[("a", "mind"), "p_better"] == pytest.approx(0.1)  # 1 - P(no_kd better)
    assert comp.loc[("b", "mind"), "diff"] == pytest.approx(0.01)
    assert comp.loc[("a", "mind"), "seed_mean"] == pytest.approx(0.02)
    assert comp.loc[("a", "mind"), "seed_std"] == pytest.approx(0.004)
    v = R.verdicts(d).set_index(["dataset", "pattern", "method"])
    assert v.loc[("a", "audio+image", "mind"), "verdict"] == "holds"
    assert v.loc[("a", "audio+image", "single_head_zero"), "verdict"] == "fails"
    assert v.loc[("b", "ecg+lab+note", "mind"), "verdict"] == "undecided"  # [-0.02, 0.04]


def test_seeds_needed():
    # ((1.96 + 0.8416) * 0.004 / 0.01)^2 = 1.256 -> at least 2 seeds
    assert R.seeds_needed(0.01, 0.004) == 2
    assert R.seeds_needed(0.001, 0.01) == math.ceil(((R.Z95 + R.Z80) * 10) ** 2)  # 785
    assert R.seeds_needed(0.0, 0.01) == math.inf and R.seeds_needed(1e-6, 0.01) == math.inf
    assert math.isnan(R.seeds_needed(0.01, float("nan")))


def test_pooled_estimate_is_the_inverse_variance_mean(frame):
    d = R.verdicts(R.differences(frame))
    meta = R.meta_analysis(d).set_index("method")
    # mind: a 0.02 with CI half-width 0.015, b 0.01 with 0.03 -> sigma = half / 1.96
    w = np.array([1 / (0.015 / R.Z95) ** 2, 1 / (0.03 / R.Z95) ** 2])
    fixed = float((w * [0.02, 0.01]).sum() / w.sum())
    assert meta.loc["mind", "fixed"] == pytest.approx(fixed)
    se = 1 / math.sqrt(w.sum())
    assert meta.loc["mind", "fixed_ci_low"] == pytest.approx(fixed - R.Z95 * se, abs=1e-6)
    q = float((w * (np.array([0.02, 0.01]) - fixed) ** 2).sum())
    assert meta.loc["mind", "Q"] == pytest.approx(q)
    assert meta.loc["mind", "I2"] == 0.0 and meta.loc["mind", "tau2"] == 0.0  # Q < df: no spread
    assert meta.loc["mind", "random"] == pytest.approx(fixed)
    # single_head_zero: -0.05 vs +0.03, far apart for their CIs: heterogeneous
    assert meta.loc["single_head_zero", "I2"] > 0.9 and meta.loc["single_head_zero", "tau2"] > 0
    assert meta.loc["single_head_zero", "random_ci_high"] - meta.loc[
        "single_head_zero", "random_ci_low"] > meta.loc["single_head_zero", "fixed_ci_high"] - \
        meta.loc["single_head_zero", "fixed_ci_low"]


def test_claims_count_datasets_and_turn_the_single_head_sign(frame):
    v = R.verdicts(R.differences(frame))
    claims = R.claim_rows(v).set_index("comparison")
    kd = claims.loc["mind - no_kd"].iloc[0]  # the complete-pattern claim comes first
    assert (kd["n_cases"], kd["holds"], kd["undecided"]) == (2, 1, 1)
    assert kd["datasets_holding"] == "A"
    sh = claims.loc["single_head_zero - no_kd (sign turned)"]
    # a: single head 0.05 worse -> the multi-head claim holds; b: 0.03 [0.0, 0.06] -> undecided
    assert sh["holds"] == 2 and sh["datasets_holding"] == "A"
    recs = R.replication_records(v, R.meta_analysis(v), "0,1,2")
    assert {r["statistic"] for r in recs} == {"replication_difference", "replication_meta"}
    assert all(r["seed"] == "0,1,2" for r in recs)
