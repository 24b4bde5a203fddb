"""Tests for mindkit.evaluate.metrics: hand-computed cases, sklearn cross-checks, bootstrap."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sk_reference import sk_macro_fixed
from sklearn.metrics import roc_auc_score

from mindkit.evaluate import (
    AVAILABLE_METRICS,
    METRICS_BY_TASK,
    MetricWarning,
    bootstrap_ci,
    bootstrap_distribution,
    bootstrap_summary,
    compute_metrics,
    higher_is_better,
    metric_records,
    primary_metric,
)
from mindkit.evaluate.metrics import bootstrap as bootstrap_mod


def _onehot_logits(pred, n_classes, scale=5.0):
    logits = np.zeros((len(pred), n_classes))
    logits[np.arange(len(pred)), pred] = scale
    return logits


# ----------------------------------------------------------------------------- hand cases


def test_multiclass_accuracy_and_macro_f1_by_hand():
    y = [0, 1, 2, 2]
    logits = _onehot_logits([0, 2, 2, 2], 3)
    out = compute_metrics("multiclass", y, logits)
    assert set(out) == {"accuracy", "macro_f1"}
    assert out["accuracy"] == pytest.approx(0.75)
    # class 0: F1 = 1; class 1: tp 0 -> 0; class 2: tp 2, fp 1, fn 0 -> 4 / 5 = 0.8
    assert out["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.8) / 3)


def test_multiclass_macro_f1_counts_never_seen_class_as_zero():
    # class 3 is neither true nor predicted: it still counts (labels=range(C)), as 0
    out = compute_metrics("multiclass", [0, 1], _onehot_logits([0, 1], 4))
    assert out["macro_f1"] == pytest.approx(0.5)


def test_torch_inputs_match_numpy():
    y = np.array([0, 1, 2, 2, 1])
    logits = np.random.default_rng(0).normal(size=(5, 3))
    a = compute_metrics("multiclass", y, logits, ["accuracy", "macro_f1", "nll"])
    b = compute_metrics(
        "multiclass",
        torch.tensor(y),
        torch.tensor(logits, dtype=torch.float32, requires_grad=True),
        ["accuracy", "macro_f1", "nll"],
    )
    for k in a:
        assert b[k] == pytest.approx(a[k], abs=1e-6)


def test_multiclass_nll_by_hand():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
    out = compute_metrics("multiclass", [0, 2], logits, ["nll"])
    assert out["nll"] == pytest.approx((-math.log(0.5) - math.log(0.1)) / 2)
    probs = np.exp(logits)
    out_p = compute_metrics("multiclass", [0, 2], probs, ["nll"], from_probs=True)
    assert out_p["nll"] == pytest.approx(out["nll"])


def test_binary_auroc_auprc_by_hand():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]  # one misordered pair (0.35 < 0.4) out of 4
    out = compute_metrics("binary", y, s, ["auroc", "auprc"], from_probs=True)
    assert out["auroc"] == pytest.approx(0.75)
    # descending: 0.8 (pos, P=1, R=1/2), 0.4 (neg), 0.35 (pos, P=2/3, R=1)
    assert out["auprc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # the same ranking as logits gives the same values; [N, 1] shape also accepted
    logit = np.log(np.array(s) / (1 - np.array(s)))[:, None]
    out_l = compute_metrics("binary", np.array(y, float)[:, None], logit, ["auroc", "auprc"])
    assert out_l == pytest.approx(out)


def test_binary_threshold_logits_vs_probs():
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    logits = np.array([[-1.0], [0.5], [-0.2], [0.3], [2.0]])
    probs = 1 / (1 + np.exp(-logits))
    a = compute_metrics("binary", y, logits, ["accuracy", "f1"])
    b = compute_metrics("binary", y, probs, ["accuracy", "f1"], from_probs=True)
    assert a == pytest.approx(b)
    # predictions 0,1,0,1,1 vs truth 0,1,1,0,1: 3 correct; tp 2, fp 1, fn 1 -> F1 = 4 / 6
    assert a["accuracy"] == pytest.approx(3 / 5)
    assert a["f1"] == pytest.approx(4 / 6)


def test_multilabel_skips_constant_label():
    y = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=float)
    s = np.array([[0.1, 0.9, 0.3], [0.8, 0.2, 0.2], [0.7, 0.4, 0.9], [0.3, 0.6, 0.1]])
    with pytest.warns(MetricWarning, match="label 2"):
        out = compute_metrics("multilabel", y, s, from_probs=True)
    # label 0: perfectly ranked -> 1; label 1: pos {0.9, 0.4}, neg {0.2, 0.6} -> 3/4
    assert out["auroc"] == pytest.approx((1.0 + 0.75) / 2)
    with pytest.warns(MetricWarning):
        none_left = compute_metrics("multilabel", np.ones((4, 2)), s[:, :2], ["auroc", "auprc"])
    assert math.isnan(none_left["auroc"]) and math.isnan(none_left["auprc"])


def test_multiclass_auroc_absent_class_does_not_crash():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(40, 4))
    y = rng.integers(0, 4, size=40)
    probs = torch.softmax(torch.tensor(logits), 1).numpy()
    full = compute_metrics("multiclass", y, logits, ["auroc"])["auroc"]
    ref = roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert full == pytest.approx(ref)

    y_missing = np.where(y == 3, 0, y)  # class 3 absent from y_true
    with pytest.warns(MetricWarning, match="class 3"):
        part = compute_metrics("multiclass", y_missing, logits, ["auroc"])["auroc"]
    per_class = [roc_auc_score(y_missing == c, probs[:, c]) for c in range(3)]
    assert part == pytest.approx(np.mean(per_class))
    with pytest.warns(MetricWarning):
        single = compute_metrics("multiclass", np.zeros(40, int), logits, ["auroc"])
    assert math.isnan(single["auroc"])


# ----------------------------------------------------------------------------- bootstrap


def _nan_equal(a, b, tol=1e-10):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


CASES = {
    "multiclass": AVAILABLE_METRICS["multiclass"],
    "binary": AVAILABLE_METRICS["binary"],
    "multilabel": AVAILABLE_METRICS["multilabel"],
}


def _make_case(task, n, rng):
    if task == "multiclass":
        y = rng.integers(0, 4, size=n)
        s = np.round(rng.normal(size=(n, 4)) + 1.5 * np.eye(4)[y], 1)  # rounding makes ties
        return y, s
    prevalence = np.array([0.15] if task == "binary" else [0.4, 0.3, 0.08])
    y = (rng.random((n, len(prevalence))) < prevalence).astype(float)
    y[0] = 1.0  # at least one positive per label; rare ones vanish from some resamples
    s = np.round(rng.normal(size=y.shape) + y, 1)
    return y, s


def _sk_resample(task, y, s, rows, metrics):
    """Reference metrics of one resample: scikit-learn (via compute_metrics) on the rows, the
    ranking metrics over the fixed label set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = compute_metrics(task, y[rows], s[rows], metrics)
    for m in ("auroc", "auprc"):
        if m in ref:
            ref[m] = sk_macro_fixed(task, y, s, rows, m)
    return ref


@pytest.mark.parametrize("task", list(CASES))
def test_bootstrap_fast_paths_equal_sklearn_per_resample(task):
    rng = np.random.default_rng(3)
    n, n_boot, seed = 16, 30, 11  # small n: some resamples miss a class (nan expected)
    y, s = _make_case(task, n, rng)
    metrics = list(CASES[task])
    dist = bootstrap_distribution(task, y, s, metrics, n_boot=n_boot, seed=seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    n_nan = 0
    for b in range(n_boot):
        ref = _sk_resample(task, y, s, idx[b], metrics)
        for m in metrics:
            assert _nan_equal(dist[m][b], ref[m]), (task, m, b, dist[m][b], ref[m])
            n_nan += math.isnan(ref[m])
    assert all(v.shape == (n_boot,) for v in dist.values())
    assert n_nan > 0  # the undefined-resample path was exercised


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_macro_ranking_uses_the_fixed_label_set_in_every_resample(task):
    # a rare label/class vanishes from some resamples: the old per-resample label set averaged
    # over the labels left (a finite value); the fixed set makes that resample undefined
    rng = np.random.default_rng(3)
    n, n_boot, seed = 16, 30, 11
    y, s = _make_case(task, n, rng)
    ranking = ["auroc"] if task == "multiclass" else ["auroc", "auprc"]
    dist = bootstrap_distribution(task, y, s, ranking, n_boot=n_boot, seed=seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    changed = 0
    for b in range(n_boot):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = compute_metrics(task, y[idx[b]], s[idx[b]], ranking)
        for m in ranking:
            fixed = sk_macro_fixed(task, y, s, idx[b], m)
            assert _nan_equal(dist[m][b], fixed)
            if not _nan_equal(old[m], fixed):
                assert math.isnan(fixed) and not math.isnan(old[m])
                changed += 1
            else:
                assert _nan_equal(dist[m][b], old[m])
    assert changed > 0  # the case does tell the two label sets apart
    summary = bootstrap_summary(task, y, s, ranking, n_boot=n_boot, seed=seed)
    for m in ranking:
        assert summary[m].n_undefined == int(np.isnan(dist[m]).sum()) > 0


def test_bootstrap_chunking_does_not_change_resamples(monkeypatch):
    rng = np.random.default_rng(4)
    y, s = _make_case("multilabel", 50, rng)
    whole = bootstrap_distribution("multilabel", y, s, AVAILABLE_METRICS["multilabel"], 40)
    monkeypatch.setattr(bootstrap_mod, "CHUNK_ENTRIES", 170)  # 3 resamples per chunk
    chunked = bootstrap_distribution("multilabel", y, s, AVAILABLE_METRICS["multilabel"], 40)
    for m in whole:
        np.testing.assert_array_equal(whole[m], chunked[m])


def _multiclass_data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    logits = rng.normal(size=(n, 3)) + 1.0 * np.eye(3)[y]
    return y, logits


def test_ci_contains_point_and_narrows_with_n():
    widths = []
    for n in (100, 1600):
        y, logits = _multiclass_data(n, 0)
        ci = bootstrap_ci("multiclass", y, logits, ["accuracy", "macro_f1", "auroc"], n_boot=300)
        for point, lo, hi in ci.values():
            assert lo <= point <= hi
        widths.append(ci["accuracy"][2] - ci["accuracy"][1])
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(n): expect a ratio near 4


def test_ci_same_seed_identical_other_seed_differs():
    y, logits = _multiclass_data(200, 1)
    a = bootstrap_ci("multiclass", y, logits, n_boot=200, seed=5)
    b = bootstrap_ci("multiclass", y, logits, n_boot=200, seed=5)
    c = bootstrap_ci("multiclass", y, logits, n_boot=200, seed=6)
    assert a == b
    assert a != c
    assert a["accuracy"][0] == c["accuracy"][0]  # point estimates do not depend on the seed


def test_ci_skips_undefined_resamples():
    # 1 positive among 10: many resamples lack it; AUROC is taken over the others
    y = np.zeros(10)
    y[0] = 1
    s = np.linspace(1, 0, 10)
    ci = bootstrap_ci("binary", y, s, ["auroc"], n_boot=200)
    assert ci["auroc"] == (1.0, 1.0, 1.0)
    point, lo, hi = bootstrap_ci("binary", y, s, ["auroc"], n_boot=0)["auroc"]
    assert point == 1.0 and math.isnan(lo) and math.isnan(hi)
    # the skipped resamples are counted: those without the single positive row 0
    idx = np.random.default_rng(0).integers(0, 10, size=(200, 10))
    expected = int((~(idx == 0).any(axis=1)).sum())
    assert 0 < expected < 200
    summary = bootstrap_summary("binary", y, s, ["auroc", "accuracy"], n_boot=200)
    assert summary["auroc"].n_undefined == expected
    assert summary["accuracy"].n_undefined == 0 and summary["auroc"].n_boot == 200
    assert summary["auroc"].as_tuple() == ci["auroc"]
    recs = metric_records("binary", y, s, metrics=["auroc", "accuracy"], n_boot=200)
    assert [r["boot_undefined"] for r in recs] == [expected, 0]


# ----------------------------------------------------------------------------- records, API


def test_metric_records():
    y, logits = _multiclass_data(60, 3)
    recs = metric_records("multiclass", y, logits, n_boot=50, dataset="toy", method="mind", seed=1)
    assert [r["metric"] for r in recs] == list(METRICS_BY_TASK["multiclass"])
    for r in recs:
        assert r["dataset"] == "toy" and r["method"] == "mind" and r["n"] == 60
        assert r["seed"] == 1  # a record field, distinct from the bootstrap's boot_seed
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
    assert metric_records("multiclass", np.zeros(0, int), np.zeros((0, 3)), head="img") == []
    assert metric_records("binary", torch.zeros(0, 1), torch.zeros(0, 1)) == []
    assert all(r["boot_undefined"] == 0 for r in recs)  # accuracy and macro F1: always defined
    with pytest.raises(ValueError, match="reserved"):
        metric_records("multiclass", y, logits, n_boot=0, value=1)
    with pytest.raises(ValueError, match="reserved"):
        metric_records("multiclass", y, logits, n_boot=0, boot_undefined=1)


def test_defaults_primary_and_direction():
    assert METRICS_BY_TASK["binary"] == ("auroc", "auprc")
    assert primary_metric("multiclass") == "accuracy"
    assert primary_metric("multilabel") == "auroc"
    assert higher_is_better("auroc") and not higher_is_better("nll")
    with pytest.raises(ValueError, match="valid metrics"):
        higher_is_better("rmse")
    with pytest.raises(ValueError, match="binary, multilabel, multiclass"):
        primary_metric("regression")


def test_errors_name_problem_and_choices():
    y, logits = _multiclass_data(10, 0)
    with pytest.raises(ValueError, match="length mismatch.*10.*9"):
        compute_metrics("multiclass", y, logits[:9])
    with pytest.raises(ValueError, match="length mismatch"):
        bootstrap_ci("binary", np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="'auprc'.*valid metrics: accuracy, macro_f1, auroc, nll"):
        compute_metrics("multiclass", y, logits, ["accuracy", "auprc"])
    with pytest.raises(ValueError, match="valid tasks: binary, multilabel, multiclass"):
        compute_metrics("regression", y, logits)
    with pytest.raises(ValueError, match="one-hot"):
        compute_metrics("multiclass", np.eye(3)[y], logits)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        compute_metrics("multiclass", y + 1, logits)
    with pytest.raises(ValueError, match="multilabel"):
        compute_metrics("binary", np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="label mismatch"):
        compute_metrics("multilabel", np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        compute_metrics("binary", np.array([0, 2]), np.zeros(2))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        compute_metrics("binary", np.array([0, 1]), np.array([-1.0, 2.0]), from_probs=True)
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics("binary", np.array([0, 1]), np.array([np.nan, 2.0]))
    with pytest.raises(ValueError, match="no samples"):
        compute_metrics("multiclass", np.zeros(0, int), np.zeros((0, 3)))
