"""Teachers stay frozen; absent modalities send no gradient; checkpoints round-trip."""

import pytest
import torch

from mindkit.distill import MindLoss, get_loss
from mindkit.encoders import build_encoder, count_parameters, preset_table
from mindkit.fusion import FUSIONS, JointConcat
from mindkit.models import MultiHeadStudent, TeacherEnsemble, UnimodalNet
from mindkit.train import load_model, save_model


def _grads_zero(module):
    return all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in module.parameters())


def test_teacher_ensemble_is_frozen_and_stays_in_eval(toy_dataset):
    spec = toy_dataset.modalities["image"]
    ens = TeacherEnsemble([UnimodalNet(spec, 3, "xs"), UnimodalNet(spec, 3, "s")])
    ens.train()  # must be ignored
    assert not ens.training and all(not m.training for m in ens.modules())
    assert all(not p.requires_grad for p in ens.parameters())
    x = toy_dataset["train"].inputs["image"][:8]
    a, b = ens(x), ens(x)
    assert torch.equal(a, b)  # dropout off: deterministic
    student = UnimodalNet(spec, 3, "xs")
    loss = get_loss("kd_softmax")(student(x), ens.predict_proba(x, T=2.0), T=2.0)
    loss.backward()
    assert all(p.grad is None for p in ens.parameters())
    assert not _grads_zero(student)


def test_absent_modality_sends_no_gradient(toy_dataset):
    split = toy_dataset["train"]
    student = MultiHeadStudent(toy_dataset.modalities, 3, "xs")
    student.train()
    absent = (~split.present["audio"]).nonzero().flatten()[:1]
    paired = split.present["audio"].nonzero().flatten()[:1]
    batch = split.batch(torch.cat([absent, paired]))
    out = student.forward_batch(batch)
    assert out.mask["audio"].tolist() == [False, True]
    assert out.mask["mm"].tolist() == [False, True]
    # a loss from the image-only sample alone: every head it can reach
    only_first = {h: torch.tensor([True, False]) & m for h, m in out.mask.items()}
    from mindkit.models import StudentOutput

    loss = MindLoss("multiclass", alpha=0.0)(StudentOutput(out.logits, only_first), batch.y)
    loss["total"].backward()
    assert _grads_zero(student.encoders["audio"]) and _grads_zero(student.heads["audio"])
    assert _grads_zero(student.fusion) and _grads_zero(student.mm_head)
    assert not _grads_zero(student.encoders["image"]) and not _grads_zero(student.heads["image"])


def test_absent_modality_content_is_never_read(toy_dataset):
    split = toy_dataset["test"]
    student = MultiHeadStudent(toy_dataset.modalities, 3, "xs").eval()
    b = split.batch(torch.arange(len(split)))
    out1 = student.forward_batch(b)
    b.inputs["audio"][~b.present["audio"]] = 1e6  # garbage where audio is absent
    out2 = student.forward_batch(b)
    for h in out1.logits:
        assert torch.allclose(out1.logits[h], out2.logits[h])


def test_routing_uses_mm_when_complete_else_present_head(toy_dataset):
    split = toy_dataset["test"]
    student = MultiHeadStudent(toy_dataset.modalities, 3, "xs").eval()
    out = student.forward_batch(split.batch(torch.arange(len(split))))
    probs, served = student.route(out, "multiclass")
    assert torch.allclose(probs.sum(1), torch.ones(len(split)))
    has = split.present["audio"]
    assert {s for s, h in zip(served, has.tolist()) if h} == {"mm"}
    assert {s for s, h in zip(served, has.tolist()) if not h} == {"image"}
    img_only = (~has).nonzero().flatten()
    assert torch.allclose(probs[img_only], torch.softmax(out.logits["image"][img_only], -1))
    with pytest.raises(ValueError, match="routing rule"):
        student.route(out, "multiclass", "nope")


def test_joint_fusion_refuses_incomplete_rows_unless_told_how():
    f = JointConcat({"a": 4, "b": 3}, hidden=5)
    feats = {"a": torch.randn(2, 4), "b": torch.randn(2, 3)}
    with pytest.raises(ValueError, match="missing='zero'"):
        f(feats, {"a": torch.tensor([True, True]), "b": torch.tensor([True, False])})
    z = JointConcat({"a": 4, "b": 3}, hidden=5, missing="zero")
    mixed = {"a": torch.tensor([True, True]), "b": torch.tensor([True, False])}
    assert z(feats, mixed).shape == (2, 5)
    with pytest.raises(KeyError, match="joint"):
        FUSIONS.get("nope")


def test_presets_grow_and_wrong_arch_is_rejected(toy_dataset):
    rows = preset_table(toy_dataset.modalities["image"])
    params = [r["params"] for r in rows]
    assert params == sorted(params) and len(set(params)) == len(params)
    with pytest.raises(ValueError, match="does not fit"):
        build_encoder(toy_dataset.modalities["image"], "s", "gru")
    enc = build_encoder(toy_dataset.modalities["audio"], "xs", "transformer")
    assert count_parameters(enc) > 0


def test_sequence_encoders_ignore_padding(toy_dataset):
    spec = toy_dataset.modalities["audio"]
    for arch in ("gru", "lstm", "transformer"):
        enc = build_encoder(spec, "xs", arch).eval()
        x = torch.randn(2, 6, 4)
        lens = torch.tensor([3, 6])
        x2 = x.clone()
        x2[0, 3:] = 99.0  # change only the padding of sample 0
        assert torch.allclose(enc(x, lens), enc(x2, lens), atol=1e-5), arch


def test_checkpoint_round_trip(tmp_path, toy_dataset):
    split = toy_dataset["test"]
    b = split.batch(torch.arange(len(split)))
    teacher = UnimodalNet(toy_dataset.modalities["audio"], 3, "s", "lstm").eval()
    student = MultiHeadStudent(toy_dataset.modalities, 3, "xs").eval()
    for model in (teacher, student):
        path = save_model(model, tmp_path / type(model).__name__, extra={"note": "x"})
        assert path.with_suffix(".json").exists()
        loaded = load_model(path)
        if model is teacher:
            sub = split.only_modalities(["audio"])
            x, lens = sub.inputs["audio"], sub.lengths["audio"]
            assert torch.allclose(model(x, lens), loaded(x, lens))
        else:
            o1, o2 = model.forward_batch(b), loaded.forward_batch(b)
            assert all(torch.allclose(o1.logits[h], o2.logits[h]) for h in o1.logits)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "missing.pt")


def test_token_encoder_ignores_padding_and_round_trips(tmp_path):
    from mindkit.data.base import ModalitySpec

    spec = ModalitySpec("notes", "tokens", (10,), True, "", vocab_size=50)
    net = UnimodalNet(spec, 2, "xs").eval()
    x = torch.tensor([[5, 7, 9, 0, 0, 0, 0, 0, 0, 0]])
    x2 = x.clone()
    x2[0, 3:] = 11  # tokens past the true length
    lens = torch.tensor([3])
    assert torch.allclose(net(x, lens), net(x2, lens), atol=1e-5)
    loaded = load_model(save_model(net, tmp_path / "tok"))
    assert torch.allclose(net(x, lens), loaded(x, lens))
    with pytest.raises(ValueError, match="vocab_size"):
        ModalitySpec("notes", "tokens", (10,), True)


def test_models_are_rebuilt_through_the_type_registry():
    from torch import nn

    from mindkit.models.build import build_model
    from mindkit.models.types import MODEL_TYPES, register_model_type

    assert {"UnimodalNet", "MultiHeadStudent", "SingleHeadStudent", "MCKDStudent"} <= set(
        MODEL_TYPES.names())
    with pytest.raises(ValueError, match="unknown model type 'Nope'; valid names: MCKDStudent"):
        build_model({"type": "Nope"})

    @register_model_type("ToyLinearForTest")
    def rebuild(kw):  # a new model type: one registration, no change to build.py
        return nn.Linear(kw["d"], 2)

    try:
        assert build_model({"type": "ToyLinearForTest", "d": 3}).in_features == 3
    finally:
        MODEL_TYPES._items.pop("ToyLinearForTest")
