"""Fusion modules: combine per-modality features into one vector.

Every fusion module has the signature ``fusion(feats, present) -> Tensor[B, out_dim]`` where
``feats`` maps modality name -> ``[B, D_m]`` features and ``present`` maps name -> ``bool[B]``,
and exposes ``out_dim``. Each module states how it treats an absent modality.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mindkit.registry import Registry

FUSIONS: Registry[type[nn.Module]] = Registry("fusion")


@FUSIONS.register("joint")
class JointConcat(nn.Module):
    """Joint fusion: concatenate the features (sorted modality order), then a hidden layer.

    It needs every modality: rows where one is absent raise, so the caller must route those
    samples elsewhere (the multi-head student sends them to the unimodal heads). Use
    ``zero_fill=True`` for the classic single-head baseline, which writes zeros for an absent
    modality's features and appends the presence flags so the model can tell.
    """

    def __init__(self, dims: dict[str, int], hidden: int = 64, dropout: float = 0.1,
                 zero_fill: bool = False) -> None:
        super().__init__()
        self.names = sorted(dims)
        self.zero_fill = zero_fill
        d_in = sum(dims.values()) + (len(dims) if zero_fill else 0)
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, feats: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        parts = []
        for m in self.names:
            p = present[m]
            if self.zero_fill:
                parts.append(feats[m] * p.unsqueeze(-1).to(feats[m].dtype))
            elif not bool(p.all()):
                raise ValueError(
                    f"joint fusion got samples without modality {m!r}; pass only complete "
                    "samples, or build it with zero_fill=True"
                )
            else:
                parts.append(feats[m])
        if self.zero_fill:
            parts.append(torch.stack([present[m] for m in self.names], -1).to(parts[0].dtype))
        return self.body(torch.cat(parts, dim=-1))


def build_fusion(name: str, dims: dict[str, int], **kwargs) -> nn.Module:
    return FUSIONS.get(name)(dims, **kwargs)


__all__ = ["FUSIONS", "JointConcat", "build_fusion"]
