"""The fusion registry (``FUSIONS``, :func:`build_fusion`), the joint concatenation every other
concatenating fusion builds on, and the presence matrix the masking fusions share. The modules
that register the other fusions (:mod:`mindkit.fusion.modules`, :mod:`mindkit.fusion.bottleneck`)
import from here, and :mod:`mindkit.fusion` re-exports all of them, so no module of the package
imports the package's ``__init__`` (docs/architecture.md, "Layers")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mindkit.registry import Registry

FUSIONS: Registry[type[nn.Module]] = Registry("fusion")


MISSING_MODES = ("error", "zero", "learned")


@FUSIONS.register("joint")
class JointConcat(nn.Module):
    """Joint fusion: concatenate the features (sorted modality order), then a hidden layer.

    Trained end to end with the encoders. An absent modality is handled by ``missing``:

    - ``"error"`` (default): rows where a modality is absent raise, so the caller must route
      those samples elsewhere (the multi-head student sends them to the unimodal heads);
    - ``"zero"``: zeros replace the absent modality's features and the presence flags are
      appended so the model can tell (the classic single-head baseline);
    - ``"learned"``: a learned per-modality vector replaces the absent modality's features
      (it is trained only by rows where that modality is absent); presence flags are appended.

    The absent rows' features are never read (``torch.where``), so garbage there changes
    nothing and no gradient reaches them.
    """

    missing_modes = MISSING_MODES

    def __init__(self, dims: dict[str, int], hidden: int = 64, dropout: float = 0.1,
                 missing: str = "error") -> None:
        super().__init__()
        if missing not in MISSING_MODES:
            raise ValueError(f"unknown missing rule {missing!r}; use one of {MISSING_MODES}")
        self.names = sorted(dims)
        self.dims = {m: dims[m] for m in self.names}
        self.missing = missing
        flags = missing != "error"
        d_in = sum(dims.values()) + (len(dims) if flags else 0)
        if missing == "learned":
            self.missing_tokens = nn.ParameterDict(
                {m: nn.Parameter(torch.randn(dims[m]) * 0.02) for m in self.names})
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, feats: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        parts = []
        for m in self.names:
            f, p = feats[m], present[m].to(torch.bool)
            if self.missing == "error":
                if not bool(p.all()):
                    raise ValueError(
                        f"{type(self).__name__} got samples without modality {m!r}; pass only "
                        "complete samples, or build it with missing='zero' or "
                        "missing='learned'"
                    )
                parts.append(f)
                continue
            fill = (self.missing_tokens[m].to(f.dtype).expand_as(f) if self.missing == "learned"
                    else f.new_zeros(()))
            parts.append(torch.where(p.unsqueeze(-1), f, fill))
        if self.missing != "error":
            parts.append(torch.stack([present[m] for m in self.names], -1).to(parts[0].dtype))
        return self.body(torch.cat(parts, dim=-1))


def build_fusion(name: str, dims: dict[str, int], **kwargs) -> nn.Module:
    return FUSIONS.get(name)(dims, **kwargs)


def presence_matrix(present: dict[str, Tensor], names: list[str]) -> Tensor:
    """``bool[B, M]`` in ``names`` order; raises if a row has no modality at all."""
    pres = torch.stack([present[m].to(torch.bool) for m in names], 1)
    empty = ~pres.any(1)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()[:10]
        raise ValueError(f"rows {rows} have no modality present (of {names}); drop them before "
                         "fusion, there is nothing to fuse")
    return pres
