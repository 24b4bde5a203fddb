import math

import pytest

from mindkit.evaluate.aggregate import seed_aggregate


def _rec(method, seed, value, lo, hi):
    return {"dataset": "d", "method": method, "model": "s", "head": "mm", "metric": "accuracy",
            "value": value, "ci_low": lo, "ci_high": hi, "seed": seed, "split": "test", "n": 10}


def test_seed_aggregate_hand_computed():
    recs = [_rec("mind", 0, 0.80, 0.70, 0.90), _rec("mind", 1, 0.84, 0.74, 0.94),
            _rec("mind", 2, 0.86, 0.78, 0.92), _rec("no_kd", 0, 0.5, 0.4, 0.6)]
    out = seed_aggregate(recs).set_index("method")
    m = out.loc["mind"]
    # mean 0.8333..., sample std sqrt(((-1/30)^2 + (1/150)^2 + (2/75)^2) / 2)
    mean = (0.80 + 0.84 + 0.86) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in (0.80, 0.84, 0.86)) / 2)
    half = 4.302652729911275 * std / math.sqrt(3)  # t(0.975, df=2)
    assert m["mean"] == pytest.approx(mean)
    assert m["std"] == pytest.approx(std)
    assert m["seed_ci_low"] == pytest.approx(mean - half, rel=1e-6)
    assert m["seed_ci_high"] == pytest.approx(mean + half, rel=1e-6)
    assert m["boot_low_mean"] == pytest.approx((0.70 + 0.74 + 0.78) / 3)
    assert m["n_seeds"] == 3 and m["seeds"] == "0,1,2"
    single = out.loc["no_kd"]
    assert single["mean"] == 0.5 and math.isnan(single["seed_ci_low"])


def test_seed_aggregate_errors():
    with pytest.raises(ValueError, match="seed"):
        seed_aggregate([{"value": 1.0, "ci_low": 0, "ci_high": 1}])
    with pytest.raises(ValueError, match="no records"):
        seed_aggregate([])


def test_paired_difference_and_claim_table():
    from mindkit.evaluate.aggregate import paired_difference
    from mindkit.studies.claims import claim_table

    recs = []
    for s, (a, b) in enumerate([(0.8, 0.7), (0.9, 0.85), (0.7, 0.75)]):
        for method, v in (("mind", a), ("no_kd", b)):
            r = _rec(method, s, v, v - 0.1, v + 0.1)
            recs += [{**r, "group": "paired"}, {**r, "head": "routed", "group": "all"}]
    d = paired_difference(recs, "mind", "no_kd", "accuracy", "routed", "all")
    diffs = [0.1, 0.05, -0.05]
    mean = sum(diffs) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in diffs) / 2)
    assert d["diff_mean"] == pytest.approx(mean)
    assert d["diff_ci_high"] - d["diff_mean"] == pytest.approx(4.302652729911275 * std / 3 ** 0.5)
    assert d["a_wins"] == 2
    table = claim_table(recs, "accuracy", [])
    assert list(table["claim"]) == ["a: KD helps", "a: KD helps"]  # mm/paired, routed/all
    with pytest.raises(ValueError, match="no common seeds"):
        paired_difference(recs, "mind", "nope", "accuracy")


def test_per_seed_head_weights_do_not_split_a_configuration():
    recs = [{"method": "mind_informed", "head": "routed", "group": "all", "metric": "accuracy",
             "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "seed": s,
             "head_weights": f"audio={w},image=1"} for s, v, w in [(0, 0.8, 0.5), (1, 0.9, 0.7)]]
    agg = seed_aggregate(recs)
    assert len(agg) == 1 and agg["n_seeds"].iloc[0] == 2
    assert agg["mean"].iloc[0] == pytest.approx(0.85)
