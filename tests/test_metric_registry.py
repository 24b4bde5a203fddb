"""Tests for the metric registry of mindkit.evaluate.metrics: each built-in metric is defined
once, and a metric defined here (through the registry only) flows through the point,
bootstrap, paired and record paths by name."""

from __future__ import annotations

import numpy as np
import pytest

from mindkit.evaluate.metrics import (
    AVAILABLE_METRICS,
    METRIC_REGISTRY,
    METRICS_BY_TASK,
    Metric,
    bootstrap_distribution,
    bootstrap_summary,
    compute_metrics,
    higher_is_better,
    metric_records,
    paired_bootstrap,
    paired_records,
    primary_metric,
    register_metric,
    unregister_metric,
)

BUILTIN = {  # name: (tasks, higher is better, default for)
    "accuracy": ({"binary", "multilabel", "multiclass"}, True, {"multiclass"}),
    "macro_f1": ({"multiclass"}, True, {"multiclass"}),
    "f1": ({"binary", "multilabel"}, True, set()),
    "auroc": ({"binary", "multilabel", "multiclass"}, True, {"binary", "multilabel"}),
    "auprc": ({"binary", "multilabel"}, True, {"binary", "multilabel"}),
    "nll": ({"multiclass"}, False, set()),
}


def test_registry_lists_each_builtin_metric_once_with_its_tasks():
    names = list(METRIC_REGISTRY)
    assert len(names) == len(set(names))
    assert set(names) == set(BUILTIN)
    for name, (tasks, higher, defaults) in BUILTIN.items():
        m = METRIC_REGISTRY[name]
        assert m.name == name
        assert set(m.tasks) == tasks and len(m.tasks) == len(tasks)
        assert m.higher_is_better is higher is higher_is_better(name)
        assert set(m.default_for) == defaults
        assert m.boot is not None  # every built-in metric has a vectorised bootstrap
    # the per-task views are read from the registry (and keep their historical order)
    assert dict(AVAILABLE_METRICS) == {
        "binary": ("auroc", "auprc", "accuracy", "f1"),
        "multilabel": ("auroc", "auprc", "accuracy", "f1"),
        "multiclass": ("accuracy", "macro_f1", "auroc", "nll"),
    }
    assert dict(METRICS_BY_TASK) == {
        "binary": ("auroc", "auprc"),
        "multilabel": ("auroc", "auprc"),
        "multiclass": ("accuracy", "macro_f1"),
    }
    for task in AVAILABLE_METRICS:
        for name in AVAILABLE_METRICS[task]:
            assert task in METRIC_REGISTRY[name].tasks


# ----------------------------------------------------------------------------- a toy metric


def _sq_err(p):
    """Per-sample squared error of the positive-class probability, averaged over labels."""
    probs = p.scores if p.from_probs else 1.0 / (1.0 + np.exp(-p.scores))
    return ((probs - p.y) ** 2).mean(axis=1)


def _brier(p):
    return float(_sq_err(p).mean())


def _brier_boot(p, r):
    return p.cached("toy_sq_err", lambda: _sq_err(p))[r.idx].mean(axis=1)


@pytest.fixture
def toy_metrics():
    """``toy_brier`` (vectorised bootstrap) and ``toy_brier_slow`` (no ``boot``: the bootstrap
    calls ``point`` per resample), registered for the test only."""
    made = [
        register_metric(Metric("toy_brier", ("binary", "multilabel"), False, _brier, _brier_boot)),
        register_metric(Metric("toy_brier_slow", ("binary", "multilabel"), False, _brier)),
    ]
    yield made
    for m in made:
        unregister_metric(m.name)


def _data(n=40, labels=2, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < 0.4).astype(float)
    good = np.clip(0.6 * y + 0.2 + 0.2 * rng.random((n, labels)), 0.0, 1.0)
    bad = rng.random((n, labels))
    return y, good, bad


def test_toy_metric_is_known_by_name_everywhere(toy_metrics):
    assert AVAILABLE_METRICS["multilabel"][-2:] == ("toy_brier", "toy_brier_slow")
    assert "toy_brier" not in METRICS_BY_TASK["multilabel"]  # not a default
    assert primary_metric("multilabel") == "auroc"
    assert higher_is_better("toy_brier") is False
    y, good, _ = _data()
    with pytest.raises(ValueError, match="valid metrics"):
        compute_metrics("multiclass", [0, 1], np.eye(2), ["toy_brier"])
    value = compute_metrics("multilabel", y, good, ["toy_brier"], from_probs=True)["toy_brier"]
    assert value == pytest.approx(np.mean((good - y) ** 2))


def test_toy_metric_flows_through_bootstrap_and_records(toy_metrics):
    y, good, _ = _data()
    n, n_boot, seed = len(y), 60, 4
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    brute = np.array([np.mean((good[rows] - y[rows]) ** 2) for rows in idx])

    dist = bootstrap_distribution("multilabel", y, good, ["toy_brier", "toy_brier_slow"],
                                  n_boot, seed, from_probs=True)
    np.testing.assert_allclose(dist["toy_brier"], brute, rtol=1e-12)
    np.testing.assert_allclose(dist["toy_brier_slow"], brute, rtol=1e-12)

    recs = metric_records("multilabel", y, good, metrics=["auroc", "toy_brier"], n_boot=n_boot,
                          boot_seed=seed, from_probs=True, method="toy", seed=7)
    assert [r["metric"] for r in recs] == ["auroc", "toy_brier"]
    rec = recs[1]
    lo, hi = np.percentile(brute, [2.5, 97.5])
    assert rec["value"] == pytest.approx(np.mean((good - y) ** 2))
    assert (rec["ci_low"], rec["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
    assert (rec["n"], rec["boot_undefined"], rec["method"], rec["seed"]) == (n, 0, "toy", 7)
    # the auroc record is unchanged by the toy metric next to it
    alone = bootstrap_summary("multilabel", y, good, ["auroc"], n_boot=n_boot, boot_seed=seed,
                              from_probs=True)["auroc"]
    assert (recs[0]["value"], recs[0]["ci_low"], recs[0]["ci_high"]) == alone.as_tuple()


def test_toy_metric_paired_comparison_uses_its_direction(toy_metrics):
    y, good, bad = _data(n=60, seed=1)
    res = paired_bootstrap("multilabel", y, good, bad, ["toy_brier"], n_boot=200, boot_seed=2,
                           from_probs=True)["toy_brier"]
    assert res["diff"] < 0  # a - b: the good model has the lower Brier score
    assert res["p_a_better"] == 1.0  # lower is better for this metric
    recs = paired_records("multilabel", y, good, bad, method_a="good", method_b="bad",
                          metrics=["toy_brier"], n_boot=200, boot_seed=2, from_probs=True)
    assert recs[0]["value"] == res["diff"] and recs[0]["p_a_better"] == 1.0


def test_registration_is_checked():
    with pytest.raises(ValueError, match="already registered"):
        register_metric(Metric("auroc", ("binary",), True, _brier))
    with pytest.raises(ValueError, match="valid tasks"):
        Metric("toy", ("regression",), True, _brier)
    with pytest.raises(ValueError, match="not in its tasks"):
        Metric("toy", ("binary",), True, _brier, default_for=("multiclass",))
    assert "toy" not in METRIC_REGISTRY


def test_seed_is_an_alias_of_boot_seed():
    y, good, _ = _data()
    a = bootstrap_distribution("multilabel", y, good, ["auroc"], 30, seed=3, from_probs=True)
    b = bootstrap_distribution("multilabel", y, good, ["auroc"], 30, boot_seed=3, from_probs=True)
    np.testing.assert_array_equal(a["auroc"], b["auroc"])
    with pytest.raises(TypeError, match="not both"):
        bootstrap_summary("multilabel", y, good, ["auroc"], 30, boot_seed=3, seed=4)
