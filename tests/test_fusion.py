"""Every fusion module: shapes, absent modalities ignored (values and gradients), late-fusion
maths, the learned missing token, frozen pre-trained encoders for early fusion."""

import pytest
import torch

from mindkit.fusion import FUSIONS, FrozenEncoder, JointConcat, build_fusion, freeze_encoders
from mindkit.models import MultiHeadStudent, UnimodalNet
from mindkit.train import load_model, save_model

DIMS = {"a": 5, "b": 3, "c": 4}
C = 3
# build kwargs per fusion so that mixed presence is allowed
MIXED_KW = {"joint": {"missing": "zero"}, "early": {"missing": "learned"},
            "late": {"num_outputs": C}, "attention": {"heads": 2}}


def _make(name, **kw):
    torch.manual_seed(0)
    kw = {**MIXED_KW.get(name, {}), **kw}
    return build_fusion(name, DIMS, hidden=8, dropout=0.0, **kw).eval()


def _feats(b, grad=False):
    g = torch.Generator().manual_seed(1)
    return {m: torch.randn(b, d, generator=g).requires_grad_(grad) for m, d in DIMS.items()}


MIXED = {"a": torch.tensor([True, True, False, True]),
         "b": torch.tensor([True, False, True, False]),
         "c": torch.tensor([True, True, True, False])}


def _call(f, feats, present):
    """Token fusions (the pooled bottleneck) take ``(tokens [B, L, D], mask)``: each feature
    vector becomes one token."""
    if getattr(f, "takes_tokens", False):
        feats = {m: (v.unsqueeze(1), torch.ones(v.shape[0], 1, dtype=torch.bool))
                 for m, v in feats.items()}
    return f(feats, present)


def _all(b):
    return {m: torch.ones(b, dtype=torch.bool) for m in DIMS}


def test_registry_has_every_fusion():
    assert {"early", "joint", "late", "attention", "bottleneck"} <= set(FUSIONS.names())


@pytest.mark.parametrize("name", FUSIONS.names())
def test_shapes_complete_mixed_and_single_row(name):
    f = _make(name)
    assert _call(f, _feats(4), _all(4)).shape == (4, f.out_dim)
    assert _call(f, _feats(4), MIXED).shape == (4, f.out_dim)
    one = {m: v[:1] for m, v in _feats(4).items()}
    assert _call(f, one, _all(1)).shape == (1, f.out_dim)
    assert _call(f, one, {m: v[2:3] for m, v in MIXED.items()}).shape == (1, f.out_dim)
    f.train()
    assert _call(f, _feats(1), _all(1)).shape == (1, f.out_dim)


@pytest.mark.parametrize("name", FUSIONS.names())
def test_absent_features_change_nothing_and_get_no_gradient(name):
    f = _make(name)
    feats = _feats(4)
    out1 = _call(f, feats, MIXED)
    garbage = {m: torch.where(MIXED[m].unsqueeze(-1), v, torch.full_like(v, 1e6))
               for m, v in feats.items()}
    garbage["b"][~MIXED["b"]] = float("nan")
    assert torch.allclose(out1, _call(f, garbage, MIXED))
    leaf = {m: v.detach().clone().requires_grad_(True) for m, v in garbage.items()}
    out = _call(f, leaf, MIXED)
    # a fixed random readout: the plain sum of a LayerNorm'ed output is constant
    (out * torch.randn(out.shape[-1], generator=torch.Generator().manual_seed(2))).sum().backward()
    for m, v in leaf.items():
        assert torch.count_nonzero(v.grad[~MIXED[m]]) == 0, m
        assert torch.count_nonzero(v.grad[MIXED[m]]) > 0, m


@pytest.mark.parametrize("name", ["joint", "early"])
def test_concat_error_rule_names_the_fix(name):
    f = _make(name, missing="error")
    assert f(_feats(4), _all(4)).shape == (4, 8)
    with pytest.raises(ValueError, match="missing='zero'"):
        f(_feats(4), MIXED)
    with pytest.raises(ValueError, match="missing rule"):
        _make(name, missing="mean")


def test_the_removed_zero_fill_spelling_is_refused():
    with pytest.raises(TypeError, match="zero_fill"):
        JointConcat(DIMS, hidden=8, zero_fill=True)


@pytest.mark.parametrize("name", ["late", "attention"])
def test_masking_fusions_reject_empty_rows_and_other_rules(name):
    f = _make(name)
    none = {m: torch.tensor([True, False]) for m in DIMS}
    with pytest.raises(ValueError, match=r"rows \[1\] have no modality"):
        f(_feats(2), none)
    with pytest.raises(ValueError, match="missing='mask'"):
        _make(name, missing="zero")


def test_late_mean_is_mean_of_present_heads():
    f = _make("late")
    assert f.produces_logits and f.out_dim == C
    feats = _feats(4)
    out = f(feats, MIXED)
    heads = {m: f.heads[m](feats[m]) for m in DIMS}
    want = torch.stack([
        (heads["a"][0] + heads["b"][0] + heads["c"][0]) / 3,
        (heads["a"][1] + heads["c"][1]) / 2,
        (heads["b"][2] + heads["c"][2]) / 2,
        heads["a"][3],
    ])
    assert torch.allclose(out, want, atol=1e-6)


def test_late_learned_weights_renormalise_over_present():
    f = _make("late", mode="learned")
    with torch.no_grad():
        f.weight_logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    w = f.modality_weights(MIXED)
    assert torch.allclose(w.sum(1), torch.ones(4))
    assert w[3].tolist() == [1.0, 0.0, 0.0]
    e = torch.tensor([1.0, 2.0]).exp()  # row 2: b and c present
    assert torch.allclose(w[2, 1:], e / e.sum())
    with pytest.raises(ValueError, match="num_outputs"):
        build_fusion("late", DIMS)


def test_learned_missing_token_trained_only_by_absent_rows():
    f = _make("joint", missing="learned")
    feats = _feats(4)
    only = torch.tensor([True, False, False, False])  # loss from row 0 (complete) only
    (f(feats, MIXED) * only.unsqueeze(-1)).sum().backward()
    assert all(torch.count_nonzero(t.grad) == 0 for t in f.missing_tokens.values())
    f.zero_grad()
    (f(feats, MIXED)[3]).sum().backward()  # row 3 lacks b and c
    assert torch.count_nonzero(f.missing_tokens["a"].grad) == 0
    assert torch.count_nonzero(f.missing_tokens["b"].grad) > 0
    assert torch.count_nonzero(f.missing_tokens["c"].grad) > 0


def test_frozen_encoder_stays_eval_gets_no_gradient_and_checkpoints(toy_dataset, tmp_path):
    specs = toy_dataset.modalities
    teacher = UnimodalNet(specs["image"], C, "xs")
    student = MultiHeadStudent(specs, C, "xs", fusion="early")
    freeze_encoders(student, {"image": teacher})
    enc = student.encoders["image"]
    assert isinstance(enc, FrozenEncoder)
    for k, v in teacher.encoder.state_dict().items():
        assert torch.equal(student.state_dict()[f"encoders.image.{k}"], v)
    student.train()
    assert student.training and not enc.training
    assert all(not m.training for m in enc.modules())
    split = toy_dataset["train"]
    out = student.forward_batch(split.batch(torch.arange(8)))
    sum(v[out.mask[h]].sum() for h, v in out.logits.items()).backward()
    assert all(p.grad is None for p in enc.parameters())
    assert any(p.grad is not None for p in student.encoders["audio"].parameters())
    # checkpoint keys match an unfrozen student, both ways
    save_model(student, tmp_path / "s")
    back = load_model(tmp_path / "s")
    assert set(back.state_dict()) == set(student.state_dict())
    student.load_state_dict(back.state_dict())


def test_freeze_encoders_rejects_a_different_preset(toy_dataset):
    specs = toy_dataset.modalities
    student = MultiHeadStudent(specs, C, "xs", fusion="early")
    with pytest.raises(ValueError, match="same size preset"):
        freeze_encoders(student, {"image": UnimodalNet(specs["image"], C, "m")})
    with pytest.raises(KeyError, match="no encoder"):
        freeze_encoders(student, {"text": UnimodalNet(specs["image"], C, "xs")})


@pytest.mark.parametrize("fusion,kw", [("attention", {"heads": 2, "n_tokens": 3}),
                                       ("early", {}), ("joint", {}),
                                       ("bottleneck", {"n_bottleneck": 2, "depth": 1})])
def test_multihead_student_runs_with_fusion(toy_dataset, fusion, kw):
    student = MultiHeadStudent(toy_dataset.modalities, C, "xs", fusion=fusion,
                               fusion_hidden=16, fusion_kwargs=kw)
    split = toy_dataset["train"]
    out = student.forward_batch(split.batch(torch.arange(6)))
    assert out.logits["mm"].shape == (6, C)
    assert torch.equal(out.mask["mm"], split.present["audio"][:6])
