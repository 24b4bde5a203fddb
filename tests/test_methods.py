"""Every baseline and ablation is one method object, trains on a toy dataset, is scored per head
and group, and records exactly what it used."""

import pytest
import torch

from mindkit.data.base import Batch
from mindkit.distill.methods import (
    METHODS,
    MethodContext,
    build_method,
    needs_teachers,
    run_method,
)
from mindkit.evaluate.heads import evaluate_student
from mindkit.evaluate.predictions import sample_groups
from mindkit.models import MultiHeadStudent, UnimodalNet
from mindkit.train import Method, TrainConfig, Trainer


@pytest.fixture
def ctx(toy_dataset):
    torch.manual_seed(0)
    teachers = {m: [UnimodalNet(toy_dataset.modalities[m], 3, s) for s in ("xs", "s", "m")]
                for m in toy_dataset.modality_names}
    scores = {m: [0.5, 0.7, 0.6] for m in teachers}
    return MethodContext(toy_dataset, teachers, scores, TrainConfig(epochs=1, batch_size=32))


@pytest.mark.parametrize("name", METHODS.names())
def test_method_trains_and_records_exact_groups(ctx, name):
    model, info = run_method(name, ctx)
    assert isinstance(info.method, Method) and info.epochs_run == 1
    test = ctx.dataset["test"]
    recs = evaluate_student(model, test, "multiclass", n_boot=0, method=name, seed=0)
    counts = {g: int(v.sum()) for g, v in sample_groups(test.present).items()}
    for r in recs:  # every record's n is the size of the group it names
        assert r["n"] == counts[r["group"]], (r["head"], r["group"], r["n"])
    heads = {(r["head"], r["group"]) for r in recs}
    assert ("routed", "all") in heads and ("mm", "paired") in heads
    assert {("routed", "paired"), ("routed", "only_image")} <= heads
    # KD settings only on methods that distil; the parameter count is the deployed student's
    kd = info.method.settings()
    uses_kd = name not in ("no_kd", "single_head_zero", "single_head_learned", "no_kd_late",
                           "no_kd_attention", "no_kd_early", "no_kd_bottleneck", "no_kd_gm",
                           "feature_kd")
    if needs_teachers(name):  # teacher-free methods name their own KD settings
        assert ("alpha" in kd) == uses_kd, kd
    assert info.params == sum(p.numel() for p in model.parameters())


def test_hint_projections_are_training_only(ctx):
    model, info = run_method("feature_kd", ctx)
    method = info.method
    proj = sum(p.numel() for p in method.proj.parameters())
    assert info.extra_params == proj > 0
    assert info.params == sum(p.numel() for p in model.parameters())
    assert {"train/hint/image", "train/hint/audio"} <= set(info.history.records[0])
    assert all(p.grad is not None for p in method.proj.parameters())
    assert not any(p.requires_grad for n in method.teachers.values() for p in n.parameters())


def test_single_head_mm_is_scored_on_paired_samples_only(ctx):
    model, _ = run_method("single_head_zero", ctx)
    test = ctx.dataset["test"]
    recs = evaluate_student(model, test, "multiclass", n_boot=0, method="x", seed=0)
    mm = [r for r in recs if r["head"] == "mm"]
    paired = int(sample_groups(test.present)["paired"].sum())
    assert mm and {r["group"] for r in mm} == {"paired"} and all(r["n"] == paired for r in mm)
    assert paired < len(test)  # the toy test split has audio-less samples


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
    # keys and types come from each method's settings dataclass
    assert parse_method("pb_kd_gm@bn_width=16,gm_noise=false")[1] == {
        "bn_width": 16, "gm_noise": False}
    assert parse_method("mckd@mckd_meta_lr=0.05")[1] == {"mckd_meta_lr": 0.05}
    with pytest.raises(ValueError, match="keys 'pb_kd_gm' declares: .*'bn_tokens'"):
        parse_method("pb_kd_gm@mckd_meta_lr=0.05")  # another method's setting
    with pytest.raises(ValueError, match="keys 'pb' declares"):
        parse_method("pb@gm_alpha=0.3")  # pb does not modulate gradients
    with pytest.raises(ValueError, match="takes a int"):
        parse_method("pb_kd_gm@bn_width=wide")
    with pytest.raises(ValueError, match="bad setting 'config=1'"):
        parse_method("mind@config=1")  # not a method setting
    method = build_method("mind@alpha=0.9,T=3", ctx)
    assert method.settings() == {"alpha": 0.9, "T": 3.0} and method.name == "mind@alpha=0.9,T=3"


def test_informed_methods_use_differing_head_weights(ctx):
    # ensemble val scores differ between modalities on this random toy data
    w = build_method("mind_informed", ctx).loss.head_weights
    b = build_method("mind_balanced", ctx).loss.head_weights
    assert set(w) == {"audio", "image", "mm"}
    assert (w["audio"] > w["image"]) == (b["audio"] < b["image"])
    assert "head_weights" in build_method("mind_informed", ctx).settings()
    assert build_method("mind", ctx).loss.head_weights == {}


def test_paired_only_trains_on_paired_samples(ctx):
    method = build_method("mind_paired_only", ctx)
    train = method.prepare(ctx.dataset["train"])
    assert len(train) == int(ctx.dataset["train"].groups()["paired"].sum()) < len(
        ctx.dataset["train"])


class _Hooks(Method):
    """A method exercising every hook: modality dropout, a post-backward gradient scaling, an
    extra optimizer on its own weight stepped on held-out batches, epoch-end logs."""

    held_out_every = 2

    def __init__(self, student, task, held_out):
        super().__init__(student, task)
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.opt = torch.optim.SGD([self.w], lr=0.1)
        self.held_out_split = held_out
        self.calls = {"transform": 0, "after": 0, "held": 0, "epoch": 0}
        self.seen_grad_scale = []

    def extra_optimizers(self):
        return [self.opt]

    def transform_batch(self, batch, generator):
        self.calls["transform"] += 1
        present = dict(batch.present)
        present["audio"] = torch.zeros_like(present["audio"])  # drop audio everywhere
        return Batch(batch.inputs, present, batch.y, batch.idx, batch.lengths, batch.ids)

    def forward_train(self, batch):
        from mindkit.distill.mind import MindLoss

        assert not batch.present["audio"].any()
        terms = MindLoss(self.task, 0.0)(self.student.forward_batch(batch), batch.y)
        terms["total"] = terms["total"] + 0.0 * self.w
        return terms

    def after_backward(self, batch, terms):
        self.calls["after"] += 1
        for p in self.student.encoders["image"].parameters():
            if p.grad is not None:
                p.grad.zero_()  # gradient modulation to the extreme: freeze the image encoder
        return {"gm/coef": 0.0}

    def held_out_step(self, batch):
        self.calls["held"] += 1
        self.opt.zero_grad()
        loss = (self.w - 1.0) ** 2
        loss.backward()
        self.opt.step()
        return {"meta/w": float(self.w.detach())}

    def on_epoch_end(self, epoch):
        self.calls["epoch"] += 1
        return {"epoch_log": float(epoch)}


def test_trainer_calls_every_hook(ctx):
    ds = ctx.dataset
    torch.manual_seed(0)
    student = MultiHeadStudent(ds.modalities, ds.num_outputs, "xs")
    before = {k: v.detach().clone() for k, v in student.encoders["image"].named_parameters()}
    method = _Hooks(student, ds.task, ds["val"])
    assert all(p is not method.w for p in method.main_parameters())
    hist = Trainer(TrainConfig(epochs=2, batch_size=32, weight_decay=0.0),
                   progress=False).fit(method, ds["train"])
    steps = 2 * -(-len(ds["train"]) // 32)
    assert method.calls == {"transform": steps, "after": steps, "held": steps // 2, "epoch": 2}
    assert 0.0 < float(method.w) < 1.0  # moved only by its own optimizer
    for k, v in student.encoders["image"].named_parameters():
        assert torch.equal(v, before[k]), k  # gradients zeroed after backward: unchanged
    rec = hist.records[0]
    assert rec["train/gm/coef"] == 0.0 and "train/meta/w" in rec and rec["epoch_log"] == 0.0
    assert "train/task/audio" not in rec  # the audio head never had rows: no term averaged
