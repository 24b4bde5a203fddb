"""OGM-GE gradient modulation: coefficients against hand computations, and gradients scaled
only on the dominant modality's encoder."""

import math

import pytest
import torch
from torch import nn

from mindkit.distill.gradmod import modality_scores, modulate_gradients, ogm_coefficients


def test_two_modalities_by_hand():
    y = torch.tensor([0, 1])
    a = torch.tensor([[2.0, 0.0], [0.0, 2.0]])  # confident and right
    b = torch.tensor([[0.0, 0.0], [0.0, 0.0]])  # uniform
    pa = math.exp(2) / (math.exp(2) + 1)
    scores = modality_scores({"a": a, "b": b}, y, "multiclass")
    assert scores["a"] == pytest.approx(2 * pa) and scores["b"] == pytest.approx(1.0)
    c = ogm_coefficients({"a": a, "b": b}, y, 0.5, "multiclass")
    rho = 2 * pa / 1.0
    assert c["a"] == pytest.approx(1 - math.tanh(0.5 * rho)) and c["b"] == 1.0


def test_three_modalities_each_against_the_mean_of_the_others_and_binary_scores():
    y = torch.tensor([[1.0], [0.0]])
    logits = {"x": torch.tensor([[3.0], [-3.0]]), "y": torch.tensor([[0.0], [0.0]]),
              "z": torch.tensor([[-1.0], [1.0]])}
    s = modality_scores(logits, y, "binary")
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    assert s["x"] == pytest.approx(2 * sig(3)) and s["y"] == pytest.approx(1.0)
    assert s["z"] == pytest.approx(2 * sig(-1))
    c = ogm_coefficients(logits, y, 0.3, "binary")
    rho_x = s["x"] / ((s["y"] + s["z"]) / 2)
    rho_y = s["y"] / ((s["x"] + s["z"]) / 2)
    assert c["x"] == pytest.approx(1 - math.tanh(0.3 * rho_x))
    assert rho_y < 1 and c["y"] == 1.0 and c["z"] == 1.0
    with pytest.raises(ValueError, match="at least two"):
        ogm_coefficients({"x": logits["x"]}, y, 0.3, "binary")


def test_only_the_dominant_encoder_is_scaled():
    torch.manual_seed(0)
    enc = {"a": nn.Linear(3, 2), "b": nn.Linear(3, 2)}
    x = torch.randn(4, 3)
    loss = (enc["a"](x) ** 2).sum() + (enc["b"](x) ** 3).sum()
    loss.backward()
    before = {m: [p.grad.clone() for p in e.parameters()] for m, e in enc.items()}
    modulate_gradients(enc, {"a": 0.25, "b": 1.0})
    for g0, p in zip(before["a"], enc["a"].parameters()):
        assert torch.allclose(p.grad, g0 * 0.25)
    for g0, p in zip(before["b"], enc["b"].parameters()):
        assert torch.equal(p.grad, g0)
    # generalisation enhancement: noise on top of the scaled gradient, seeded
    modulate_gradients(enc, {"a": 1.0, "b": 1.0}, noise=True,
                       generator=torch.Generator().manual_seed(1))
    assert not torch.equal(enc["b"].weight.grad, before["b"][0])
    with pytest.raises(KeyError, match="without parameters"):
        modulate_gradients(enc, {"c": 0.5})


def _toy_batch(n=8, c=3):
    from mindkit.data.base import Batch, ModalitySpec

    g = torch.Generator().manual_seed(3)
    specs = {"a": ModalitySpec("a", "tabular", (4,)), "b": ModalitySpec("b", "tabular", (5,)),
             "c": ModalitySpec("c", "tabular", (2,))}
    inputs = {m: torch.randn(n, s.shape[0], generator=g) for m, s in specs.items()}
    present = {m: torch.ones(n, dtype=torch.bool) for m in specs}
    present["c"][0] = False  # one row without c: scores use only the rows with every modality
    y = torch.arange(n) % c
    return specs, Batch(inputs, present, y, torch.arange(n))


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_modulator_scales_the_dominant_modality_only_with_noise_off():
    from mindkit.distill.gradmod import GradModConfig, modality_scores, ogm_rhos
    from mindkit.distill.mind import MindDistiller

    specs, batch = _toy_batch()
    torch.manual_seed(0)
    from mindkit.models import MultiHeadStudent

    student = MultiHeadStudent(specs, 3, "xs")
    method = MindDistiller(student, "multiclass", None, alpha=0.0)
    method.train()
    terms = method.forward_train(batch)
    terms["total"].backward()
    plain = _grads(student)
    method.use_gradmod(GradModConfig(alpha=0.7, noise=False))
    out = method.last_output
    rows = batch.present["c"]
    logits = {m: out.logits[m][rows] for m in "abc"}
    rhos = ogm_rhos(modality_scores(logits, batch.y[rows], "multiclass"))
    logs = method.after_backward(batch, terms)
    top = max(rhos, key=rhos.get)
    k = 1 - math.tanh(0.7 * rhos[top])
    assert rhos[top] > 1 and logs[f"gm/coeff/{top}"] == pytest.approx(k)
    assert logs[f"gm/rho/{top}"] == pytest.approx(rhos[top])
    after = _grads(student)
    for name, g in plain.items():
        if name.startswith(f"encoders.{top}."):
            assert torch.allclose(after[name], g * k), name
        else:  # other encoders, every head and the fusion: untouched
            assert torch.equal(after[name], g), name
    assert method.gradmod.log[-1]["active"] and method.gradmod.log[-1]["epoch"] == 0


def test_modulator_window_pb_mode_and_errors():
    from mindkit.distill.gradmod import GradModConfig, GradModulator, pb_coefficients
    from mindkit.models import MultiHeadStudent, SingleHeadStudent

    specs, batch = _toy_batch()
    assert pb_coefficients({"a": 1.0, "b": 1.0, "c": 2.0}) == pytest.approx(
        {"a": 0.75, "b": 0.75, "c": 0.5})
    with pytest.raises(ValueError, match="bottleneck"):
        GradModulator(GradModConfig(mode="pb"), MultiHeadStudent(specs, 3, "xs"), "multiclass")
    with pytest.raises(ValueError, match="before start"):
        GradModConfig(start=3, end=1)
    with pytest.raises(ValueError, match="unknown gradient-modulation mode"):
        GradModConfig(mode="agm")
    student = SingleHeadStudent(specs, 3, "xs", fusion="bottleneck",
                                fusion_kwargs={"n_bottleneck": 2, "depth": 1})
    with torch.no_grad():
        student.fusion.pool_weights.copy_(torch.tensor([1.0, 2.0, 1.0]))
    gm = GradModulator(GradModConfig(mode="pb", start=1, end=1, noise=False), student,
                       "multiclass")
    student.forward_batch(batch).logits["mm"].sum().backward()
    plain = _grads(student)
    assert gm.after_backward(student, batch) == {}  # epoch 0: before the window
    assert all(torch.equal(g, _grads(student)[n]) for n, g in plain.items())
    gm.next_epoch()
    logs = gm.after_backward(student, batch)
    assert logs == pytest.approx({"gm/coeff/a": 0.75, "gm/coeff/b": 0.5, "gm/coeff/c": 0.75})
    after = _grads(student)
    # each modality's own parameters (encoder, projection, positions, initial tokens, stream
    # layers) are scaled by its coefficient; the shared ones (head, final norm) are not
    from mindkit.models.student import modality_parameters

    own = {id(p): k for m, k in [("a", 0.75), ("b", 0.5), ("c", 0.75)]
           for p in modality_parameters(student, m)}
    assert {n.split(".")[1] for n, p in student.named_parameters() if id(p) in own} >= {
        "a", "b", "c", "proj", "pos", "init_tokens", "layers"}
    for name, p in student.named_parameters():
        if name in plain:
            assert torch.allclose(after[name], plain[name] * own.get(id(p), 1.0)), name
    gm.next_epoch()
    assert not gm.active()
