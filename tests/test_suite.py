"""Reusing trained students across notebooks (and refusing stale ones); the scarcity curve."""

import warnings

import pytest
import torch

from mindkit.distill.methods import MethodContext
from mindkit.evaluate.predictions import student_predictions
from mindkit.models import UnimodalNet
from mindkit.studies import ReuseWarning, load_or_train, scarcity_curve
from mindkit.train import TrainConfig


@pytest.fixture
def ctx(toy_dataset):
    torch.manual_seed(0)
    nets = {m: [UnimodalNet(s, 3, "xs")] for m, s in toy_dataset.modalities.items()}
    scores = {m: [0.5] for m in nets}
    return MethodContext(toy_dataset, nets, scores, TrainConfig(epochs=1, batch_size=32),
                         alpha=0.5, T=2.0)


def test_a_saved_student_is_reused_only_when_it_matches(ctx, tmp_path):

    first, info = load_or_train("mind", ctx, [tmp_path], tmp_path)
    assert info.source == "trained" and (tmp_path / "mind.safetensors").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReuseWarning)
        again, info2 = load_or_train("mind", ctx, [tmp_path], tmp_path / "new")
    assert info2.source == str(tmp_path / "mind.safetensors")
    assert info2.settings == {"alpha": 0.5, "T": 2.0}
    test = ctx.dataset["test"]
    a = student_predictions(first, test, "multiclass")
    b = student_predictions(again, test, "multiclass")
    assert a.equals(b)
    # other settings: the checkpoint is named and refused, and the method trained anew
    with pytest.warns(ReuseWarning, match="settings"):
        _, info3 = load_or_train("mind", ctx.with_(alpha=0.8), [tmp_path], tmp_path / "b")
    assert info3.source == "trained"
    # another method's file under this name is refused too
    (tmp_path / "c").mkdir()
    for ext in (".safetensors", ".json"):
        (tmp_path / "c" / f"no_kd{ext}").write_bytes((tmp_path / f"mind{ext}").read_bytes())
    with pytest.warns(ReuseWarning, match="made by method 'mind'"):
        load_or_train("no_kd", ctx, [tmp_path / "c"], tmp_path / "d")


def test_a_student_of_another_split_is_refused(ctx, tmp_path):

    load_or_train("no_kd", ctx, [], tmp_path)
    other = ctx.dataset.subsample(40, seed=1)
    with pytest.warns(ReuseWarning, match="does not belong to this dataset"):
        _, info = load_or_train("no_kd", ctx.with_(dataset=other), [tmp_path], tmp_path / "o")
    assert info.source == "trained"


def test_scarcity_curve_trains_on_fewer_pairs(ctx, tmp_path):
    full, _ = load_or_train("no_kd", ctx, [], None)
    res = scarcity_curve(ctx, ["no_kd"], [0.25, 1.0], seed=0, full={"no_kd": full}, n_boot=0,
                         save_to=tmp_path, dataset="toy")
    runs = {r["paired_share"]: r for r in res.runs}
    assert runs[1.0]["source"] == "full-data student"
    assert runs[0.25]["source"] == "trained"
    assert runs[0.25]["n_paired_train"] < runs[1.0]["n_paired_train"]
    assert (tmp_path / "share0.25" / "no_kd.safetensors").exists()
    recs = res.records
    assert {r["paired_share"] for r in recs} == {0.25, 1.0}
    assert all(r["statistic"] == "scarcity_curve" and r["split"] == "test" for r in recs)
    # every point is scored on the same, unchanged test samples
    n = {(r["head"], r["group"], r["metric"]): r["n"] for r in recs if r["paired_share"] == 1.0}
    assert all(n[(r["head"], r["group"], r["metric"])] == r["n"] for r in recs)
    with pytest.raises(ValueError, match="paired shares"):
        scarcity_curve(ctx, ["no_kd"], [0.0], seed=0)
