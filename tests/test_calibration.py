"""Calibration: ECE against hand-computed cases, reliability tables, records from prediction
frames, per-label AUROC/AUPRC tables and the reliability figure."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from mindkit.evaluate.calibration import (
    bin_index,
    calibration_records,
    ece_distribution,
    expected_calibration_error,
    per_label_table,
    reliability_table,
)
from mindkit.evaluate.predictions import student_predictions, unimodal_predictions
from mindkit.viz.calibration import plot_reliability

# ---------------------------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------------------------

# Multiclass, 5 samples, 3 classes. Top-label confidence / correct:
#   s0 [0.90, 0.05, 0.05] y=0 -> conf 0.90, correct
#   s1 [0.10, 0.70, 0.20] y=2 -> conf 0.70, wrong
#   s2 [0.25, 0.30, 0.45] y=2 -> conf 0.45, correct
#   s3 [0.65, 0.25, 0.10] y=1 -> conf 0.65, wrong
#   s4 [0.05, 0.95, 0.00] y=1 -> conf 0.95, correct
MC_PROBS = np.array([
    [0.90, 0.05, 0.05],
    [0.10, 0.70, 0.20],
    [0.25, 0.30, 0.45],
    [0.65, 0.25, 0.10],
    [0.05, 0.95, 0.00],
])
MC_Y = np.array([0, 2, 2, 1, 1])

# Binary, 8 samples, 4 bins [0, .25], (.25, .5], (.5, .75], (.75, 1] (exact binary fractions).
BIN_P = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 1.0, 0.0])
BIN_Y = np.array([0, 1, 0, 1, 0, 1, 1, 0], dtype=float)


def test_multiclass_ece_hand_computed():
    # n_bins=5, edges 0, .2, .4, .6, .8, 1:
    #   bin 2 (.4, .6]: {s2}      conf .45,              acc 1/1 -> |1 - .45|   * 1/5 = .11
    #   bin 3 (.6, .8]: {s1, s3}  conf (.70+.65)/2=.675, acc 0/2 -> |0 - .675|  * 2/5 = .27
    #   bin 4 (.8, 1]:  {s0, s4}  conf (.90+.95)/2=.925, acc 2/2 -> |1 - .925|  * 2/5 = .03
    #   ECE = .11 + .27 + .03 = 0.41
    assert expected_calibration_error("multiclass", MC_Y, MC_PROBS, n_bins=5) == pytest.approx(
        0.41, abs=1e-12)


def test_n_bins_changes_the_value_as_computed_by_hand():
    # n_bins=1: one bin, conf (.90+.70+.45+.65+.95)/5 = .73, acc 3/5 = .6 -> ECE .13
    assert expected_calibration_error("multiclass", MC_Y, MC_PROBS, 1) == pytest.approx(0.13)
    # n_bins=2: [0, .5]: {s2} conf .45 acc 1 -> .55 * 1/5 = .11
    #           (.5, 1]: {s0,s1,s3,s4} conf 3.2/4 = .8, acc 2/4 = .5 -> .3 * 4/5 = .24
    #           ECE = .35
    assert expected_calibration_error("multiclass", MC_Y, MC_PROBS, 2) == pytest.approx(0.35)
    # default 15 bins: conf * 15 = 13.5, 10.5, 6.75, 9.75, 14.25 -> bins 13, 10, 6, 9, 14, each
    # sample alone in its bin, so ECE = mean |correct - conf|
    alone = np.mean(np.abs([1 - .90, 0 - .70, 1 - .45, 0 - .65, 1 - .95]))
    assert expected_calibration_error("multiclass", MC_Y, MC_PROBS) == pytest.approx(alone)


def test_binary_ece_hand_computed():
    # n_bins=4:
    #   [0, .25]:   p .1, .2, .0 -> mean p .1,  positives 1/3 -> |1/3 - .1|  * 3/8 = .7/8
    #   (.25, .5]:  p .3         -> mean p .3,  positives 0/1 -> |0 - .3|    * 1/8 = .3/8
    #   (.5, .75]:  p .6, .7     -> mean p .65, positives 1/2 -> |.5 - .65|  * 2/8 = .3/8
    #   (.75, 1]:   p .9, 1.0    -> mean p .95, positives 2/2 -> |1 - .95|   * 2/8 = .1/8
    #   ECE = (.7 + .3 + .3 + .1) / 8 = 0.175
    assert expected_calibration_error("binary", BIN_Y, BIN_P, n_bins=4) == pytest.approx(0.175)
    # [N, 1] inputs are the same
    assert expected_calibration_error("binary", BIN_Y[:, None], BIN_P[:, None], 4) == (
        pytest.approx(0.175))
    table = reliability_table("binary", BIN_Y, BIN_P, 4)
    assert table["count"].tolist() == [3, 1, 2, 2]  # 0.0 in the first bin, 1.0 in the last
    assert table["frequency"].tolist() == pytest.approx([1 / 3, 0, 0.5, 1])
    assert table["confidence"].tolist() == pytest.approx([0.1, 0.3, 0.65, 0.95])
    assert (table["weight"] * table["gap"].abs()).sum() == pytest.approx(0.175)
    # same bins and means as scikit-learn's uniform calibration curve
    prob_true, prob_pred = calibration_curve(BIN_Y, BIN_P, n_bins=4, strategy="uniform")
    assert prob_true.tolist() == pytest.approx(table["frequency"].tolist())
    assert prob_pred.tolist() == pytest.approx(table["confidence"].tolist())


def test_multilabel_ece_is_the_mean_over_labels():
    # label 0 is the binary case (0.175); label 1 is perfectly calibrated: p=.25 on 4 rows of
    # which 1 positive, p=.75 on 4 rows of which 3 positive -> 0.
    p1 = np.array([.25, .25, .25, .25, .75, .75, .75, .75])
    y1 = np.array([1, 0, 0, 0, 1, 1, 0, 1], dtype=float)
    y, p = np.stack([BIN_Y, y1], 1), np.stack([BIN_P, p1], 1)
    assert expected_calibration_error("multilabel", y[:, 1:], p[:, 1:], 4) == pytest.approx(0)
    assert expected_calibration_error("multilabel", y, p, 4) == pytest.approx(0.175 / 2)
    table = reliability_table("multilabel", y, p, 4)
    assert len(table) == 8 and table["label"].tolist() == [0] * 4 + [1] * 4
    per_label = table.groupby("label").apply(lambda t: (t.weight * t.gap.abs()).sum())
    assert per_label.mean() == pytest.approx(0.175 / 2)
    pooled = reliability_table("multilabel", y, p, 4, pooled=True)
    assert "label" not in pooled and pooled["count"].sum() == 16
    assert pooled["weight"].sum() == pytest.approx(1.0)


def test_perfectly_calibrated_is_zero():
    # multiclass: confidence .75 on 8 rows, 6 correct; confidence .5 on 4 rows, 2 correct
    probs = np.array([[.75, .25, 0.]] * 8 + [[.5, .3, .2]] * 4)
    y = np.array([0] * 6 + [1] * 2 + [0] * 2 + [2] * 2)
    assert expected_calibration_error("multiclass", y, probs, 10) == pytest.approx(0, abs=1e-12)
    # a wrong construction of the same rows is not calibrated (the test can fail)
    assert expected_calibration_error("multiclass", np.zeros(12, int), probs, 10) > 0.2
    # binary, drawn from the model: y ~ Bernoulli(p) gives a small ECE
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    yb = (rng.random(20_000) < p).astype(float)
    assert expected_calibration_error("binary", yb, p, 10) < 0.015
    assert expected_calibration_error("binary", yb, p ** 2, 10) > 0.1  # miscalibrated


def test_probability_one_and_edges():
    assert bin_index([0.0, 1.0, 0.5, 0.5000001], 2).tolist() == [0, 1, 0, 1]
    assert bin_index([1.0], 15).tolist() == [14]
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    table = reliability_table("multiclass", np.array([0, 1, 2, 1]), one_hot, 10)
    assert table["count"].tolist() == [0] * 9 + [4]
    assert table["accuracy"].iloc[-1] == pytest.approx(0.75)
    assert np.isnan(table["confidence"].iloc[0])  # empty bins are kept, with nan means
    assert expected_calibration_error("multiclass", np.array([0, 1, 2, 1]), one_hot, 10) == (
        pytest.approx(0.25))


def test_input_validation():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error("binary", BIN_Y, BIN_P + 0.5)
    with pytest.raises(ValueError, match="NaN"):
        expected_calibration_error("binary", BIN_Y, np.where(BIN_P > 0.5, np.nan, BIN_P))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error("binary", BIN_Y, BIN_P, n_bins=0)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error("binary", BIN_Y, BIN_P, n_bins=2.5)
    with pytest.raises(ValueError, match="length mismatch"):
        expected_calibration_error("binary", BIN_Y[:5], BIN_P)
    with pytest.raises(ValueError, match="sum to 1"):
        expected_calibration_error("multiclass", MC_Y, MC_PROBS * 0.5)
    with pytest.raises(ValueError, match="no samples"):
        expected_calibration_error("binary", np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="unknown task"):
        expected_calibration_error("regression", BIN_Y, BIN_P)


def test_bootstrap_matches_a_loop_over_resamples():
    rng = np.random.default_rng(1)
    n = 60
    probs = rng.dirichlet(np.ones(4), n)
    y = rng.integers(0, 4, n)
    dist = ece_distribution("multiclass", y, probs, n_bins=6, n_boot=40, seed=5)
    idx = np.random.default_rng(5).integers(0, n, size=(40, n))
    loop = [expected_calibration_error("multiclass", y[i], probs[i], 6) for i in idx]
    np.testing.assert_allclose(dist, loop, atol=1e-12)
    pl, yl = rng.random((n, 3)), (rng.random((n, 3)) < 0.4).astype(float)
    dist = ece_distribution("multilabel", yl, pl, n_bins=5, n_boot=30, seed=2)
    idx = np.random.default_rng(2).integers(0, n, size=(30, n))
    loop = [expected_calibration_error("multilabel", yl[i], pl[i], 5) for i in idx]
    np.testing.assert_allclose(dist, loop, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# prediction frames
# ---------------------------------------------------------------------------------------------


def _hand_frame(task: str, n: int = 40, n_out: int = 3, seed: int = 0) -> pd.DataFrame:
    """A student-shaped frame: modalities image (always) and audio (rows 0..29); heads image,
    audio, mm (paired rows) and routed; NaN probabilities where a head did not serve."""
    rng = np.random.default_rng(seed)
    has_audio = np.arange(n) < 30
    cols = {"id": np.arange(n)}
    if task == "multiclass":
        cols["y"] = rng.integers(0, n_out, n)
    else:
        y = (rng.random((n, n_out)) < 0.4).astype(np.float32)
        for j in range(n_out):
            cols[f"y:{j}"] = y[:, j]
    cols["present:image"] = np.ones(n, bool)
    cols["present:audio"] = has_audio
    frame = pd.DataFrame(cols)
    for head, served in [("image", np.ones(n, bool)), ("audio", has_audio), ("mm", has_audio),
                         ("routed", np.ones(n, bool))]:
        if task == "multiclass":
            p = rng.dirichlet(np.ones(n_out), n)
        else:
            p = rng.random((n, n_out))
        p[~served] = np.nan
        frame[f"served:{head}"] = served
        for j in range(n_out):
            frame[f"p:{head}:{j}"] = p[:, j]
    return frame


def _probs(frame, head):
    return frame[[c for c in frame.columns if c.startswith(f"p:{head}:")]].to_numpy()


def test_calibration_records_groups_n_and_cis():
    frame = _hand_frame("multiclass")
    recs = calibration_records(frame, "multiclass", n_bins=5, n_boot=300, boot_seed=1,
                               method="hand", seed=0)
    got = {(r["head"], r["group"]): r for r in recs}
    # only_audio is empty (image is always present): no record
    assert set(got) == {("image", "has_image"), ("audio", "has_audio"), ("mm", "paired"),
                        ("routed", "all"), ("routed", "paired"), ("routed", "only_image")}
    sizes = {("image", "has_image"): 40, ("audio", "has_audio"): 30, ("mm", "paired"): 30,
             ("routed", "all"): 40, ("routed", "paired"): 30, ("routed", "only_image"): 10}
    y = frame["y"].to_numpy()
    rows = {"has_image": np.ones(40, bool), "has_audio": np.arange(40) < 30,
            "paired": np.arange(40) < 30, "all": np.ones(40, bool),
            "only_image": np.arange(40) >= 30}
    for key, r in got.items():
        head, group = key
        assert r["n"] == sizes[key]
        assert r["metric"] == "ece" and r["n_bins"] == 5 and r["boot_undefined"] == 0
        assert r["method"] == "hand" and r["seed"] == 0
        m = rows[group]
        assert r["value"] == pytest.approx(
            expected_calibration_error("multiclass", y[m], _probs(frame, head)[m], 5))
        assert r["ci_low"] <= r["value"] <= r["ci_high"], key
        assert r["ci_low"] < r["ci_high"]
    # the CI comes from the documented resamples
    m = rows["has_audio"]
    dist = ece_distribution("multiclass", y[m], _probs(frame, "audio")[m], 5, 300, seed=1)
    assert got[("audio", "has_audio")]["ci_low"] == pytest.approx(np.percentile(dist, 2.5))
    # n_boot=0: no interval; heads= restricts; reserved fields refused
    (r,) = calibration_records(frame, "multiclass", n_boot=0, heads=["mm"])
    assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) and r["group"] == "paired"
    with pytest.raises(ValueError, match="clash"):
        calibration_records(frame, "multiclass", n_boot=0, group="x")


@pytest.fixture
def student(toy_dataset):
    from mindkit.models import MultiHeadStudent

    torch.manual_seed(0)
    return MultiHeadStudent(toy_dataset.modalities, 3, "xs").eval()


def test_calibration_records_on_student_and_teacher_frames(toy_dataset, student):
    from mindkit.evaluate.predictions import records_from_predictions
    from mindkit.models import TeacherEnsemble, UnimodalNet

    test = toy_dataset["test"]
    frame = student_predictions(student, test, "multiclass")
    recs = calibration_records(frame, "multiclass", n_boot=50)
    metric_recs = records_from_predictions(frame, "multiclass", n_boot=0)
    assert ({(r["head"], r["group"], r["n"]) for r in recs}
            == {(r["head"], r["group"], r["n"]) for r in metric_recs})
    torch.manual_seed(0)
    ens = TeacherEnsemble([UnimodalNet(toy_dataset.modalities["audio"], 3, "xs")])
    (r,) = calibration_records(unimodal_predictions(ens, test, "multiclass"), "multiclass",
                               n_boot=50)
    assert r["head"] == "audio" and r["group"] == "has_audio"
    assert r["n"] == int(test.present["audio"].sum())


def test_per_label_table_marks_single_class_labels_undefined():
    frame = _hand_frame("multilabel", n_out=3)
    frame.loc[frame.index < 30, "y:1"] = 0.0  # label 1 has no positive among the audio rows
    table = per_label_table(frame, "multilabel", "audio", class_names=["a", "b", "c"],
                            n_boot=200)
    assert table["name"].tolist() == ["a", "b", "c"]
    assert (table["n"] == 30).all() and (table["group"] == "has_audio").all()
    bad = table.iloc[1]
    assert np.isnan(bad["auroc"]) and np.isnan(bad["auprc"]) and np.isnan(bad["auroc_ci_low"])
    assert bad["n_pos"] == 0 and "only negatives" in bad["reason"]
    rows = np.arange(40) < 30
    y, p = frame[["y:0", "y:2"]].to_numpy()[rows], _probs(frame, "audio")[rows][:, [0, 2]]
    for k, j in enumerate([0, 2]):
        r = table.iloc[j]
        assert r["reason"] == ""
        assert r["auroc"] == pytest.approx(roc_auc_score(y[:, k], p[:, k]))
        assert r["auprc"] == pytest.approx(average_precision_score(y[:, k], p[:, k]))
        assert r["auroc_ci_low"] <= r["auroc"] <= r["auroc_ci_high"]
    # routed defaults to all 40 rows (label 1 has no positive in rows 30..39 either)
    routed = per_label_table(frame, "multilabel", "routed", n_boot=0)
    assert (routed["group"] == "all").all() and (routed["n"] == 40).all()
    assert routed["reason"].tolist() == ["", "only negatives among the 40 scored rows", ""]
    frame["y:0"] = 1.0
    mm = per_label_table(frame, "multilabel", "mm", n_boot=10)
    assert mm["group"].iloc[0] == "paired" and mm["reason"].iloc[0].startswith("only positives")
    assert np.isnan(mm["auprc"].iloc[0]) and mm["boot_undefined"].iloc[0] == 10
    with pytest.raises(ValueError, match="multiclass"):
        per_label_table(_hand_frame("multiclass"), "multiclass", "routed")
    with pytest.raises(ValueError, match="groups"):
        per_label_table(frame, "multilabel", "audio", group="all")


def test_plot_reliability_panels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    student = _hand_frame("multiclass", seed=0)
    teacher = _hand_frame("multiclass", seed=1)
    teacher = teacher.drop(columns=[c for c in teacher.columns
                                    if c.split(":")[0] in ("served", "p")
                                    and c.split(":")[1] != "audio"])
    fig = plot_reliability({"student": student, "teacher": teacher}, "multiclass", n_bins=5)
    # one column per head (image, audio, mm, routed), each a diagram over a count panel
    assert len(fig.axes) == 8
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["image (has_image, n=40)", "audio (has_audio, n=30)",
                      "mm (paired, n=30)", "routed (all, n=40)"]
    audio_legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert len(audio_legend) == 2 and all("ECE" in t for t in audio_legend)
    plt.close(fig)
    fig = plot_reliability({"a": student}, "multiclass", heads=["routed"])
    assert len(fig.axes) == 2
    plt.close(fig)
    ml = _hand_frame("multilabel")
    fig = plot_reliability({"a": ml, "b": ml}, "multilabel", heads=["mm", "routed"])
    assert len(fig.axes) == 4
    plt.close(fig)

