"""Sequence / time-series encoders: GRU or LSTM, and a small Transformer.

Both take padded input ``[B, T, F]`` with optional true ``lengths [B]`` and return the mean of
the per-step outputs over the valid steps (masked mean pooling), so padding never leaks into
the features. ``tokens(x, lengths)`` gives the per-step outputs and the valid-step mask before
pooling (for token fusions); ``forward`` is ``pool(*tokens(x, lengths))``.

**The recurrent encoder's fast path.** ``nn.GRU``'s training pass on CPU runs every time step as
a handful of tiny autograd operations, twice (forward and backward), over the whole padded
length; with AV-Digits' clips (6-92 frames, a median of 17, padded to 92) that was most of a
student's training step. :class:`RNNEncoder` (``impl="auto"``, the default) computes the same
outputs with less work:

- **it stops at the longest real sequence of the batch** (a forward-only recurrence's outputs at
  valid steps never see the padding that follows them, and everything after is masked out), and
  pads the outputs back to the input's length with zeros, so shapes, masks and every later
  operation are unchanged;
- **on CPU, a GRU trained with gradients runs as one autograd node** (:class:`GRUSequence`): the
  input projections of all steps in one matrix product, a loop of six small operations per step
  writing into preallocated buffers, and a hand-written backward that keeps only the
  hidden-state recursion (three operations per step) inside its loop and computes every weight
  gradient afterwards with one matrix product each. ``nn.GRU``'s autograd records about a
  dozen operations per step and replays them one by one backwards.

Inference (no gradient) runs ``nn.GRU``'s fused kernel over the trimmed batch; so do LSTMs,
GPUs (cuDNN) and autocast.

``impl="torch"`` is the earlier computation (``nn.GRU``/``nn.LSTM`` over the whole padded
input), kept for comparison and benchmarks (``benchmarks/train_throughput.py``). The weights are
those of ``self.rnn`` in every case (``rnn.weight_ih_l0``...), so checkpoints load either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

RNN_IMPLS = ("auto", "fast", "torch")


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


class GRUSequence(torch.autograd.Function):
    """One GRU layer over a time-major sequence, as one autograd node.

    ``apply(x [T, B, F], w_ih [3H, F], w_hh [3H, H], b_ih [3H], b_hh [3H]) -> h [T, B, H]``,
    from a zero initial state, with ``nn.GRU``'s equations and gate order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h            (computed as lerp(n, h, z))

    The forward keeps the gates; the backward's loop carries only ``dL/dh`` (per step: the
    gate gradients as one product with coefficients computed for all steps at once, and
    ``dL/dh_{t-1} = dL/dh_t * z + dgates @ W_hh``); the weight and input gradients are one
    matrix product each over all steps. First-order only (double backward raises).
    """

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
                ) -> Tensor:
        steps, b, f = x.shape
        hid = w_hh.shape[1]
        # input projections of every step at once: [T, B, 3H]
        gi = torch.addmm(b_ih, x.reshape(steps * b, f), w_ih.t()).view(steps, b, 3 * hid)
        hs = x.new_empty(steps, b, hid)
        rz = x.new_empty(steps, b, 2 * hid)
        n = x.new_empty(steps, b, hid)
        gh = x.new_empty(steps, b, 3 * hid)
        _gru_loop(gi, gh, rz, n, hs, w_hh, b_hh)
        ctx.x_shape = x.shape
        ctx.save_for_backward(x.reshape(steps * b, f), w_ih, w_hh, hs, rz, n, gh)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor):
        x2d, w_ih, w_hh, hs, rz, n, gh = ctx.saved_tensors
        steps, b, hid = hs.shape
        grad_h = grad_h.contiguous()
        r, z = rz[..., :hid], rz[..., hid:]
        h_prev = torch.cat([hs.new_zeros(1, b, hid), hs[:-1]])
        # d h'/d a_n (a_n the pre-activation of n): (1 - z)(1 - n^2)
        c_n = (1 - z) * (1 - n * n)
        # per step, dL/d gh = dL/dh' * coef, gate by gate (r, z, n)
        coef = torch.cat([c_n * gh[..., 2 * hid:] * r * (1 - r), (h_prev - n) * z * (1 - z),
                          c_n * r], -1)
        g = torch.empty_like(grad_h)  # dL/dh_t, all paths
        d_gh = torch.empty_like(coef)
        _gru_backward_loop(grad_h, coef, z, w_hh, g, d_gh)
        d_gi = torch.cat([d_gh[..., :2 * hid], g * c_n], -1).view(steps * b, 3 * hid)
        d_gh = d_gh.view(steps * b, 3 * hid)
        dx = (d_gi @ w_ih).view(ctx.x_shape) if ctx.needs_input_grad[0] else None
        dw_ih = (x2d.t() @ d_gi).t()  # this order: 2x faster than d_gi.t() @ x2d (few features)
        dw_hh = d_gh.t() @ h_prev.view(steps * b, hid)
        return dx, dw_ih, dw_hh, d_gi.sum(0), d_gh.sum(0)


def _gru_loop(gi: Tensor, gh: Tensor, rz: Tensor, n: Tensor, hs: Tensor, w_hh: Tensor,
              b_hh: Tensor) -> None:
    """The GRU recursion over preallocated time-major buffers (filled in place): per step one
    product for the three hidden projections, then the gates (see :class:`GRUSequence`)."""
    hid = hs.shape[2]
    w_t = w_hh.t()
    gi_rz, gi_n = gi[..., :2 * hid].unbind(0), gi[..., 2 * hid:].unbind(0)
    gh_l, gh_rz, gh_n = gh.unbind(0), gh[..., :2 * hid].unbind(0), gh[..., 2 * hid:].unbind(0)
    rz_l, r_l, z_l = rz.unbind(0), rz[..., :hid].unbind(0), rz[..., hid:].unbind(0)
    n_l, hs_l = n.unbind(0), hs.unbind(0)
    h = hs.new_zeros(hs.shape[1:])
    for t in range(hs.shape[0]):
        torch.addmm(b_hh, h, w_t, out=gh_l[t])
        torch.add(gi_rz[t], gh_rz[t], out=rz_l[t]).sigmoid_()
        torch.addcmul(gi_n[t], r_l[t], gh_n[t], out=n_l[t]).tanh_()
        h = torch.lerp(n_l[t], h, z_l[t], out=hs_l[t])


def _gru_backward_loop(grad_h: Tensor, coef: Tensor, z: Tensor, w_hh: Tensor, g: Tensor,
                       d_gh: Tensor) -> None:
    """The backward recursion of :class:`GRUSequence`, filling ``g`` (``dL/dh_t`` over all
    paths) and ``d_gh`` (``dL/d(W_hh h_{t-1} + b_hh)``) in place, last step first."""
    steps, b, hid = g.shape
    g_l, d_gh_l, z_l, out_l = g.unbind(0), d_gh.unbind(0), z.unbind(0), grad_h.unbind(0)
    g3_l = g.unsqueeze(2).unbind(0)
    coef3_l = coef.view(steps, b, 3, hid).unbind(0)
    d_gh3_l = d_gh.view(steps, b, 3, hid).unbind(0)
    g_l[-1].copy_(out_l[-1])
    for t in range(steps - 1, -1, -1):
        torch.mul(g3_l[t], coef3_l[t], out=d_gh3_l[t])
        if t:
            torch.addcmul(out_l[t - 1], g_l[t], z_l[t], out=g_l[t - 1]).addmm_(d_gh_l[t], w_hh)


class RNNEncoder(nn.Module):
    """A GRU or LSTM over the steps, masked mean pooling of its outputs.

    ``impl`` (module docstring): ``"auto"`` (default) trims each batch to its longest sequence
    and, on CPU, trains a GRU through :class:`GRUSequence`; ``"fast"`` uses
    :class:`GRUSequence` on any device; ``"torch"`` is ``nn.GRU``/``nn.LSTM`` over the whole
    padded input (the earlier computation). All give the same outputs up to float rounding.
    A bidirectional encoder packs the sequences (its reverse pass must start at each sequence's
    own end) whatever ``impl`` says; inter-layer dropout in training runs through ``self.rnn``
    untrimmed, so its random masks stay those of ``nn.GRU``.
    """

    def __init__(self, in_features: int, hidden: int = 64, layers: int = 1, cell: str = "gru",
                 bidirectional: bool = False, dropout: float = 0.0, impl: str = "auto") -> None:
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}.get(cell)
        if rnn is None:
            raise ValueError(f"unknown RNN cell {cell!r}; use 'gru' or 'lstm'")
        self.rnn = rnn(in_features, hidden, num_layers=layers, batch_first=True,
                       bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden * (2 if bidirectional else 1)
        self.bidirectional = bidirectional
        self.impl = impl

    @property
    def impl(self) -> str:
        return getattr(self, "_impl", "auto")  # encoders pickled before impl existed: auto

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in RNN_IMPLS:
            raise ValueError(f"unknown RNN impl {value!r}; use one of {RNN_IMPLS}")
        self._impl = value

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-step outputs ``[B, T, out_dim]`` and the valid-step mask ``bool[B, T]``."""
        mask = valid_mask(x, lengths)
        if self.bidirectional and lengths is not None:
            # a reverse pass over padding would start from padded steps: pack instead
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return h, mask
        if self.impl == "torch" or x.shape[0] == 0 or (
                self.training and self.rnn.dropout > 0):
            # forward-only: outputs at valid steps never see the padding that follows them
            h, _ = self.rnn(x)
            return h, mask
        steps = x.shape[1]
        used = steps if lengths is None else min(steps, int(lengths.max()))
        h = self._run(x[:, :used])
        if used < steps:  # the trimmed steps were padding: zeros, masked out like before
            h = F.pad(h, (0, 0, 0, steps - used))
        return h, mask

    def _run(self, x: Tensor) -> Tensor:
        """The recurrence over ``x [B, T, F]`` (no padding beyond the longest sequence)."""
        rnn = self.rnn
        fast = (isinstance(rnn, nn.GRU) and rnn.bias and not self.bidirectional
                and (self.impl == "fast" or x.device.type == "cpu")
                and torch.is_grad_enabled()
                and not torch.is_autocast_enabled(x.device.type)
                and (x.requires_grad or any(p.requires_grad for p in rnn.parameters())))
        if not fast:  # inference (fused kernels are fast there), LSTM, other devices, autocast
            return rnn(x)[0]
        h = x.transpose(0, 1)
        for layer in range(rnn.num_layers):
            h = GRUSequence.apply(h, getattr(rnn, f"weight_ih_l{layer}"),
                                  getattr(rnn, f"weight_hh_l{layer}"),
                                  getattr(rnn, f"bias_ih_l{layer}"),
                                  getattr(rnn, f"bias_hh_l{layer}"))
        return h.transpose(0, 1)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return masked_mean(h, mask)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))


def set_rnn_impl(module: nn.Module, impl: str) -> nn.Module:
    """Set ``impl`` on every :class:`RNNEncoder` inside ``module`` (``"torch"``: the earlier
    computation, for comparisons); returns ``module``."""
    if impl not in RNN_IMPLS:
        raise ValueError(f"unknown RNN impl {impl!r}; use one of {RNN_IMPLS}")
    for m in module.modules():
        if isinstance(m, RNNEncoder):
            m.impl = impl
    return module


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
