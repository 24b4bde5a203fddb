"""Robustness curves: exact definitions, the models' own missing-modality rules, paired summaries,
corruption, and the train-time scarcity transform."""

import numpy as np
import pytest
import torch

from mindkit.data.scarcity import paired_count, unpair, with_paired_share
from mindkit.evaluate.heads import evaluate_student
from mindkit.evaluate.predictions import student_predictions
from mindkit.evaluate.robustness import (
    Condition,
    RobustnessResult,
    RoutedPredictions,
    absent_split,
    corruption_curves,
    curve_summaries,
    feature_sd,
    missing_conditions,
    missingness_curves,
    noisy_split,
)
from mindkit.models import MultiHeadStudent, SingleHeadStudent, TeacherEnsemble, UnimodalNet
from mindkit.models.teachers import TeacherLateFusion


@pytest.fixture
def models(toy_dataset):
    torch.manual_seed(0)
    specs = toy_dataset.modalities
    ens = {m: TeacherEnsemble([UnimodalNet(specs[m], 3, "xs"), UnimodalNet(specs[m], 3, "s")])
           for m in specs}
    return {"mind": MultiHeadStudent(specs, 3, "xs").eval(),
            "single_head_zero": SingleHeadStudent(specs, 3, "xs", missing="zero").eval(),
            "single_head_learned": SingleHeadStudent(specs, 3, "xs", missing="learned").eval(),
            "teachers": TeacherLateFusion(ens, "multiclass")}


def _probs(frame, head):
    return frame[[c for c in frame.columns if c.startswith(f"p:{head}:")]].to_numpy()


def test_rate_zero_is_the_plain_evaluation(toy_dataset, models):
    test = toy_dataset["test"]
    res = missingness_curves(models, test, "multiclass", rates=[0.0, 0.5, 1.0], n_boot=200,
                             boot_seed=7, drop_seed=3, subsets=False)
    df = res.frame()
    for name, model in models.items():
        plain = {(r["group"], r["metric"]): r for r in evaluate_student(
            model, test, "multiclass", n_boot=200, boot_seed=7) if r["head"] == "routed"}
        for cond in ("drop", "drop_random"):
            pts = df[(df.method == name) & (df.level == 0.0) & (df.condition == cond)]
            assert len(pts) == 2 * 2 * (2 if cond == "drop" else 1)  # groups x metrics x targets
            for _, r in pts.iterrows():
                ref = plain[(r["group"], r["metric"])]
                for f in ("value", "ci_low", "ci_high", "n"):
                    assert r[f] == pytest.approx(ref[f]), (name, cond, r["group"], f)
                assert r["n_affected"] == 0


def test_rate_one_routes_to_the_remaining_head(toy_dataset, models):
    test = toy_dataset["test"]
    st = models["mind"]
    frame = student_predictions(st, test, "multiclass")
    paired = test.groups()["paired"].numpy()
    pred = RoutedPredictions(st, test, "multiclass")
    conds = {(c.target, c.level): c for c in missing_conditions(test.present, [0.0, 1.0], 0)
             if c.kind == "drop"}
    for dropped, other in (("image", "audio"), ("audio", "image")):
        probs = pred.under(conds[(dropped, 1.0)])
        # every paired sample lost `dropped`: its routed prediction is the other head's
        np.testing.assert_allclose(probs[paired], _probs(frame, other)[paired], rtol=1e-6)
        # samples that never had both are untouched
        np.testing.assert_allclose(probs[~paired], _probs(frame, "routed")[~paired])
    # at p = 0 the multimodal head serves the paired samples
    np.testing.assert_allclose(pred.under(conds[("image", 0.0)])[paired],
                               _probs(frame, "mm")[paired], rtol=1e-6)


def test_assembled_points_equal_a_direct_evaluation(toy_dataset, models):
    """Each point is assembled from per-sample predictions; scoring the modified split
    directly gives the same probabilities for every kind of model."""
    test = toy_dataset["test"]
    conds = [c for c in missing_conditions(test.present, [0.5], seed=1) if c.level == 0.5]
    assert {c.kind for c in conds} == {"drop", "drop_random"}
    for name, model in models.items():
        pred = RoutedPredictions(model, test, "multiclass")
        for c in conds:
            direct, _ = model.route(_direct(model, absent_split(test, c.removed)),
                                    "multiclass")
            np.testing.assert_allclose(pred.under(c), direct.double().numpy(), rtol=1e-5,
                                       atol=1e-7, err_msg=f"{name} {c.kind} {c.target}")


def _direct(model, split):
    from mindkit.models.predict import predict_student

    return predict_student(model, split)


def test_the_same_seed_removes_the_same_samples_for_every_method(toy_dataset, models):
    test = toy_dataset["test"]
    res = missingness_curves(models, test, "multiclass", rates=[0.0, 0.3, 0.7, 1.0], drop_seed=5,
                             n_boot=0, subsets=False)
    df = res.frame()
    counts = df.groupby(["condition", "target", "level", "group", "metric"])["n_affected"]
    assert (counts.nunique() == 1).all()
    a = missing_conditions(test.present, [0.3, 0.7], seed=5)
    b = missing_conditions({m: v.clone() for m, v in test.present.items()}, [0.3, 0.7], seed=5)
    c = missing_conditions(test.present, [0.3, 0.7], seed=6)
    same = [np.array_equal(x.removed, y.removed) for x, y in zip(a, b)]
    assert all(same)
    assert not all(np.array_equal(x.removed, y.removed) for x, y in zip(a, c))
    # nested: whoever lost the image at 0.3 has lost it at 0.7; counts follow the rule
    by = {(x.kind, x.target, x.level): x.removed for x in a}
    lo, hi = by[("drop", "image", 0.3)], by[("drop", "image", 0.7)]
    assert (hi[lo]).all()
    eligible = int(test.groups()["paired"].sum())  # image is always there; audio is not
    assert lo.sum() == int(np.floor(0.3 * eligible + 0.5))
    # a random drop removes exactly one modality per affected sample, only where two were
    r = by[("drop_random", "random", 0.7)]
    assert r.sum(1).max() == 1
    assert not r[~test.groups()["paired"].numpy()].any()


def test_absent_means_marked_absent_and_withheld(toy_dataset):
    test = toy_dataset["test"]
    removed = np.zeros((len(test), 2), dtype=bool)
    paired = test.groups()["paired"].numpy()
    mods = test.modalities  # ["audio", "image"]
    removed[paired, mods.index("image")] = True
    sub = absent_split(test, removed)
    assert not sub.present["image"][torch.as_tensor(paired)].any()
    assert torch.isnan(sub.inputs["image"][torch.as_tensor(paired)]).all()
    assert torch.equal(sub.inputs["audio"], test.inputs["audio"])
    # removing a sample's only modality is refused, naming the problem
    only_image = ~test.present["audio"]
    bad = np.zeros_like(removed)
    bad[only_image.numpy(), mods.index("image")] = True
    with pytest.raises(ValueError, match="leaves .* with none"):
        absent_split(test, bad)


def test_a_model_reading_withheld_inputs_fails_loudly(toy_dataset):
    class Peeker(torch.nn.Module):  # ignores the presence mask: reads every image row
        head_names, names, multimodal_head = ["mm"], ["audio", "image"], True

        def forward_batch(self, b):
            from mindkit.models.student import StudentOutput

            logits = b.inputs["image"].flatten(1)[:, :3]
            return StudentOutput({"mm": logits}, {"mm": torch.ones(len(b), dtype=torch.bool)})

        def route(self, out, task):
            return torch.softmax(out.logits["mm"], -1), ["mm"] * len(out.logits["mm"])

    with pytest.raises(ValueError, match="withheld"):
        missingness_curves({"peek": Peeker()}, toy_dataset["test"], "multiclass",
                           rates=[0.0, 1.0], n_boot=0, subsets=False, random=False)


def test_keep_subsets_on_paired_samples(toy_dataset, models):
    test = toy_dataset["test"]
    res = missingness_curves({"mind": models["mind"]}, test, "multiclass", rates=[0.0],
                             n_boot=0, random=False, metrics=["accuracy"])
    keep = res.frame().query("condition == 'keep'").set_index("target")
    assert set(keep.index) == {"audio", "image", "audio+image"}
    assert (keep["group"] == "paired").all()
    n_paired = int(test.groups()["paired"].sum())
    assert (keep["n"] == n_paired).all()
    frame = student_predictions(models["mind"], test, "multiclass")
    paired = test.groups()["paired"].numpy()
    y = test.y.numpy()[paired]
    for target, head in (("audio", "audio"), ("image", "image"), ("audio+image", "mm")):
        acc = (_probs(frame, head)[paired].argmax(1) == y).mean()
        assert keep.loc[target, "value"] == pytest.approx(acc)


def test_summaries_against_hand_computed_areas():
    res = RobustnessResult()
    x = [0.0, 0.5, 1.0]
    f, r = [0.9, 0.8, 0.5], [0.8, 0.8, 0.8]
    for name, vals in (("a", f), ("ref", r)):
        for lv, v in zip(x, vals):
            res.records.append({"method": name, "condition": "drop", "target": "image",
                                "level": lv, "group": "all", "metric": "accuracy",
                                "value": v, "ci_low": v, "ci_high": v, "n": 10,
                                "boot_undefined": 0, "seed": 0})
            res.dist[(name, "drop", "image", lv, "all", "accuracy")] = np.full(4, v)
    out = {(s["method"], s["statistic"]): s for s in curve_summaries(res, reference="ref")}
    # trapezoids of width 0.5: (0.9+0.8)/2*0.5 + (0.8+0.5)/2*0.5 = 0.425 + 0.325
    assert out[("a", "robustness_auc")]["value"] == pytest.approx(0.75)
    assert out[("ref", "robustness_auc")]["value"] == pytest.approx(0.8)
    assert out[("a", "robustness_drop")]["value"] == pytest.approx(-0.4)
    # (f - 0.9) - (r - 0.8) = [0, -0.1, -0.4]: (0 - 0.1)/2*0.5 + (-0.1 - 0.4)/2*0.5 = -0.15
    assert out[("a", "effective_robustness")]["value"] == pytest.approx(-0.15)
    assert out[("a", "auc_difference")]["value"] == pytest.approx(-0.05)
    assert out[("a", "effective_robustness")]["ci_low"] == pytest.approx(-0.15)
    assert ("ref", "effective_robustness") not in out
    with pytest.raises(ValueError, match="reference 'nope'"):
        curve_summaries(res, reference="nope")


def test_summary_cis_come_from_paired_resampled_curves(toy_dataset, models):
    test = toy_dataset["test"]
    res = missingness_curves({k: models[k] for k in ("mind", "single_head_zero")}, test,
                             "multiclass", rates=[0.0, 0.5, 1.0], n_boot=300, drop_seed=0,
                             subsets=False, random=False, metrics=["accuracy"])
    summ = [s for s in curve_summaries(res, reference="single_head_zero")
            if s["statistic"] == "auc_difference"]
    assert summ
    for s in summ:
        assert s["ci_low"] <= s["value"] <= s["ci_high"]
        # the difference's CI is narrower than the two marginal CIs would suggest only if
        # paired; here check it is the per-resample difference of the areas
        key = (s["condition"], s["target"], 0.0, s["group"], "accuracy")
        a = np.stack([res.dist[("mind", s["condition"], s["target"], lv, s["group"],
                                "accuracy")] for lv in (0.0, 0.5, 1.0)], -1)
        b = np.stack([res.dist[("single_head_zero", s["condition"], s["target"], lv,
                                s["group"], "accuracy")] for lv in (0.0, 0.5, 1.0)], -1)
        d = np.trapezoid(a - b, [0.0, 0.5, 1.0], axis=-1)
        assert s["ci_low"] == pytest.approx(np.percentile(d, 2.5)), key


def test_corruption_level_zero_is_clean_and_noise_stays_in_true_steps(toy_dataset, models):
    test, train = toy_dataset["test"], toy_dataset["train"]
    kinds = {m: s.kind for m, s in toy_dataset.modalities.items()}
    res = corruption_curves({"mind": models["mind"]}, test, "multiclass", train, kinds,
                            levels=[0.0, 1.0, 8.0], n_boot=0, metrics=["accuracy"])
    df = res.frame()
    plain = {r["group"]: r["value"] for r in evaluate_student(models["mind"], test,
                                                              "multiclass", n_boot=0)
             if r["head"] == "routed" and r["metric"] == "accuracy"}
    for _, r in df[df.level == 0.0].iterrows():
        assert r["value"] == pytest.approx(plain[r["group"]])
    assert set(df.target) == {"audio", "image"}
    # the SD of audio is per feature over present rows and true steps only
    sd = feature_sd(train, "audio", "sequence")
    p = train.present["audio"]
    valid = torch.arange(6)[None] < train.lengths["audio"][:, None]
    feats = train.inputs["audio"][p][valid[p]]
    torch.testing.assert_close(sd, feats.double().std(0).float())
    eps = torch.ones_like(test.inputs["audio"])
    noisy = noisy_split(test, "audio", sd, 2.0, eps, "sequence")
    diff = noisy.inputs["audio"] - test.inputs["audio"]
    tv = torch.arange(6)[None] < test.lengths["audio"][:, None]
    pa = test.present["audio"]
    torch.testing.assert_close(diff[pa][tv[pa]], (2.0 * sd).expand(int(tv[pa].sum()), 4))
    assert (diff[pa][~tv[pa]] == 0).all() and (diff[~pa] == 0).all()
    with pytest.raises(ValueError, match="token ids"):
        feature_sd(train, "audio", "tokens")


def test_conditions_refuse_bad_levels(toy_dataset):
    with pytest.raises(ValueError, match="increasing"):
        missing_conditions(toy_dataset["test"].present, [0.5, 0.1])
    with pytest.raises(ValueError, match=r"\[0, 1"):
        missing_conditions(toy_dataset["test"].present, [0.0, 1.5])
    with pytest.raises(ValueError, match="no modality"):
        missing_conditions(toy_dataset["test"].present, [0.0], modalities=["text"])
    assert Condition("drop", "image", 0.1) == Condition("drop", "image", 0.1)


def test_unpair_keeps_every_item_and_the_share(toy_dataset):
    train = toy_dataset["train"]
    n_pairs = paired_count(train)
    half = unpair(train, 0.5, seed=0)
    kept = int(np.floor(0.5 * n_pairs + 0.5))
    assert paired_count(half) == kept
    broken = n_pairs - kept
    assert len(half) == len(train) + broken
    for m in train.modalities:  # every item of each modality is still there, once
        assert int(half.present[m].sum()) == int(train.present[m].sum())
        a = train.inputs[m][train.present[m]].flatten(1).sum(1).sort().values
        b = half.inputs[m][half.present[m]].flatten(1).sum(1).sort().values
        torch.testing.assert_close(a, b)
    assert paired_count(unpair(train, 0.0, 0)) == 0
    assert paired_count(unpair(train, 1.0, 0)) == n_pairs
    ds = with_paired_share(toy_dataset, 0.25, seed=1)
    assert ds.options["paired_share"] == 0.25
    assert paired_count(ds["train"]) == int(np.floor(0.25 * n_pairs + 0.5))
    assert ds["test"] is toy_dataset["test"] and ds["val"] is toy_dataset["val"]
    assert with_paired_share(toy_dataset, 1.0) is toy_dataset
    with pytest.raises(ValueError, match="keep_share"):
        unpair(train, 1.5)
