"""The Trainer: repeatable on CPU, early stopping restores the best weights, run folders."""

import json

import pytest
import torch

from mindkit.distill import task_loss
from mindkit.models import UnimodalNet
from mindkit.run import RunDir
from mindkit.train import TrainConfig, Trainer


def _fit(ds, seed, score_fn=None, epochs=3, patience=5):
    torch.manual_seed(seed)
    model = UnimodalNet(ds.modalities["image"], 3, "xs")
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=seed, patience=patience)

    def loss_fn(m, b):
        return {"total": task_loss("multiclass", m.forward_batch(b), b.y)}

    hist = Trainer(cfg, progress=False).fit(model, ds["train"], loss_fn, score_fn)
    return model, hist


def test_same_seed_same_weights(toy_dataset):
    a, ha = _fit(toy_dataset, 3)
    b, hb = _fit(toy_dataset, 3)
    c, _ = _fit(toy_dataset, 4)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                      c.state_dict().values()))
    assert [r["train/total"] for r in ha.records] == [r["train/total"] for r in hb.records]


def test_early_stopping_restores_best_epoch(toy_dataset):
    scores = iter([0.5, 0.9, 0.6, 0.4, 0.3, 0.2, 0.1])
    snapshots = []

    def score_fn(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    model, hist = _fit(toy_dataset, 0, score_fn, epochs=7, patience=2)
    assert hist.stopped_early and hist.best_epoch == 1 and len(hist.records) == 4
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k]), k


def test_training_lowers_the_loss(toy_dataset):
    _, hist = _fit(toy_dataset, 0, epochs=6)
    losses = [r["train/total"] for r in hist.records]
    assert losses[-1] < losses[0]


def test_run_dir_keeps_other_notebooks_records(tmp_path):
    run = RunDir(tmp_path / "r")
    rec = {"dataset": "d", "method": "m", "model": "x", "head": "mm", "metric": "accuracy",
           "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "seed": 0, "split": "test"}
    run.write_metrics([rec], "01_teachers")
    run.write_metrics([{**rec, "value": 0.7}], "02_mind")
    run.write_metrics([{**rec, "value": 0.8}], "02_mind")  # rerun replaces its own records
    got = json.loads(run.metrics_path.read_text())
    assert sorted((r["notebook"], r["value"]) for r in got) == [("01_teachers", 0.5),
                                                                 ("02_mind", 0.8)]
    with pytest.raises(ValueError, match="ci_low"):
        run.write_metrics([{"dataset": "d"}], "03")
    with pytest.raises(FileNotFoundError, match="01_teachers"):
        run.require("teachers", "01_teachers")


def test_nan_score_is_an_error_not_a_silent_freeze(toy_dataset):
    with pytest.raises(ValueError, match="validation score is nan at epoch 0"):
        _fit(toy_dataset, 0, lambda m: float("nan"))


def test_still_improving_is_flagged(toy_dataset):
    from mindkit.train import ConvergenceWarning

    scores = iter([0.1, 0.2, 0.3])
    with pytest.warns(ConvergenceWarning, match="still improving"):
        _, hist = _fit(toy_dataset, 0, lambda m: next(scores), epochs=3)
    assert hist.still_improving and hist.best_epoch == 2
    scores = iter([0.3, 0.2, 0.1])
    _, hist = _fit(toy_dataset, 0, lambda m: next(scores), epochs=3)
    assert not hist.still_improving
