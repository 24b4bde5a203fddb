"""Pooled-bottleneck attention fusion (the second seed method's fusion), registered as
``"bottleneck"``.

It follows the authors' public code (summarised in docs/methods.md) and names where it
departs:

- each modality's encoder gives a token sequence (``encoder.tokens``: a CNN's last feature map,
  a recurrent or Transformer encoder's steps, a tabular MLP's vector as one token), which is
  **pooled to at most** ``pool_len`` tokens (contiguous, equal-share bins over the valid steps;
  shorter sequences keep their own steps; the authors pool image maps to 7x7 and cap text at
  300 tokens), projected to one ``width`` and given **learned positional embeddings**;
- **one pre-norm Transformer stream per modality** (``depth`` layers, ``heads`` heads), each
  prefixed with its own ``n_bottleneck`` learnable **bottleneck tokens** (default 10, as the
  authors' code);
- after every layer the streams' bottleneck tokens are **pooled** by a weighted mean,
  ``sum_m w_m b_m / sum_m w_m``, with ``w`` learned (``pooling="weighted"``, initialised at 1)
  or frozen at 1 (``"mean"``), and written back into every stream;
- **a missing modality** (``present[m]`` False for a row) runs no stream for that row. With
  ``absent="exclude"`` (our default) it takes no part in the pooling: the weights are
  renormalised over the modalities the row has. ``absent="include"`` is the authors' code: the
  missing stream's *initial* bottleneck tokens (the learned parameters, never updated) still
  enter the pooled mean with their weight;
- the output is the **first bottleneck token** after the last layer (through a final
  LayerNorm: our addition, since pre-norm layers leave their output unnormalised), ``[B, width]``;
  a head on top gives the prediction. The whole pooled bottleneck ``[B, n_bottleneck, width]``
  of the last call is kept in ``last_bottleneck`` (bottleneck-token feature KD reads it).

An absent modality's tokens are never read: its rows are left out of its stream, so changing
them changes nothing and no gradient reaches them. Every row needs at least one modality.

**Speed** (``impl``, not part of the model: the parameters and ``state_dict`` are the same).
``impl="fast"`` (default) runs each stream layer through :func:`encoder_layer`, the same
computation as ``nn.TransformerEncoderLayer`` (pre-norm, ReLU) with the layer's own parameters,
without its per-call mask conversions and checks, and with the training path's attention in
evaluation too (the layer's fused evaluation path spent most of its time in a slow masked
softmax); it builds each stream's attention mask and the pooling denominator once per call
instead of once per layer, and skips row gathers for a modality every row has. Dropout draws
the same random masks in the same order as before, so with one seed both give the same
outputs up to float rounding in training too. ``impl="torch"`` is the earlier code path.

It plugs into both students (``MultiHeadStudent(..., fusion="bottleneck")`` as MIND's
multimodal head; ``SingleHeadStudent(..., fusion="bottleneck")`` as the paper's single
prediction that serves every availability pattern). Students see ``takes_tokens`` and pass
``{m: (tokens [B, L, D_m], mask bool[B, L])}`` instead of pooled features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mindkit.fusion.base import FUSIONS, presence_matrix

POOLINGS = ("weighted", "mean")
ABSENT_RULES = ("exclude", "include")
IMPLS = ("fast", "torch")


def pool_tokens(h: Tensor, mask: Tensor, pool_len: int) -> tuple[Tensor, Tensor]:
    """Pool each row's valid tokens into at most ``pool_len`` contiguous bins of (nearly) equal
    share: a row with ``n`` valid steps gets ``P = min(n, pool_len)`` bins, bin ``i`` averaging
    steps ``floor(i n / P)`` to ``ceil((i + 1) n / P) - 1``; rows with no more than ``pool_len``
    steps keep their own steps. Valid steps must come first (padding at the end). Returns
    ``(pooled [B, pool_len', D], mask bool[B, pool_len'])`` with ``pool_len' = min(L,
    pool_len)``; bins past a row's ``P`` are masked out."""
    if pool_len < 1:
        raise ValueError(f"pool_len must be at least 1, got {pool_len}")
    b, length, _ = h.shape
    if length <= pool_len:
        return h, mask
    n = mask.sum(1).to(h.dtype)  # valid steps per row
    p = torch.clamp(n, max=pool_len)
    i = torch.arange(pool_len, device=h.device, dtype=h.dtype)[None, :]  # [1, P]
    p_safe = p.clamp_min(1)[:, None]
    start = torch.floor(i * n[:, None] / p_safe)
    end = torch.ceil((i + 1) * n[:, None] / p_safe)
    t = torch.arange(length, device=h.device, dtype=h.dtype)[None, None, :]  # [1, 1, L]
    w = ((t >= start[..., None]) & (t < end[..., None])).to(h.dtype)  # [B, P, L]
    valid = i < p[:, None]
    w = w * valid[..., None].to(h.dtype)
    pooled = torch.bmm(w, h) / w.sum(-1, keepdim=True).clamp_min(1.0)
    return pooled, valid


@FUSIONS.register("bottleneck")
class BottleneckFusion(nn.Module):
    """Pooled attention bottleneck fusion (module docstring). ``dims`` maps modality -> token
    width of its encoder; ``hidden`` is the fusion width (the authors use 512 with BERT and
    DenseNet encoders; the default 64 suits the kit's small encoders)."""

    takes_tokens = True
    missing_modes = ("mask",)

    def __init__(self, dims: dict[str, int], hidden: int = 64, dropout: float = 0.1,
                 n_bottleneck: int = 10, depth: int = 2, heads: int = 2, pool_len: int = 16,
                 pooling: str = "weighted", absent: str = "exclude", ff_mult: int = 2,
                 missing: str | None = None, impl: str = "fast") -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"unknown impl {impl!r}; use one of {IMPLS}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")
        if absent not in ABSENT_RULES:
            raise ValueError(f"unknown absent rule {absent!r}; use 'exclude' (a missing "
                             "modality takes no part in the pooling) or 'include' (the authors' "
                             "code: its initial bottleneck tokens do)")
        if missing not in (None, "mask"):
            raise ValueError(f"BottleneckFusion masks absent modalities out (got "
                             f"missing={missing!r}); leave missing out")
        if n_bottleneck < 1 or depth < 1:
            raise ValueError("n_bottleneck and depth must be at least 1")
        if hidden % heads:
            raise ValueError(f"the width ({hidden}) must be divisible by heads ({heads})")
        self.names = sorted(dims)
        self.n_bottleneck, self.depth, self.pool_len = n_bottleneck, depth, pool_len
        self.pooling, self.absent = pooling, absent
        self.proj = nn.ModuleDict({m: nn.Linear(dims[m], hidden) for m in self.names})
        self.pos = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, pool_len, hidden) * 0.02) for m in self.names})
        self.init_tokens = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(1, n_bottleneck, hidden) * 0.02) for m in self.names})
        self.layers = nn.ModuleDict({m: nn.ModuleList([
            nn.TransformerEncoderLayer(hidden, heads, ff_mult * hidden, dropout, batch_first=True,
                                       norm_first=True) for _ in range(depth)])
            for m in self.names})
        self.pool_weights = nn.Parameter(torch.ones(len(self.names)),
                                         requires_grad=pooling == "weighted")
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = hidden
        self.impl = impl
        self.last_bottleneck: Tensor | None = None

    def weights(self) -> dict[str, float]:
        """The pooling weights normalised to sum 1, per modality (``w_m / sum(w)``)."""
        w = self.pool_weights.detach()
        return {m: float(v) for m, v in zip(self.names, w / w.sum())}

    def modality_parameters(self, m: str) -> list[nn.Parameter]:
        """Modality ``m``'s own fusion parameters (projection, positions, initial bottleneck
        tokens, stream layers): what gradient modulation scales beside its encoder."""
        return [*self.proj[m].parameters(), self.pos[m], self.init_tokens[m],
                *self.layers[m].parameters()]

    def bottleneck(self, tokens: dict[str, tuple[Tensor, Tensor]],
                   present: dict[str, Tensor]) -> Tensor:
        """The pooled bottleneck tokens after the last layer, normalised: ``[B, n, width]``."""
        unknown = [m for m in self.names if m not in present]
        if unknown:
            raise KeyError(f"bottleneck fusion needs the presence of {self.names}; missing "
                           f"{unknown}")
        pres = presence_matrix(present, self.names)
        lacking = [m for j, m in enumerate(self.names) if bool(pres[:, j].any()) and
                   m not in tokens]
        if lacking:
            raise KeyError(f"modalities {lacking} are present in some rows but have no tokens")
        if self.impl == "torch":
            out = self._bottleneck_torch(tokens, pres)
        else:
            out = self._bottleneck_fast(tokens, pres)
        self.last_bottleneck = out
        return out

    def _stream_inputs(self, m: str, tokens: dict[str, tuple[Tensor, Tensor]], rows: Tensor,
                       every_row: bool) -> tuple[Tensor, Tensor]:
        """Modality ``m``'s tokens on its rows, pooled, projected and positioned, and their
        valid-token mask."""
        h, mask = tokens[m]
        if h.dim() != 3 or mask.shape != h.shape[:2]:
            raise ValueError(f"modality {m!r}: expected tokens [B, L, D] and mask [B, L], "
                             f"got {tuple(h.shape)} and {tuple(mask.shape)}")
        if not every_row:
            h, mask = h.index_select(0, rows), mask.index_select(0, rows)
        h, mask = pool_tokens(h, mask.bool(), self.pool_len)
        return self.proj[m](h) + self.pos[m][:, : h.shape[1]], mask

    def _bottleneck_fast(self, tokens: dict[str, tuple[Tensor, Tensor]], pres: Tensor
                         ) -> Tensor:
        """:meth:`bottleneck` (``impl="fast"``): the same sums as :meth:`_bottleneck_torch`."""
        b, nb = pres.shape[0], self.n_bottleneck
        w = self.pool_weights
        streams = {}  # m -> (rows or None for every row, tokens, additive attention mask)
        for j, m in enumerate(self.names):
            r = pres[:, j].nonzero().flatten()
            if not r.numel():
                continue
            every = r.numel() == b
            h, mask = self._stream_inputs(m, tokens, r, every)
            heads = self.layers[m][0].self_attn.num_heads
            # the layers' key-padding mask (bottleneck tokens always kept), additive as
            # nn.MultiheadAttention makes it: [rows, heads, 1, nb + L]
            keep = torch.cat([mask.new_ones(mask.shape[0], nb), mask], 1)
            bias = torch.zeros(keep.shape, dtype=h.dtype, device=h.device).masked_fill_(
                ~keep, float("-inf"))
            streams[m] = (None if every else r, h, bias[:, None, None, :].expand(
                -1, heads, 1, -1))
        # the pooling denominator, the same at every layer: the weights of each row's streams
        # (with absent="include", of every modality)
        if self.absent == "include":
            den = w.sum().expand(b)
        else:
            den = pres.to(w.dtype) @ w
        den = den[:, None, None]
        pooled = None
        for layer in range(self.depth):
            acc = None
            for j, m in enumerate(self.names):
                if m in streams:
                    r, h, bias = streams[m]
                    n_rows = h.shape[0]
                    if pooled is None:
                        bt = self.init_tokens[m].expand(n_rows, -1, -1)
                    else:
                        bt = pooled if r is None else pooled.index_select(0, r)
                    out = encoder_layer(self.layers[m][layer], torch.cat([bt, h], 1), bias)
                    streams[m] = (r, out[:, nb:], bias)
                    part = w[j] * out[:, :nb]
                    if r is None:
                        acc = part if acc is None else acc + part
                    else:
                        if acc is None:
                            acc = part.new_zeros(b, nb, part.shape[-1])
                        acc = acc.index_add(0, r, part)
                if self.absent == "include":  # the authors' code: initial tokens of the absent
                    gone = (~pres[:, j]).to(w.dtype)
                    term = gone[:, None, None] * w[j] * self.init_tokens[m]
                    acc = term if acc is None else acc + term
            pooled = acc / den
        return self.norm(pooled)

    def _bottleneck_torch(self, tokens: dict[str, tuple[Tensor, Tensor]], pres: Tensor
                          ) -> Tensor:
        """:meth:`bottleneck` as first written (``impl="torch"``), kept for comparisons."""
        b, nb = pres.shape[0], self.n_bottleneck
        streams, rows = {}, {}
        for j, m in enumerate(self.names):
            r = pres[:, j].nonzero().flatten()
            rows[m] = r
            if not r.numel():
                continue
            h, mask = tokens[m]
            if h.dim() != 3 or mask.shape != h.shape[:2]:
                raise ValueError(f"modality {m!r}: expected tokens [B, L, D] and mask [B, L], "
                                 f"got {tuple(h.shape)} and {tuple(mask.shape)}")
            h, mask = pool_tokens(h.index_select(0, r), mask.index_select(0, r).bool(),
                                  self.pool_len)
            streams[m] = (self.proj[m](h) + self.pos[m][:, : h.shape[1]], mask)
        w = self.pool_weights
        ref = next(iter(streams.values()))[0]
        pooled = None
        for layer in range(self.depth):
            acc = ref.new_zeros(b, nb, ref.shape[-1])
            den = ref.new_zeros(b)
            for j, m in enumerate(self.names):
                r = rows[m]
                if m in streams:
                    h, mask = streams[m]
                    bt = (self.init_tokens[m].expand(r.numel(), -1, -1) if pooled is None
                          else pooled.index_select(0, r))
                    keep = torch.zeros(r.numel(), nb, dtype=torch.bool, device=mask.device)
                    out = self.layers[m][layer](torch.cat([bt, h], 1),
                                                src_key_padding_mask=torch.cat([keep, ~mask], 1))
                    streams[m] = (out[:, nb:], mask)
                    acc = acc.index_add(0, r, w[j] * out[:, :nb])
                    den = den.index_add(0, r, w[j].expand(r.numel()))
                if self.absent == "include":  # the authors' code: initial tokens of the absent
                    gone = (~pres[:, j]).to(acc.dtype)
                    acc = acc + gone[:, None, None] * w[j] * self.init_tokens[m]
                    den = den + gone * w[j]
            pooled = acc / den[:, None, None]
        return self.norm(pooled)

    def forward(self, tokens: dict[str, tuple[Tensor, Tensor]],
                present: dict[str, Tensor]) -> Tensor:
        return self.bottleneck(tokens, present)[:, 0]


def encoder_layer(layer: nn.TransformerEncoderLayer, x: Tensor, attn_bias: Tensor) -> Tensor:
    """``layer(x, src_key_padding_mask=...)`` for a pre-norm, ReLU, batch-first
    ``nn.TransformerEncoderLayer``, with its own parameters, computed in the same order and
    memory layouts (so dropout draws the same masks from torch's generator): ``x [B, L, E]``,
    ``attn_bias`` the additive key-padding mask (0 kept, -inf masked) ``[B, heads, 1, L]``.
    The layer's evaluation fast path and its per-call mask checks are skipped; attention is
    computed as ``F.scaled_dot_product_attention``'s math path does it, in training and
    evaluation alike. Every key row must keep at least one key (a fully masked row would give
    NaN where torch's guard gives zeros)."""
    attn = layer.self_attn
    training = layer.training
    b, length, e = x.shape
    heads = attn.num_heads
    h = F.layer_norm(x, (e,), layer.norm1.weight, layer.norm1.bias, layer.norm1.eps)
    # time-major, as nn.MultiheadAttention computes it
    qkv = F.linear(h.transpose(0, 1), attn.in_proj_weight, attn.in_proj_bias)  # [L, B, 3E]
    q, k, v = qkv.view(length, b, 3, heads, e // heads).permute(2, 1, 3, 0, 4)
    # attention as F.scaled_dot_product_attention's math path computes it in training (softmax,
    # then dropout on the [B, heads, L, L] weights), without its guard for rows whose keys are
    # all masked (ours never are: bottleneck tokens are always kept)
    hd = e // heads
    scores = torch.baddbmm(attn_bias.reshape(b * heads, -1, length),
                           q.reshape(b * heads, length, hd),
                           k.reshape(b * heads, length, hd).transpose(1, 2), alpha=hd ** -0.5)
    weights = F.dropout(torch.softmax(scores, -1).view(b, heads, length, length),
                        attn.dropout, training)
    o = torch.matmul(weights, v)  # [B, heads, L, hd]
    o = F.linear(o.permute(2, 0, 1, 3).reshape(length * b, e), attn.out_proj.weight,
                 attn.out_proj.bias).view(length, b, e).transpose(0, 1)
    x = x + F.dropout(o, layer.dropout1.p, training)
    h = F.layer_norm(x, (e,), layer.norm2.weight, layer.norm2.bias, layer.norm2.eps)
    h = F.linear(F.dropout(F.relu(F.linear(h, layer.linear1.weight, layer.linear1.bias)),
                           layer.dropout.p, training), layer.linear2.weight, layer.linear2.bias)
    return x + F.dropout(h, layer.dropout2.p, training)


__all__ = ["ABSENT_RULES", "IMPLS", "POOLINGS", "BottleneckFusion", "encoder_layer",
           "pool_tokens"]
