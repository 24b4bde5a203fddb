"""Tests for the paired bootstrap of mindkit.evaluate.metrics: brute-force scikit-learn
references on the same resample indices, directions, undefined resamples, pooling over runs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sk_reference import sk_macro_fixed

from mindkit.evaluate import (
    AVAILABLE_METRICS,
    bootstrap_summary,
    compute_metrics,
    higher_is_better,
    metric_records,
    paired_bootstrap,
    paired_distribution,
    paired_records,
    pooled_paired_difference,
)

# ----------------------------------------------------------------------------- references


def _sk_metric(task, y, s, rows, metric):
    if metric in ("auroc", "auprc"):
        return sk_macro_fixed(task, y, s, rows, metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compute_metrics(task, y[rows], s[rows], [metric])[metric]


def _brute_paired(task, y, sa, sb, metric, n_boot, seed, alpha=0.05):
    """The paired bootstrap by a loop over the documented resample indices."""
    n = len(y)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    a = np.array([_sk_metric(task, y, sa, idx[b], metric) for b in range(n_boot)])
    b_ = np.array([_sk_metric(task, y, sb, idx[b], metric) for b in range(n_boot)])
    ok = np.isfinite(a) & np.isfinite(b_)
    d = a[ok] - b_[ok]
    lo, hi = np.percentile(d, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    better = d > 0 if higher_is_better(metric) else d < 0
    return {"ci_low": lo, "ci_high": hi, "p_a_better": better.mean(),
            "n_undefined": int((~ok).sum())}


def _case(task, n, seed):
    rng = np.random.default_rng(seed)
    if task == "multiclass":
        y = rng.integers(0, 4, size=n)
        y[:4] = np.arange(4)
        sa = np.round(rng.normal(size=(n, 4)) + 1.5 * np.eye(4)[y], 1)  # ties
        sb = np.round(rng.normal(size=(n, 4)) + 0.7 * np.eye(4)[y], 1)
        return y, sa, sb
    prevalence = np.array([0.3] if task == "binary" else [0.4, 0.3, 0.1])
    y = (rng.random((n, len(prevalence))) < prevalence).astype(float)
    y[0], y[1] = 1.0, 0.0
    sa = np.round(rng.normal(size=y.shape) + 1.2 * y, 1)
    sb = np.round(rng.normal(size=y.shape) + 0.5 * y, 1)
    return y, sa, sb


# ----------------------------------------------------------------------------- paired bootstrap


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_paired_ci_equals_brute_force_sklearn_loop(task):
    n, n_boot, seed = 24, 60, 7
    y, sa, sb = _case(task, n, 1)
    metrics = list(AVAILABLE_METRICS[task])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = paired_bootstrap(task, y, sa, sb, metrics, n_boot=n_boot, seed=seed)
        full_a = compute_metrics(task, y, sa, metrics)
        full_b = compute_metrics(task, y, sb, metrics)
    undefined = 0
    for m in metrics:
        ref = _brute_paired(task, y, sa, sb, m, n_boot, seed)
        r = res[m]
        assert r["value_a"] == pytest.approx(full_a[m]) and r["value_b"] == pytest.approx(full_b[m])
        assert r["diff"] == pytest.approx(full_a[m] - full_b[m])
        assert r["ci_low"] == pytest.approx(ref["ci_low"], abs=1e-12), m
        assert r["ci_high"] == pytest.approx(ref["ci_high"], abs=1e-12), m
        assert r["p_a_better"] == pytest.approx(ref["p_a_better"]), m
        assert r["n_undefined"] == ref["n_undefined"], m
        assert r["n_boot"] == n_boot and r["n"] == n
        undefined += r["n_undefined"]
    assert res[metrics[0]]["ci_low"] < res[metrics[0]]["ci_high"]
    if task == "multilabel":
        assert undefined > 0  # the rare label makes some resamples undefined


def test_identical_models_give_zero_difference():
    y, sa, _ = _case("multilabel", 20, 2)
    res = paired_bootstrap("multilabel", y, sa, sa.copy(), AVAILABLE_METRICS["multilabel"],
                           n_boot=100)
    for m, r in res.items():
        assert r["diff"] == 0.0 and r["ci_low"] == 0.0 and r["ci_high"] == 0.0, m
        assert r["p_a_better"] == 0.0  # ties are not wins
    y, sa, _ = _case("multiclass", 30, 2)
    recs = paired_records("multiclass", y, sa, sa, method_a="m", method_b="m",
                          metrics=AVAILABLE_METRICS["multiclass"], n_boot=50)
    assert all(r["value"] == r["ci_low"] == r["ci_high"] == 0.0 for r in recs)


def test_strictly_better_model_wins_every_resample():
    rng = np.random.default_rng(0)
    n = 40
    y = rng.integers(0, 3, size=n)
    right = 4.0 * np.eye(3)[y]  # correct on every sample
    wrong = 4.0 * np.eye(3)[(y + 1) % 3]  # wrong on every sample
    res = paired_bootstrap("multiclass", y, right, wrong, ["accuracy", "nll"], n_boot=200)
    assert res["accuracy"]["diff"] == 1.0
    assert (res["accuracy"]["ci_low"], res["accuracy"]["ci_high"]) == (1.0, 1.0)
    assert res["accuracy"]["p_a_better"] == 1.0
    # nll: lower is better, so a (lower nll) wins every resample; the diff stays a - b < 0
    assert res["nll"]["diff"] < 0 and res["nll"]["ci_high"] < 0
    assert res["nll"]["p_a_better"] == 1.0
    swapped = paired_bootstrap("multiclass", y, wrong, right, ["accuracy", "nll"], n_boot=200)
    assert swapped["nll"]["diff"] > 0 and swapped["nll"]["ci_low"] > 0
    assert swapped["nll"]["p_a_better"] == 0.0 and swapped["accuracy"]["p_a_better"] == 0.0


def test_nll_direction_on_mixed_models():
    # a is better on most samples only: p_a_better counts resamples where nll(a) < nll(b)
    y, sa, sb = _case("multiclass", 50, 3)
    res = paired_bootstrap("multiclass", y, sa, sb, ["nll"], n_boot=300, seed=4)["nll"]
    ref = _brute_paired("multiclass", y, sa, sb, "nll", 300, 4)
    assert res["diff"] < 0  # a is the sharper, better model
    assert res["p_a_better"] == pytest.approx(ref["p_a_better"])
    assert 0.5 < res["p_a_better"]
    other = paired_bootstrap("multiclass", y, sb, sa, ["nll"], n_boot=300, seed=4)["nll"]
    assert other["p_a_better"] == pytest.approx(1 - res["p_a_better"])  # no exact ties here


def test_undefined_resamples_counted_on_tiny_multilabel():
    # label 1 has a single positive (row 0): resamples without row 0 leave it one class only
    y = np.array([[1, 1], [0, 0], [1, 0], [0, 0], [1, 0], [0, 0], [0, 0], [1, 0]], dtype=float)
    rng = np.random.default_rng(5)
    sa, sb = rng.normal(size=y.shape), rng.normal(size=y.shape)
    n_boot, seed = 300, 9
    idx = np.random.default_rng(seed).integers(0, 8, size=(n_boot, 8))
    expected = 0
    for b in range(n_boot):
        rows = y[idx[b]]
        expected += any(len(np.unique(rows[:, j])) < 2 for j in range(2))
    assert 0 < expected < n_boot
    res = paired_bootstrap("multilabel", y, sa, sb, ["auroc", "auprc", "accuracy"],
                           n_boot=n_boot, seed=seed)
    assert res["auroc"]["n_undefined"] == res["auprc"]["n_undefined"] == expected
    assert res["accuracy"]["n_undefined"] == 0
    single = bootstrap_summary("multilabel", y, sa, ["auroc"], n_boot=n_boot, seed=seed)
    assert single["auroc"].n_undefined == expected
    recs = metric_records("multilabel", y, sa, metrics=["auroc", "f1"], n_boot=n_boot,
                          boot_seed=seed)
    assert [r["boot_undefined"] for r in recs] == [expected, 0]
    precs = paired_records("multilabel", y, sa, sb, method_a="a", method_b="b",
                           metrics=["auroc"], n_boot=n_boot, boot_seed=seed)
    assert precs[0]["boot_undefined"] == expected


def test_shape_mismatch_is_a_clear_error():
    y, sa, sb = _case("multiclass", 20, 0)
    with pytest.raises(ValueError, match=r"same shape.*\[20, 4\].*\[20, 3\]"):
        paired_bootstrap("multiclass", y, sa, sb[:, :3])
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap("multiclass", y, sa, sb[:19])
    with pytest.raises(ValueError, match="same shape"):
        paired_records("multiclass", y, sa, sb[:, :3], method_a="a", method_b="b")
    with pytest.raises(ValueError, match="same shape"):
        paired_distribution("multiclass", y, sa, sb[:, :3], "accuracy", 10, 0)
    with pytest.raises(ValueError, match="length mismatch"):
        paired_bootstrap("multiclass", y[:19], sa, sb)


def test_paired_records_fields_and_empty():
    y, sa, sb = _case("binary", 30, 4)
    recs = paired_records("binary", y, sa, sb, method_a="mind", method_b="no_kd", n_boot=50,
                          boot_seed=3, dataset="toy", head="mm", seed=2)
    res = paired_bootstrap("binary", y, sa, sb, n_boot=50, seed=3)
    assert [r["metric"] for r in recs] == ["auroc", "auprc"]
    for r in recs:
        assert set(r) == {"dataset", "head", "seed", "metric", "method_a", "method_b", "value",
                          "ci_low", "ci_high", "p_a_better", "value_a", "value_b", "n",
                          "boot_undefined"}
        ref = res[r["metric"]]
        assert r["value"] == ref["diff"] == r["value_a"] - r["value_b"]
        assert (r["ci_low"], r["ci_high"], r["p_a_better"]) == (
            ref["ci_low"], ref["ci_high"], ref["p_a_better"])
        assert r["method_a"] == "mind" and r["method_b"] == "no_kd" and r["n"] == 30
        assert r["seed"] == 2
    assert paired_records("binary", np.zeros(0), np.zeros(0), np.zeros(0), method_a="a",
                          method_b="b") == []
    with pytest.raises(ValueError, match="reserved"):
        paired_records("binary", y, sa, sb, method_a="a", method_b="b", p_a_better=1)
    none = paired_bootstrap("binary", y, sa, sb, ["auroc"], n_boot=0)["auroc"]
    assert math.isnan(none["ci_low"]) and math.isnan(none["p_a_better"])
    assert none["n_undefined"] == 0


# ----------------------------------------------------------------------------- pooled over runs


def test_pooled_difference_by_hand():
    nan = math.nan
    # per-run differences: run 0 [0.2, -0.05, nan, 0.1, 0.0]; run 1 [0.1, -0.1, 0.1, nan, 0.1]
    da = [np.array([0.8, 0.7, nan, 0.9, 0.5]), np.array([0.5, 0.6, 0.7, 0.8, 0.6])]
    db = [np.array([0.6, 0.75, 0.5, 0.8, 0.5]), np.array([0.4, 0.7, 0.6, nan, 0.5])]
    out = pooled_paired_difference(da, db, [0.8, 0.6], [0.7, 0.65])
    # defined resamples 0, 1, 4 -> means over runs 0.15, -0.075, 0.05
    assert out["diff"] == pytest.approx((0.1 - 0.05) / 2)
    assert out["ci_low"] == pytest.approx(-0.075 + 0.05 * 0.125)  # linear percentile 2.5
    assert out["ci_high"] == pytest.approx(0.05 + 0.95 * 0.1)  # 97.5
    assert out["p_a_better"] == pytest.approx(2 / 3)
    assert out["n_runs"] == 2 and out["n_undefined"] == 2 and out["n_boot"] == 5
    # lower is better for nll: a wins where the mean difference is negative
    assert pooled_paired_difference(da, db, [0.8, 0.6], [0.7, 0.65], metric="nll")[
        "p_a_better"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="one entry per run"):
        pooled_paired_difference(da, db[:1], [0.8, 0.6], [0.7, 0.65])
    with pytest.raises(ValueError, match="same length"):
        pooled_paired_difference(da, [db[0], db[1][:4]], [0.8, 0.6], [0.7, 0.65])


def test_pooled_difference_from_paired_distributions():
    runs = [_case("multiclass", 40, s) for s in (10, 11)]
    pts_a, pts_b, d_a, d_b = [], [], [], []
    for seed, (y, sa, sb) in enumerate(runs):
        pa, pb, da, db = paired_distribution("multiclass", y, sa, sb, "accuracy", 80, seed)
        res = paired_bootstrap("multiclass", y, sa, sb, ["accuracy"], n_boot=80, seed=seed)
        assert pa - pb == pytest.approx(res["accuracy"]["diff"])
        assert np.percentile(da - db, 2.5) == pytest.approx(res["accuracy"]["ci_low"])
        pts_a.append(pa), pts_b.append(pb), d_a.append(da), d_b.append(db)
    one = pooled_paired_difference(d_a[:1], d_b[:1], pts_a[:1], pts_b[:1])
    res0 = paired_bootstrap("multiclass", *runs[0], ["accuracy"], n_boot=80, seed=0)["accuracy"]
    for k in ("diff", "ci_low", "ci_high", "p_a_better", "n_undefined"):
        assert one[k] == pytest.approx(res0[k])  # one run: the plain paired bootstrap
    both = pooled_paired_difference(d_a, d_b, pts_a, pts_b)
    means = ((d_a[0] - d_b[0]) + (d_a[1] - d_b[1])) / 2
    assert both["diff"] == pytest.approx(np.mean(np.array(pts_a) - np.array(pts_b)))
    assert both["ci_low"] == pytest.approx(np.percentile(means, 2.5))
    assert both["ci_high"] == pytest.approx(np.percentile(means, 97.5))
    assert both["n_runs"] == 2
