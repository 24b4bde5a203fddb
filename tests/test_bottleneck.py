"""Pooled-bottleneck fusion, modality dropout and self-distillation for missing modalities."""

import math

import pytest
import torch

from mindkit.data.base import Batch, ModalitySpec
from mindkit.distill.selfkd import ModalityDropoutKD, drop_modalities
from mindkit.fusion.bottleneck import BottleneckFusion, pool_tokens
from mindkit.models import MultiHeadStudent, SingleHeadStudent

SPECS = {"img": ModalitySpec("img", "image", (1, 8, 8)),
         "seq": ModalitySpec("seq", "sequence", (12, 3)),
         "tab": ModalitySpec("tab", "tabular", (4,))}
KW = {"n_bottleneck": 3, "depth": 2, "pool_len": 4}


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = {"img": torch.rand(n, 1, 8, 8, generator=g), "seq": torch.randn(n, 12, 3, generator=g),
              "tab": torch.randn(n, 4, generator=g)}
    present = {"img": torch.tensor([1, 1, 0, 1, 0, 1][:n]).bool(),
               "seq": torch.tensor([1, 0, 1, 1, 0, 0][:n]).bool(),
               "tab": torch.tensor([1, 1, 1, 0, 1, 0][:n]).bool()}
    lengths = {"seq": torch.tensor([12, 5, 9, 1, 12, 3][:n])}
    return Batch(inputs, present, torch.arange(n) % 3, torch.arange(n), lengths)


def _student(absent="exclude", seed=0):
    torch.manual_seed(seed)
    return SingleHeadStudent(SPECS, 3, "xs", fusion="bottleneck", fusion_hidden=16,
                             fusion_kwargs={**KW, "absent": absent}).eval()


def test_pool_tokens_by_hand():
    h = torch.arange(6.0).view(1, 6, 1).repeat(2, 1, 1)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    out, m = pool_tokens(h, mask, 4)
    # 6 valid steps into 4 bins (adaptive-average-pooling bins: floor(i*6/4)..ceil((i+1)*6/4))
    assert out[0, :, 0].tolist() == pytest.approx([0.5, 1.5, 3.5, 4.5])
    ref = torch.nn.functional.adaptive_avg_pool1d(h[:1].transpose(1, 2), 4).transpose(1, 2)
    assert torch.allclose(out[:1], ref)
    # 3 valid steps: each keeps its own step; the 4th bin is masked out
    assert out[1, :3, 0].tolist() == pytest.approx([0.0, 1.0, 2.0]) and m[1].tolist() == [
        True, True, True, False]
    short, m2 = pool_tokens(h[:, :3], mask[:, :3], 4)  # no longer than pool_len: unchanged
    assert torch.equal(short, h[:, :3]) and torch.equal(m2, mask[:, :3])


@pytest.mark.parametrize("absent", ["exclude", "include"])
def test_absent_input_changes_nothing(absent):
    model, b = _student(absent), _batch()
    ref = model.forward_batch(b).logits["mm"]
    noisy = {m: v.clone() for m, v in b.inputs.items()}
    for m, v in noisy.items():
        v[~b.present[m]] = float("nan") if m != "seq" else 1e6
    lengths = {"seq": torch.where(b.present["seq"], b.lengths["seq"], torch.tensor(12))}
    out = model(noisy, b.present, lengths).logits["mm"]
    assert torch.isfinite(out).all() and torch.allclose(out, ref, atol=1e-6)
    # a present modality's input does change the output of its rows
    moved = {**b.inputs, "tab": b.inputs["tab"] + 1.0}
    diff = (model(moved, b.present, b.lengths).logits["mm"] - ref).abs().sum(1)
    assert (diff[b.present["tab"]] > 1e-6).all() and (diff[~b.present["tab"]] == 0).all()


def test_include_rule_is_the_authors_initial_tokens():
    excl, incl, b = _student("exclude"), _student("include"), _batch()
    incl.load_state_dict(excl.state_dict())
    e, i = excl.forward_batch(b).logits["mm"], incl.forward_batch(b).logits["mm"]
    full = b.present["img"] & b.present["seq"] & b.present["tab"]
    assert torch.allclose(e[full], i[full])  # nothing absent: the two rules agree
    assert not torch.allclose(e[~full], i[~full])
    # include: an absent modality's initial tokens enter the mean with its weight, so changing
    # them changes the rows that lack it (and only those)
    with torch.no_grad():
        incl.fusion.init_tokens["seq"].add_(torch.randn(1, 3, 16))
    moved = (incl.forward_batch(b).logits["mm"] - i).abs().sum(1)
    assert (moved[~b.present["seq"]] > 1e-6).all()


def test_pooling_weights_and_rules():
    f = BottleneckFusion({"a": 4, "b": 4}, hidden=8, pooling="mean")
    assert not f.pool_weights.requires_grad and f.weights() == {"a": 0.5, "b": 0.5}
    assert BottleneckFusion({"a": 4, "b": 4}, hidden=8).pool_weights.requires_grad
    with pytest.raises(ValueError, match="include"):
        BottleneckFusion({"a": 4}, absent="zero")
    with pytest.raises(ValueError, match="divisible"):
        BottleneckFusion({"a": 4}, hidden=10, heads=4)
    with pytest.raises(ValueError, match="no modality present"):
        f({"a": (torch.ones(2, 1, 4), torch.ones(2, 1).bool())},
          {"a": torch.tensor([True, False]), "b": torch.tensor([False, False])})


def test_mind_student_with_bottleneck_fusion_routes_and_learns():
    torch.manual_seed(0)
    student = MultiHeadStudent(SPECS, 3, "xs", fusion="bottleneck", fusion_hidden=16,
                               fusion_kwargs=KW)
    b = _batch()
    out = student.forward_batch(b)
    full = b.present["img"] & b.present["seq"] & b.present["tab"]
    assert torch.equal(out.mask["mm"], full) and (out.logits["mm"][~full] == 0).all()
    out.logits["mm"][full].pow(2).sum().backward()
    assert student.fusion.init_tokens["img"].grad.abs().sum() > 0


def test_drop_modalities_never_drops_everything():
    g = torch.Generator().manual_seed(0)
    n = 3000
    present = {"a": torch.ones(n, dtype=torch.bool), "b": torch.ones(n, dtype=torch.bool),
               "c": torch.arange(n) % 3 != 0}  # a third of the rows have two modalities
    kept, dropped = drop_modalities(present, (0.5, 0.5), g)
    k = torch.stack(list(kept.values()), 1)
    p = torch.stack(list(present.values()), 1)
    assert (k.sum(1) >= 1).all() and not (k & ~p).any()  # never all, never adds one
    assert dropped.all()  # every row here has two or more
    lost = (p.sum(1) - k.sum(1)).float()
    three = p.sum(1) == 3
    assert lost[~three].eq(1).all()  # two present: capped at one dropped
    assert lost[three].mean().item() == pytest.approx(1.5, abs=0.05)  # 1 or 2, equal chance
    # which modality goes is uniform: each of three dropped alone about a third of the time
    alone = three & (lost == 1)
    share = (~k[alone]).float().mean(0)
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.05)
    single = {"a": torch.tensor([True]), "b": torch.tensor([False]), "c": torch.tensor([False])}
    kept1, dropped1 = drop_modalities(single, (0.0, 1.0), g)
    assert kept1["a"].item() and not dropped1.item()
    again = drop_modalities(present, (0.5, 0.5), torch.Generator().manual_seed(0))
    assert all(torch.equal(again[0][m], kept[m]) for m in kept)


def test_self_distillation_terms_by_hand():
    student = _student().train()
    student.eval()  # no dropout, so the two passes below are reproducible
    method = ModalityDropoutKD(student, "multiclass", T=1.0, drop_probs=(1.0, 0.0))
    b = _batch()
    method.transform_batch(b, torch.Generator().manual_seed(1))
    present, rows = method._dropped
    terms = method.forward_train(b)
    full = student.forward_batch(b).logits["mm"]
    part = student(b.inputs, present, b.lengths).logits["mm"]
    idx = rows.nonzero().flatten()
    p = torch.softmax(full[idx], -1)
    kl = (p * (p.log() - torch.log_softmax(part[idx], -1))).sum(1).mean()
    ce_soft = -(p * torch.log_softmax(part[idx], -1)).sum(1).mean()
    entropy = -(p * p.log()).sum(1).mean()
    assert terms["kd"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert terms["kd"].item() == pytest.approx((ce_soft - entropy).item(), rel=1e-5)
    task = torch.nn.functional.cross_entropy(full, b.y)
    assert terms["total"].item() == pytest.approx(task.item() + kl.item(), rel=1e-5)
    # the rows that have a single modality are not dropped and take no part
    n_present = sum(b.present[m].long() for m in b.present)
    assert torch.equal(rows, n_present >= 2)


def test_self_distillation_options_and_errors():
    student = _student()
    b = _batch()
    m = ModalityDropoutKD(student, "multiclass", kd=False)
    m.transform_batch(b, torch.Generator().manual_seed(0))
    assert set(m.forward_train(b)) == {"task", "total"}
    late = ModalityDropoutKD(student, "multiclass", kd_start=2)
    late.transform_batch(b, torch.Generator())
    assert "kd" not in late.forward_train(b)
    late.on_epoch_end(0)
    late.on_epoch_end(1)
    late.transform_batch(b, torch.Generator())
    assert "kd" in late.forward_train(b)
    feat = ModalityDropoutKD(student, "multiclass", feature_kd=0.5)
    feat.transform_batch(b, torch.Generator().manual_seed(0))
    t = feat.forward_train(b)
    assert t["feature_kd"].item() > 0
    assert t["total"].item() == pytest.approx(
        t["task"].item() + t["kd"].item() + 0.5 * t["feature_kd"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="never all"):
        ModalityDropoutKD(student, "multiclass", drop_probs=(0.3, 0.3, 0.4))
    concat = SingleHeadStudent(SPECS, 3, "xs", missing="zero")
    with pytest.raises(ValueError, match="no bottleneck fusion"):
        ModalityDropoutKD(concat, "multiclass", feature_kd=1.0)
    with pytest.raises(ValueError, match="no 'mm' head serving every sample"):
        ModalityDropoutKD(MultiHeadStudent(SPECS, 3, "xs").heads, "multiclass")
    assert math.isclose(sum(ModalityDropoutKD(student, "multiclass",
                                              drop_probs=(2, 2)).drop_probs), 1.0)


def test_pb_kd_gm_learns_the_three_modality_digits():
    """The full method (pooled bottleneck + KD + GM) beats chance on real data, under the full
    pattern and with a single modality left."""
    from mindkit.data import load
    from mindkit.distill.methods import MethodContext, run_method
    from mindkit.evaluate.availability import availability_scores
    from mindkit.train.trainer import TrainConfig

    ds = load("avdigits3", seed=0).subsample(700, 0)
    ctx = MethodContext(ds, {}, {}, TrainConfig(epochs=6, batch_size=64, lr=3e-3))
    model, info = run_method("pb_kd_gm", ctx)
    res = availability_scores({"pb": model}, ds["test"], ds.task, metrics=["accuracy"], n_boot=0)
    acc = {r["pattern"]: r["value"] for r in res.records}
    assert acc["audio+image+optical"] > 0.4 and acc["image"] > 0.25  # chance: 0.1
    assert info.step_logs.get("gm")["active"].any() and info.history.records[-1]["train/kd"] > 0
