"""End-to-end on real data: teachers and a MIND student learn AV-Digits well above chance."""

import pytest
import torch

from mindkit.data import load
from mindkit.distill.methods import MethodContext, run_method
from mindkit.distill.mind import MindDistiller
from mindkit.distill.recipes import (
    fit_method,
    load_teacher_nets,
    load_teachers,
    teacher_scores,
    train_teachers,
)
from mindkit.evaluate.heads import evaluate_student
from mindkit.models import MultiHeadStudent
from mindkit.train import TrainConfig


@pytest.fixture(scope="module")
def small_avdigits():
    return load("avdigits", seed=0).subsample(900, seed=0)


@pytest.mark.slow
def test_teachers_and_mind_student_beat_chance(small_avdigits, tmp_path):
    ds = small_avdigits
    cfg = TrainConfig(epochs=5, batch_size=64, lr=3e-3, patience=5, seed=0)
    teachers, rows = train_teachers(ds, ["xs"], config=cfg, out_dir=tmp_path, progress=False)
    assert {r["modality"] for r in rows} == {"image", "audio"}
    for r in rows:  # chance is 0.1 on ten balanced digits
        assert r["val_score"] > 0.2, r
    ensembles = load_teachers(tmp_path, ds, sizes=["xs"])
    # teachers reloaded from disk are frozen
    assert all(not p.requires_grad for e in ensembles.values() for p in e.parameters())
    nets, scores = load_teacher_nets(tmp_path, ds, ["xs"])
    assert scores == teacher_scores(rows)
    student, info = run_method("mind", MethodContext(ds, nets, scores, cfg, alpha=0.5, T=2.0))
    hist = info.history
    assert info.cache_s >= 0 and len(hist.records) >= 1
    assert any(k.startswith("train/kd/") for k in hist.records[0])
    recs = evaluate_student(student, ds["test"], ds.task, n_boot=100, seed=0, method="mind")
    acc = {(r["head"], r["group"]): r["value"] for r in recs if r["metric"] == "accuracy"}
    assert acc[("routed", "all")] > 0.3
    assert acc[("mm", "paired")] > 0.3
    for r in recs:
        assert r["split"] == "test" and r["seed"] == 0 and r["ci_low"] <= r["value"] <= r["ci_high"]


def test_alpha_needs_teachers(small_avdigits):
    student = MultiHeadStudent(small_avdigits.modalities, 10, "xs")
    with pytest.raises(ValueError, match="teacher ensembles"):
        MindDistiller(student, small_avdigits.task, None, alpha=0.5)


def test_missing_teachers_name_the_notebook(small_avdigits, tmp_path):
    with pytest.raises(FileNotFoundError, match="01_teachers"):
        load_teachers(tmp_path, small_avdigits)


def test_teacher_cache_is_built_once_per_training(small_avdigits, monkeypatch):
    from mindkit.distill import cache as cache_mod

    calls = []
    real = cache_mod.TeacherCache.build.__func__

    def counting(cls, *a, **k):
        calls.append(1)
        return real(cls, *a, **k)

    monkeypatch.setattr(cache_mod.TeacherCache, "build", classmethod(counting))
    ds = small_avdigits.subsample(120, seed=1)
    from mindkit.models import TeacherEnsemble, UnimodalNet

    ens = {m: TeacherEnsemble([UnimodalNet(ds.modalities[m], 10, "xs")])
           for m in ds.modality_names}
    torch.manual_seed(0)
    from mindkit.distill.cache import EnsembleTargets

    method = MindDistiller(MultiHeadStudent(ds.modalities, 10, "xs"), ds.task,
                           EnsembleTargets(ens), alpha=0.5)
    hist = fit_method(method, ds, TrainConfig(epochs=3, batch_size=32), progress=False)
    assert len(hist.records) == 3 and len(calls) == 1
