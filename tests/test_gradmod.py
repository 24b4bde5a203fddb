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
    with pytest.raises(KeyError, match="without an encoder"):
        modulate_gradients(enc, {"c": 0.5})
