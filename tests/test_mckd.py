"""MCKD / MetaKD: the student's mean filling, the subset sampler, the cross-modal KD term's
gradients, which step updates what, the meta split carved from train, checkpoints, and a short
training on real data."""

import math
import warnings

import pytest
import torch

from mindkit.data.base import ModalitySpec
from mindkit.distill.mckd import (
    MCKD,
    MCKDStudent,
    carve_meta_split,
    cross_modal_kd,
    fill_missing,
    sample_subsets,
)
from mindkit.distill.methods import (
    METHODS,
    MethodContext,
    build_method,
    needs_teachers,
    run_method,
    step_log_path,
)
from mindkit.train import TrainConfig, Trainer


def _method(ds, seed=0, **kw):
    torch.manual_seed(seed)
    student = MCKDStudent(ds.modalities, ds.num_outputs, "xs", width=8, hidden=8)
    return MCKD(student, ds.task, seed=seed, **kw)


def _model_state(student):
    """Every weight and buffer of the student except w."""
    return {k: v.detach().clone() for k, v in student.state_dict().items() if k != "w"}


def test_fill_missing_is_the_mean_of_the_present_modalities_by_hand():
    f = torch.tensor([[[1.0, 2.0], [1e6, 1e6], [3.0, 6.0]],  # row 0: modality 1 absent
                      [[1e6, -1e6], [4.0, -2.0], [float("nan"), 0.0]],  # row 1: only 1
                      [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])  # row 2: all present
    p = torch.tensor([[True, False, True], [False, True, False], [True, True, True]])
    out = fill_missing(f, p)
    assert out[0].tolist() == [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]
    assert out[1].tolist() == [[4.0, -2.0], [4.0, -2.0], [4.0, -2.0]]
    assert torch.equal(out[2], f[2])
    # no gradient reaches an absent slot; the present ones feed the fill
    g = f.clone().nan_to_num(0.0).requires_grad_(True)
    fill_missing(g, p).sum().backward()
    assert g.grad[0, 1].abs().sum() == 0 and g.grad[1, 0].abs().sum() == 0
    assert g.grad[0, 0].tolist() == [1.5, 1.5] and g.grad[1, 1].tolist() == [3.0, 3.0]


def test_student_never_reads_an_absent_input(toy_dataset):
    torch.manual_seed(0)
    model = MCKDStudent(toy_dataset.modalities, 3, "xs", width=8, hidden=8).eval()
    b = toy_dataset["test"].batch(torch.arange(24))
    assert not b.present["audio"].all()
    ref = model.forward_batch(b)
    noisy = {m: v.clone() for m, v in b.inputs.items()}
    noisy["audio"][~b.present["audio"]] = float("nan")
    out = model(noisy, b.present, b.lengths)
    assert torch.isfinite(out.logits["mm"]).all()
    assert torch.allclose(out.logits["mm"], ref.logits["mm"], atol=1e-6)
    # the features are the projected ones, zeros where absent, one shared width
    assert {f.shape for f in ref.features.values()} == {(24, 8)}
    assert (ref.features["audio"][~b.present["audio"]] == 0).all()
    # the absent audio slot is the image feature (the mean of the one present modality)
    only_image = {"image": b.present["image"], "audio": torch.zeros(24, dtype=torch.bool)}
    probe = model(b.inputs, only_image, b.lengths)
    same = torch.cat([probe.features["image"], probe.features["image"]], 1)
    assert torch.allclose(probe.logits["mm"], model.mm_head(model.fusion(same)), atol=1e-6)
    probs, served = model.route(out, "multiclass")
    assert probs.shape == (24, 3) and set(served) == {"mm"}
    assert model.head_names == ["mm"] and list(model.encoders) == ["audio", "image"]


def test_subset_sampler_never_returns_an_empty_set():
    n = 6000
    g = torch.Generator().manual_seed(0)
    pres = torch.rand(n, 3, generator=g) < 0.6
    pres[:2000] = torch.tensor([True, True, True])
    pres[2000:3000] = torch.tensor([False, True, False])  # one modality: never dropped
    present = {m: pres[:, j] for j, m in enumerate("abc")}
    for rate in (0.0, 0.3, 1.0):
        out = sample_subsets(present, rate, torch.Generator().manual_seed(1))
        kept = torch.stack([out[m] for m in "abc"], 1)
        assert not (kept & ~pres).any()  # an absent modality never comes back
        assert (kept.sum(1) >= 1)[pres.any(1)].all()  # never empty
        assert torch.equal(kept[2000:3000], pres[2000:3000])
        if rate == 0.0:
            assert torch.equal(kept, pres)
        if rate == 1.0:  # every sample with two or more loses at least one, k uniform 1..n-1
            multi = pres.sum(1) >= 2
            assert (kept.sum(1) < pres.sum(1))[multi].all()
            k = kept[:2000].sum(1)
            assert abs(float((k == 1).float().mean()) - 0.5) < 0.05
    # drop_rate (M-1)/M reproduces the reference's sampler: k kept uniform in 1..M
    two = {"a": torch.ones(20000, dtype=torch.bool), "b": torch.ones(20000, dtype=torch.bool)}
    out = sample_subsets(two, 0.5, torch.Generator().manual_seed(2))
    both = float((out["a"] & out["b"]).float().mean())
    only_a = float((out["a"] & ~out["b"]).float().mean())
    assert abs(both - 0.5) < 0.02 and abs(only_a - 0.25) < 0.02
    with pytest.raises(ValueError, match="drop_rate"):
        sample_subsets(two, 1.5, g)


def test_kd_term_feeds_the_student_side_only_and_never_w():
    torch.manual_seed(0)
    fa = torch.randn(5, 4, requires_grad=True)
    fb = torch.randn(5, 4, requires_grad=True)
    w = torch.rand(2, requires_grad=True)
    imp = torch.softmax(w, 0)
    pres = {"a": torch.ones(5, dtype=torch.bool),
            "b": torch.tensor([True, True, False, True, True])}
    kd = cross_modal_kd({"a": fa, "b": fb}, pres, imp, ["a", "b"])
    both = pres["b"]
    i_a, i_b = imp.detach().tolist()
    ref = (i_a / i_b) * (fa - fb)[both].abs().mean() + (i_b / i_a) * (fb - fa)[both].abs().mean()
    assert kd.item() == pytest.approx(ref.item(), rel=1e-6)
    kd.backward()
    assert w.grad is None  # the ratio weights are detached
    # each feature gets gradient only as the student of its pair: ratio_ij * sign(f_j - f_i)/N
    n = int(both.sum()) * 4
    exp_b = (i_a / i_b) * torch.sign(fb - fa).detach() / n * both[:, None]
    exp_a = (i_b / i_a) * torch.sign(fa - fb).detach() / n * both[:, None]
    assert torch.allclose(fb.grad, exp_b, atol=1e-7) and torch.allclose(fa.grad, exp_a, atol=1e-7)
    # a single direction: gradient into the student feature, none into the teacher's
    x, y = fa.detach().clone().requires_grad_(True), fb.detach().clone().requires_grad_(True)
    pres1 = {"a": torch.ones(5, dtype=torch.bool), "b": torch.ones(5, dtype=torch.bool)}
    term = cross_modal_kd({"a": x, "b": y}, pres1, torch.softmax(w, 0), ["a", "b"])
    (gx,) = torch.autograd.grad(term, [x], retain_graph=True)
    # x as teacher of (a -> b) contributes nothing: only (b -> a) reaches x
    assert torch.allclose(gx, (i_b / i_a) * torch.sign(x - y).detach() / 20, atol=1e-7)
    assert cross_modal_kd({"a": x, "b": y}, {"a": pres1["a"], "b": ~pres1["b"]},
                          torch.softmax(w, 0), ["a", "b"]) is None


def test_train_step_moves_the_model_only_and_meta_step_w_only(toy_dataset):
    method = _method(toy_dataset, meta_every=1, drop_rate=0.5)
    train = method.prepare(toy_dataset["train"])
    student = method.student
    main = {id(p) for p in method.main_parameters()}
    assert id(student.w) not in main and len(main) == len(list(student.parameters())) - 1
    # meta step: w moves; every other weight and buffer (batch-norm statistics) stays
    before, w0 = _model_state(student), student.w.detach().clone()
    method.train()
    held = method.held_out_split
    logs = method.held_out_step(held.batch(torch.arange(len(held))))
    assert math.isfinite(logs["meta_loss"]) and not torch.equal(student.w, w0)
    after = _model_state(student)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in student.parameters())
    assert student.training  # the meta forward ran in eval mode and gave training mode back
    # train step (as the trainer does it): the model moves, w does not, w has no gradient
    opt = torch.optim.AdamW(method.main_parameters(), lr=1e-2)
    w1 = student.w.detach().clone()
    batch = method.transform_batch(train.batch(torch.arange(32)), torch.Generator())
    terms = method.forward_train(batch)
    assert {"task", "kd", "total"} <= set(terms)
    opt.zero_grad(set_to_none=True)
    terms["total"].backward()
    assert student.w.grad is None
    opt.step()
    assert torch.equal(student.w, w1)
    moved = _model_state(student)
    assert any(not torch.equal(after[k], moved[k]) for k in after)


def test_trainer_updates_w_only_at_meta_steps_and_never_trains_on_the_meta_split(toy_dataset):
    class Recorder(MCKD):
        def forward_train(self, batch):
            self.seen.append((self.student.w.detach().clone(), len(self.metas), batch.ids))
            return super().forward_train(batch)

        def held_out_step(self, batch):
            before = _model_state(self.student)
            out = super().held_out_step(batch)
            after = _model_state(self.student)
            self.metas.append((batch.ids, all(torch.equal(before[k], after[k]) for k in before)))
            return out

    torch.manual_seed(0)
    student = MCKDStudent(toy_dataset.modalities, 3, "xs", width=8, hidden=8)
    method = Recorder(student, "multiclass", meta_every=2, meta_share=0.2, drop_rate=0.5,
                      warmup_epochs=1, ramp_epochs=1)
    method.seen, method.metas = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = Trainer(TrainConfig(epochs=3, batch_size=16), progress=False).fit(
            method, toy_dataset["train"])
    steps = len(method.seen)
    assert len(method.metas) == steps // 2 and all(same for _, same in method.metas)
    for (w_prev, m_prev, _), (w_next, m_next, _) in zip(method.seen, method.seen[1:]):
        assert torch.equal(w_prev, w_next) == (m_prev == m_next)  # w moves only at meta steps
    meta = set(method.meta_ids)
    trained = {int(i) for _, _, ids in method.seen for i in ids}
    assert meta and not meta & trained
    assert trained | meta == set(toy_dataset["train"].ids.tolist())
    assert {int(i) for ids, _ in method.metas for i in ids} <= meta
    log = method.importance_frame()
    assert len(log) == 1 + len(method.metas) and log["step"].tolist()[0] == 0
    assert {"step", "epoch", "meta_loss", "importance/audio", "importance/image"} <= set(log)
    assert log[["importance/audio", "importance/image"]].sum(axis=1).round(6).eq(1).all()
    rec = hist.records
    assert [r["drop_rate"] for r in rec] == [0.0, 0.5, 0.5]  # warm-up, then the ramp's top
    assert "importance/image" in rec[-1] and "train/meta_loss" in rec[-1]


def test_meta_split_comes_from_train_only(toy_dataset):
    method = _method(toy_dataset, meta_share=0.25)
    full = toy_dataset["train"]
    rest = method.prepare(full)
    meta = set(method.meta_ids)
    assert meta and meta <= set(full.ids.tolist())
    for other in ("val", "test"):
        assert not meta & set(toy_dataset[other].ids.tolist())
    assert not meta & set(rest.ids.tolist()) and len(rest) + len(meta) == len(full)
    held = method.held_out_split
    assert set(held.ids.tolist()) == meta
    assert held.present["audio"].all() and held.present["image"].all()  # complete samples
    # a quarter of each class's complete samples, drawn the same way every time
    complete = full.present["audio"] & full.present["image"]
    for c in range(3):
        n_c = int((complete & (full.y == c)).sum())
        assert int((held.y == c).sum()) == math.floor(0.25 * n_c + 0.5)
    assert torch.equal(carve_meta_split(full, 0.25, 0, "multiclass"),
                       carve_meta_split(full, 0.25, 0, "multiclass"))
    assert not torch.equal(carve_meta_split(full, 0.25, 0, "multiclass"),
                           carve_meta_split(full, 0.25, 1, "multiclass"))
    with pytest.raises(ValueError, match="meta_share"):
        _method(toy_dataset, meta_share=0.0)
    none = _method(toy_dataset, meta_every=0)
    assert len(none.prepare(full)) == len(full) and none.held_out_split is None


def test_registered_seeded_and_rebuilt_from_a_checkpoint(toy_dataset, tmp_path):
    from mindkit.evaluate.heads import evaluate_student
    from mindkit.studies.models import ReuseWarning, load_or_train
    from mindkit.train.checkpoint import load_model

    assert not needs_teachers("mckd") and not needs_teachers("mckd@mckd_meta_every=2")
    assert {"mckd_lambda_kd", "mckd_drop_rate", "mckd_meta_every", "mckd_meta_share",
            "mckd_meta_lr"} <= set(METHODS.get("mckd").settings.types())
    ctx = MethodContext(toy_dataset, {}, {}, TrainConfig(epochs=2, batch_size=32),
                        mckd_meta_every=2, mckd_width=8, mckd_hidden=8)
    a, b = build_method("mckd", ctx), build_method("mckd", ctx)
    assert torch.equal(a.student.w, b.student.w) and a.student.w.std() > 0  # seeded random w
    imp = a.student.importances()
    assert list(imp) == ["audio", "image"] and sum(imp.values()) == pytest.approx(1.0)
    s = a.settings()
    assert s["lambda_kd"] == 0.1 and s["meta_every"] == 2 and s["meta_split"] == "train"
    assert build_method("mckd@mckd_lambda_kd=0.5", ctx).settings()["lambda_kd"] == 0.5

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = run_method("mckd", ctx, checkpoint=tmp_path / "mckd")
    assert info.params == sum(p.numel() for p in model.parameters())
    assert info.step_logs.get("gm") is None and len(info.step_logs["mckd"]) > 1
    assert step_log_path(tmp_path / "mckd", "mckd").exists()
    assert not (tmp_path / "mckd.gm.csv").exists()
    back = load_model(tmp_path / "mckd", dataset=toy_dataset)
    assert type(back) is MCKDStudent and back.importances() == model.importances()
    model.eval()
    b = toy_dataset["test"].batch(torch.arange(16))
    assert torch.allclose(back.forward_batch(b).logits["mm"], model.forward_batch(b).logits["mm"])
    recs = evaluate_student(back, toy_dataset["test"], "multiclass", n_boot=0)
    assert {("routed", "all"), ("mm", "paired")} <= {(r["head"], r["group"]) for r in recs}
    # reused with its importance log; other settings are not reused
    again, info2 = load_or_train("mckd", ctx, [tmp_path])
    assert info2.source == str(tmp_path / "mckd.safetensors")
    assert info2.step_logs["mckd"]["importance/image"].tolist() == pytest.approx(
        info.step_logs["mckd"]["importance/image"].tolist())
    (tmp_path / "mckd@mckd_meta_every=3.safetensors").write_bytes(
        (tmp_path / "mckd.safetensors").read_bytes())
    (tmp_path / "mckd@mckd_meta_every=3.json").write_text((tmp_path / "mckd.json").read_text())
    with pytest.warns(ReuseWarning):
        _, info3 = load_or_train("mckd@mckd_meta_every=3", ctx, [tmp_path])
    assert info3.source == "trained"


def test_short_training_on_avdigits_beats_chance():
    from mindkit.data import load
    from mindkit.evaluate.availability import availability_scores

    ds = load("avdigits", seed=0).subsample(600, 0)
    ctx = MethodContext(ds, {}, {}, TrainConfig(epochs=10, batch_size=64, lr=1e-2),
                        mckd_meta_every=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = run_method("mckd", ctx)
    res = availability_scores({"mckd": model}, ds["test"], ds.task, metrics=["accuracy"],
                              n_boot=0)
    acc = {r["pattern"]: r["value"] for r in res.records}
    assert acc["audio+image"] > 0.35 and acc["image"] > 0.25  # chance: 0.1
    assert info.params < 15_000  # about MIND's xs student (13.8k on avdigits)
    log = info.step_logs["mckd"]
    assert len(log) > 10 and log["importance/image"].iloc[-1] != log["importance/image"].iloc[0]


def test_rejects_other_students_and_bad_settings(toy_dataset):
    from mindkit.models import SingleHeadStudent

    with pytest.raises(TypeError, match="MCKDStudent"):
        MCKD(SingleHeadStudent(toy_dataset.modalities, 3, "xs"), "multiclass")
    for kw, match in [({"drop_rate": 2.0}, "drop_rate"), ({"meta_scale": "x"}, "meta_scale"),
                      ({"lambda_kd": -1.0}, "lambda_kd")]:
        with pytest.raises(ValueError, match=match):
            _method(toy_dataset, **kw)
    with pytest.raises(ValueError, match="at least two"):
        MCKDStudent({"image": ModalitySpec("image", "image", (1, 8, 8))}, 3)


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_binary_and_multilabel_tasks(toy_dataset, task):
    from mindkit.data.base import MultimodalDataset, Split

    def relabel(s):
        y = torch.stack([s.y == 0, s.y == 1], 1).float()[:, : 1 if task == "binary" else 2]
        return Split(s.inputs, s.present, y, s.ids, s.lengths, s.name)

    ds = MultimodalDataset("toy", task, ["e"] if task == "binary" else ["e", "f"],
                           toy_dataset.modalities,
                           {k: relabel(v) for k, v in toy_dataset.splits.items()}, synthetic=True)
    method = _method(ds, meta_every=1, meta_share=0.2)
    train = method.prepare(ds["train"])
    held = method.held_out_split
    if task == "binary":  # stratified by the label
        complete = train.present["audio"] & train.present["image"]
        assert 0 < int(held.y.sum()) < len(held) and bool(complete.any())
    terms = method.forward_train(train.batch(torch.arange(16)))
    terms["total"].backward()
    assert math.isfinite(terms["total"].item()) and method.student.w.grad is None
    assert math.isfinite(method.held_out_step(held.batch(torch.arange(len(held))))["meta_loss"])
