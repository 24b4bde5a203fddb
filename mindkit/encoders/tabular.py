"""A multilayer perceptron for tabular features."""

from __future__ import annotations

import torch
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

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The feature vector as one token ``[B, 1, out_dim]`` (our choice; the pooled-
        bottleneck authors use TabNet's decision steps as a few tabular tokens)."""
        if x.dim() != 2:
            raise ValueError(f"TabularMLP expects [B, F] features, got shape {tuple(x.shape)}")
        h = self.body(x).unsqueeze(1)
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return h[:, 0]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))
