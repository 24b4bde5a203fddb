"""Predictions are kept with sample ids and presence; metrics recomputed from them match."""

import numpy as np
import pytest
import torch

from mindkit.evaluate.heads import evaluate_student, evaluate_unimodal, validation_score
from mindkit.evaluate.metrics import compute_metrics
from mindkit.evaluate.predictions import (
    compare_predictions,
    read_predictions,
    records_from_predictions,
    student_predictions,
)
from mindkit.models import MultiHeadStudent, TeacherEnsemble, UnimodalNet


@pytest.fixture
def student(toy_dataset):
    torch.manual_seed(0)
    return MultiHeadStudent(toy_dataset.modalities, 3, "xs").eval()


def test_saved_predictions_reproduce_the_records(toy_dataset, student, tmp_path):
    test = toy_dataset["test"]
    recs = evaluate_student(student, test, "multiclass", n_boot=200, boot_seed=3,
                            predictions_to=tmp_path / "st", provenance={"dataset": "toy"},
                            method="x", seed=0)
    frame = read_predictions(tmp_path / "st")
    assert frame.attrs["provenance"] == {"dataset": "toy"}
    assert (frame["id"].to_numpy() == test.ids.numpy()).all()
    assert (frame["present:audio"].to_numpy() == test.present["audio"].numpy()).all()
    again = records_from_predictions(frame, "multiclass", n_boot=200, boot_seed=3, method="x",
                                     seed=0, split="test")
    key = lambda r: (r["head"], r["group"], r["metric"])  # noqa: E731
    assert sorted(map(key, recs)) == sorted(map(key, again))
    by = {key(r): r for r in again}
    for r in recs:
        for f in ("value", "ci_low", "ci_high", "n"):
            assert r[f] == pytest.approx(by[key(r)][f]), (key(r), f)
    # the audio head's probabilities are NaN exactly where it did not serve
    audio = frame[[c for c in frame.columns if c.startswith("p:audio:")]].to_numpy()
    assert np.isnan(audio[~test.present["audio"].numpy()]).all()
    assert not np.isnan(audio[test.present["audio"].numpy()]).any()


def test_routed_accuracy_from_the_frame(toy_dataset, student):
    test = toy_dataset["test"]
    frame = student_predictions(student, test, "multiclass")
    probs = frame[[f"p:routed:{j}" for j in range(3)]].to_numpy()
    acc = compute_metrics("multiclass", test.y, probs, ["accuracy"], from_probs=True)
    assert acc["accuracy"] == pytest.approx(validation_score(student, test, "multiclass"))
    assert set(frame["served_by"]) <= {"mm", "image", "audio", "audio+image"}


def test_teacher_frame_lists_every_row(toy_dataset, tmp_path):
    test = toy_dataset["test"]
    ens = TeacherEnsemble([UnimodalNet(toy_dataset.modalities["audio"], 3, "xs")])
    recs = evaluate_unimodal(ens, test, "multiclass", n_boot=0, predictions_to=tmp_path / "t")
    frame = read_predictions(tmp_path / "t")
    assert len(frame) == len(test) and frame["served:audio"].sum() == test.present["audio"].sum()
    assert {r["group"] for r in recs} == {"has_audio"}


def test_paired_comparison_of_a_model_with_itself_is_zero(toy_dataset, student):
    frame = student_predictions(student, toy_dataset["test"], "multiclass")
    recs = compare_predictions(frame, frame, "multiclass", "a", "b", n_boot=100)
    assert recs and all(r["value"] == 0 and r["ci_low"] == 0 == r["ci_high"] for r in recs)
    other = frame.iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="different samples"):
        compare_predictions(frame, other, "multiclass", "a", "b")


def test_nan_validation_score_names_metric_and_split(toy_dataset):
    from mindkit.data.base import ModalitySpec, MultimodalDataset, Split

    n = 8
    x = torch.randn(n, 3)
    split = Split({"t": x}, {"t": torch.ones(n, dtype=torch.bool)}, torch.zeros(n, 1),
                  torch.arange(n), name="val")
    ds = MultimodalDataset("one_class", "binary", ["event"],
                           {"t": ModalitySpec("t", "tabular", (3,))}, {"val": split})
    net = UnimodalNet(ds.modalities["t"], 1, "xs")
    with pytest.raises(ValueError, match="validation auroc on split 'val'"):
        validation_score(net, ds["val"], "binary")
