"""Sequence / time-series encoders: GRU or LSTM, and a small Transformer.

Both take padded input ``[B, T, F]`` with optional true ``lengths [B]`` and return the mean of
the per-step outputs over the valid steps (masked mean pooling), so padding never leaks into
the features. ``tokens(x, lengths)`` gives the per-step outputs and the valid-step mask before
pooling (for token fusions); ``forward`` is ``pool(*tokens(x, lengths))``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def valid_mask(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``bool[B, T]``: True where a step is real (all steps when ``lengths`` is None)."""
    b, t = x.shape[0], x.shape[1]
    if lengths is None:
        return torch.ones(b, t, dtype=torch.bool, device=x.device)
    lengths = lengths.to(x.device)
    if (lengths < 1).any():
        raise ValueError("sequence lengths must be >= 1; an absent sequence must be marked absent")
    return torch.arange(t, device=x.device)[None, :] < lengths[:, None]


def masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    w = mask.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class RNNEncoder(nn.Module):
    """A GRU or LSTM over the steps, masked mean pooling of its outputs."""

    def __init__(self, in_features: int, hidden: int = 64, layers: int = 1, cell: str = "gru",
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}.get(cell)
        if rnn is None:
            raise ValueError(f"unknown RNN cell {cell!r}; use 'gru' or 'lstm'")
        self.rnn = rnn(in_features, hidden, num_layers=layers, batch_first=True,
                       bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden * (2 if bidirectional else 1)
        self.bidirectional = bidirectional

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-step outputs ``[B, T, out_dim]`` and the valid-step mask ``bool[B, T]``."""
        mask = valid_mask(x, lengths)
        if self.bidirectional and lengths is not None:
            # a reverse pass over padding would start from padded steps: pack instead
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            # forward-only: outputs at valid steps never see the padding that follows them
            h, _ = self.rnn(x)
        return h, mask

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return masked_mean(h, mask)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))


class TokenEncoder(nn.Module):
    """Token ids ``[B, T]`` (0 = padding) -> embeddings -> a sequence encoder -> features."""

    def __init__(self, vocab_size: int, embed_dim: int, body: nn.Module) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.body = body
        self.out_dim = body.out_dim

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The body's per-step outputs over the embedded ids, and its valid-step mask."""
        if x.dim() != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"TokenEncoder expects long token ids [B, T], got {x.dtype} "
                             f"{tuple(x.shape)}")
        if lengths is None:
            lengths = (x != 0).sum(1).clamp_min(1)
        return self.body.tokens(self.embed(x.long()), lengths)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return self.body.pool(h, mask)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))


class TransformerEncoder(nn.Module):
    """Linear input projection, learned positions, pre-norm Transformer layers, masked mean."""

    def __init__(self, in_features: int, d_model: int = 64, layers: int = 2, heads: int = 4,
                 max_len: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.out_dim = d_model
        self.max_len = max_len

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The normalised per-step outputs ``[B, T, d_model]`` and the valid-step mask."""
        if x.shape[1] > self.max_len:
            raise ValueError(f"sequence of {x.shape[1]} steps exceeds max_len={self.max_len}")
        mask = valid_mask(x, lengths)
        h = self.proj(x) + self.pos[:, : x.shape[1]]
        h = self.body(h, src_key_padding_mask=~mask)
        return self.norm(h), mask

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return masked_mean(h, mask)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))
