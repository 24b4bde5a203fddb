"""Every baseline and ablation trains on a toy dataset and is scored per head."""

import pytest
import torch

from mindkit.distill.methods import METHODS, MethodContext, run_method
from mindkit.evaluate.heads import evaluate_student
from mindkit.models import UnimodalNet
from mindkit.train import TrainConfig


@pytest.fixture
def ctx(toy_dataset):
    torch.manual_seed(0)
    teachers = {m: [UnimodalNet(toy_dataset.modalities[m], 3, s) for s in ("xs", "s", "m")]
                for m in toy_dataset.modality_names}
    scores = {m: [0.5, 0.7, 0.6] for m in teachers}
    return MethodContext(toy_dataset, teachers, scores, TrainConfig(epochs=1, batch_size=32))


@pytest.mark.parametrize("name", METHODS.names())
def test_method_trains_and_evaluates(ctx, name):
    model, info = run_method(name, ctx)
    assert info["epochs_run"] == 1
    recs = evaluate_student(model, ctx.dataset["test"], "multiclass", n_boot=0, method=name,
                            seed=0)
    routed = [r for r in recs if r["head"] == "routed" and r["group"] == "all"]
    assert routed and all(0.0 <= r["value"] <= 1.0 for r in routed)


def test_best_teacher_and_size_ablation(ctx):
    best = ctx.best_teachers()
    assert [e.names for e in best.values()] == [["audio_s"], ["image_s"]]
    assert ctx.ensembles(["m"])["image"].names == ["image_m"]
    with pytest.raises(ValueError, match="no audio teacher of sizes"):
        ctx.ensembles(["l"])
    with pytest.raises(KeyError, match="mind"):
        METHODS.get("nope")


def test_grid_method_names(ctx):
    from mindkit.distill.methods import parse_method

    assert parse_method("mind@alpha=0.8,T=4") == ("mind", {"alpha": 0.8, "T": 4.0})
    assert parse_method("no_kd") == ("no_kd", {})
    with pytest.raises(ValueError, match="alpha"):
        parse_method("mind@beta=1")
    with pytest.raises(KeyError, match="valid names"):
        parse_method("mindd@alpha=1")
    model, info = run_method("mind@alpha=0.9,T=3", ctx)
    assert info["epochs_run"] == 1


def test_feature_kd_trains_projections_and_logs_hint_terms(ctx):
    from mindkit.distill.methods import METHODS

    model, hist, _ = METHODS.get("feature_kd")(ctx)
    assert {"train/hint/image", "train/hint/audio"} <= set(hist.records[0])
    assert all(p.grad is not None for p in model.proj.parameters())
