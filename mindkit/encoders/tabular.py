"""A multilayer perceptron for tabular features."""

from __future__ import annotations

from torch import Tensor, nn


class TabularMLP(nn.Module):
    def __init__(self, in_features: int, hidden: int = 64, layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        mods, d = [], in_features
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        self.body = nn.Sequential(*mods)
        self.out_dim = d

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"TabularMLP expects [B, F] features, got shape {tuple(x.shape)}")
        return self.body(x)
