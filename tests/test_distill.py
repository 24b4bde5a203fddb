"""KD losses and the MIND loss against hand-computed values."""

import math

import pytest
import torch

from mindkit.distill import (
    MindLoss,
    TeacherCache,
    get_loss,
    kd_bernoulli,
    kd_softmax,
    modality_informed_weights,
)
from mindkit.models import StudentOutput, TeacherEnsemble, UnimodalNet, combine_probs

LN3 = math.log(3.0)


def test_kd_softmax_hand_value():
    # T=2: student softmax([0, 2ln3]/2) = [1/4, 3/4]; teacher p = [1/2, 1/2]
    # KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3); times T^2 = 4
    s = torch.tensor([[0.0, 2 * LN3]])
    p = torch.tensor([[0.5, 0.5]])
    assert kd_softmax(s, p, T=2.0).item() == pytest.approx(2 * math.log(4 / 3), rel=1e-6)
    # the teacher_logits shortcut: logits [0, 0] give p = [1/2, 1/2] at any T
    assert kd_softmax(s, teacher_logits=torch.zeros(1, 2), T=2.0).item() == pytest.approx(
        2 * math.log(4 / 3), rel=1e-6)


def test_kd_softmax_batch_mean_and_zero_at_match():
    s = torch.tensor([[0.0, 2 * LN3], [1.0, -1.0]])
    p = torch.stack([torch.tensor([0.5, 0.5]), torch.softmax(torch.tensor([1.0, -1.0]) / 2, 0)])
    # the second row matches exactly, so the mean halves the first row's value
    assert kd_softmax(s, p, T=2.0).item() == pytest.approx(math.log(4 / 3), rel=1e-5)


def test_kd_bernoulli_hand_value():
    # label 1: p=0.5, q=sigmoid(2ln3/2)=0.75 -> KL = 0.5 ln(4/3)
    # label 2: p=0.2, q=sigmoid(0)=0.5 -> KL = 0.2 ln 0.4 + 0.8 ln 1.6
    s = torch.tensor([[2 * LN3, 0.0]])
    p = torch.tensor([[0.5, 0.2]])
    kl1 = 0.5 * math.log(4 / 3)
    kl2 = 0.2 * math.log(0.4) + 0.8 * math.log(1.6)
    expected = 4 * (kl1 + kl2) / 2
    assert kd_bernoulli(s, p, T=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_kd_bernoulli_is_zero_when_student_equals_teacher():
    t = torch.randn(5, 3)
    assert kd_bernoulli(t, teacher_logits=t, T=3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_needs_exactly_one_teacher_form():
    with pytest.raises(ValueError, match="exactly one"):
        kd_softmax(torch.zeros(1, 2), T=1.0)


def test_loss_registry_lists_valid_names():
    assert get_loss("kd_softmax") is kd_softmax
    with pytest.raises(KeyError, match="kd_bernoulli.*kd_softmax|valid names"):
        get_loss("kd_nope")
    try:
        get_loss("kd_nope")
    except KeyError as e:
        for name in ("ce", "bce", "kd_softmax", "kd_bernoulli", "mind"):
            assert name in str(e)


def test_combine_probs_weighted_mean():
    logits = torch.log(torch.tensor([[[0.2, 0.8]], [[0.6, 0.4]]]))  # two members, one sample
    assert torch.allclose(combine_probs(logits, "multiclass"), torch.tensor([[0.4, 0.6]]))
    w = combine_probs(logits, "multiclass", weights=torch.tensor([3.0, 1.0]))
    assert torch.allclose(w, torch.tensor([[0.3, 0.7]]))
    with pytest.raises(ValueError, match="non-negative"):
        combine_probs(logits, "multiclass", weights=torch.tensor([1.0, -1.0]))


def test_mind_loss_hand_value_with_masks():
    # two samples; head "a" serves both, head "mm" only the first
    y = torch.tensor([0, 1])
    la = torch.tensor([[0.0, 0.0], [0.0, LN3]])
    lmm = torch.tensor([[LN3, 0.0], [0.0, 0.0]])
    out = StudentOutput({"a": la, "mm": lmm},
                        {"a": torch.tensor([True, True]), "mm": torch.tensor([True, False])})
    targets = {"a": torch.tensor([[0.5, 0.5], [0.25, 0.75]]),
               "mm": torch.tensor([[0.75, 0.25], [9.0, 9.0]])}  # row 2 of mm is never read
    loss = MindLoss("multiclass", alpha=0.25, T=1.0, head_weights={"a": 2.0, "mm": 1.0})
    terms = loss(out, y, targets)
    # head a: CE row1 = ln 2, row2 = -ln(3/4); KD row1 = 0, row2 = 0 (targets match at T=1)
    ce_a = (math.log(2) - math.log(0.75)) / 2
    # head mm: CE = -ln(3/4); KD: student [3/4,1/4] == target -> 0
    ce_mm = -math.log(0.75)
    expected = 2.0 * (0.75 * ce_a) + 1.0 * (0.75 * ce_mm)
    assert terms["task/a"].item() == pytest.approx(ce_a, rel=1e-6)
    assert terms["kd/a"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["total"].item() == pytest.approx(expected, rel=1e-6)


def test_mind_loss_alpha_zero_is_task_only_and_empty_head_is_zero():
    out = StudentOutput({"a": torch.zeros(2, 3, requires_grad=True),
                         "mm": torch.zeros(2, 3, requires_grad=True)},
                        {"a": torch.tensor([True, True]), "mm": torch.tensor([False, False])})
    terms = MindLoss("multiclass", alpha=0.0)(out, torch.tensor([0, 2]))
    assert terms["total"].item() == pytest.approx(math.log(3), rel=1e-6)
    assert "task/mm" not in terms and "kd/a" not in terms  # no rows: no term, not a 0
    with pytest.raises(ValueError, match="alpha"):
        MindLoss("multiclass", alpha=1.5)
    with pytest.raises(ValueError, match="teacher targets"):
        MindLoss("multiclass", alpha=0.5)(out, torch.tensor([0, 2]))


def test_modality_informed_weights():
    # softmax over scores / sharpness, scaled to mean 1: 0.7 vs 0.8 at 0.1 -> 2/(1+e), 2e/(1+e)
    w = modality_informed_weights({"a": 0.7, "b": 0.8}, "softmax", sharpness=0.1)
    assert w["a"] == pytest.approx(2 / (1 + math.e)) and w["b"] == pytest.approx(2 * math.e /
                                                                                  (1 + math.e))
    inv = modality_informed_weights({"a": 0.7, "b": 0.8}, "softmax_inverse", sharpness=0.1)
    assert inv["a"] == pytest.approx(w["b"]) and inv["mm"] == 1.0
    # margin above chance: 0.3 - 0.1 vs 0.5 - 0.1 -> 2/3, 4/3
    mg = modality_informed_weights({"a": 0.3, "b": 0.5}, "margin", chance=0.1)
    assert mg["a"] == pytest.approx(2 / 3) and mg["b"] == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="chance"):
        modality_informed_weights({"a": 0.3, "b": 0.5}, "margin")
    with pytest.raises(ValueError, match="below chance"):
        modality_informed_weights({"a": 0.05, "b": 0.5}, "margin", chance=0.1)
    with pytest.raises(ValueError, match="softmax_inverse"):
        modality_informed_weights({"a": 0.3, "b": 0.5}, "nope")
    w = modality_informed_weights({"a": 0.9, "b": 0.6}, "proportional", mm_weight=2.0)
    assert w["a"] == pytest.approx(1.2) and w["b"] == pytest.approx(0.8) and w["mm"] == 2.0
    inv = modality_informed_weights({"a": 0.9, "b": 0.6}, "inverse")
    assert inv["b"] > inv["a"]
    with pytest.raises(ValueError, match="positive"):
        modality_informed_weights({"a": 0.0, "b": 0.5})


def test_teacher_cache_matches_direct_ensemble_and_masks_absent(toy_dataset):
    train = toy_dataset["train"]
    ens = {m: TeacherEnsemble([UnimodalNet(toy_dataset.modalities[m], 3, "xs") for _ in range(2)])
           for m in toy_dataset.modality_names}
    cache = TeacherCache.build(ens, train, "multiclass", batch_size=17)
    tg = cache.soft_targets(T=2.0)
    has = train.present["audio"]
    sub = train.only_modalities(["audio"])
    direct = ens["audio"].predict_proba(sub.inputs["audio"], sub.lengths["audio"], T=2.0)
    assert torch.allclose(tg["audio"][has], direct, atol=1e-6)
    assert torch.isnan(tg["audio"][~has]).all()
    # the multimodal target is the mean of the two ensembles where both exist
    assert torch.allclose(tg["mm"][has], (tg["audio"][has] + tg["image"][has]) / 2, atol=1e-6)
