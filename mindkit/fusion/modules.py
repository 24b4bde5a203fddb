"""Early, late and cross-modal attention fusion, and the frozen-encoder helper for early fusion.

All follow the signature of :mod:`mindkit.fusion`: ``fusion(feats, present) -> [B, out_dim]``
with ``feats[m]: [B, D_m]`` and ``present[m]: bool[B]``, and each states how it treats an absent
modality. Absent rows' features are never read (they pass through ``torch.where``), so garbage
there changes nothing and no gradient reaches them. ``missing_modes`` lists the ``missing``
values a class accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mindkit.fusion.base import FUSIONS, JointConcat, presence_matrix


def _check_missing(cls: type, missing: str | None) -> None:
    if missing not in (None, *cls.missing_modes):
        raise ValueError(f"{cls.__name__} masks absent modalities out and takes no other "
                         f"missing rule (got {missing!r}); use missing='mask' or leave it out")


@FUSIONS.register("early")
class EarlyConcat(JointConcat):
    """Early fusion: concatenation of features from frozen, pre-trained unimodal encoders.

    The maths is that of ``joint`` (same ``missing`` rules: ``"error"``, ``"zero"``,
    ``"learned"``); what makes it early is the encoders: call :func:`freeze_encoders` on the
    model to load pre-trained teacher encoders into it and freeze them, so only this module and
    the heads are trained.
    """


class FrozenEncoder(nn.Module):
    """A pre-trained encoder that stays frozen: no parameter requires grad and ``train()`` is
    a no-op, so it is in eval mode (dropout and batch-norm statistics fixed) whatever its parent
    does. Gradients still flow to the *inputs* (attribution methods need that).

    Its ``state_dict`` keys are those of the wrapped encoder (no ``inner.`` prefix), so a
    checkpoint loads into a model built with a plain encoder and vice versa.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.inner = encoder
        self.out_dim = encoder.out_dim
        for p in self.inner.parameters():
            p.requires_grad_(False)
        super().train(False)
        self._register_state_dict_hook(_strip_inner)
        self._register_load_state_dict_pre_hook(_add_inner)

    def train(self, mode: bool = True) -> FrozenEncoder:
        return super().train(False)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.inner(x, lengths)

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.inner.tokens(x, lengths)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        return self.inner.pool(h, mask)


def _strip_inner(module, state_dict, prefix, local_metadata):
    head = prefix + "inner."
    for k in [k for k in state_dict if k.startswith(head)]:
        state_dict[prefix + k[len(head):]] = state_dict.pop(k)
    return state_dict


def _add_inner(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
               error_msgs):
    head = prefix + "inner."
    for k in [k for k in state_dict if k.startswith(prefix) and not k.startswith(head)]:
        state_dict[head + k[len(prefix):]] = state_dict.pop(k)


def _source_state(m: str, src) -> dict[str, Tensor]:
    if isinstance(src, Mapping):
        return dict(src)
    if hasattr(src, "members"):
        raise TypeError(f"modality {m!r}: got an ensemble; pass one of its members "
                        "(e.g. ensemble.members[0]) whose preset matches the student's encoder")
    if isinstance(src, FrozenEncoder):
        return src.inner.state_dict()
    if isinstance(getattr(src, "encoder", None), nn.Module):  # a UnimodalNet teacher
        return src.encoder.state_dict()
    if isinstance(src, nn.Module):  # an encoder itself
        return src.state_dict()
    raise TypeError(f"modality {m!r}: expected a UnimodalNet, an encoder or a state_dict, "
                    f"got {type(src).__name__}")


def freeze_encoders(model: nn.Module, sources: Mapping[str, object]) -> nn.Module:
    """Load pre-trained unimodal encoders into ``model`` and freeze them (early fusion).

    ``model`` is a student with an ``encoders`` ``ModuleDict`` or that ``ModuleDict`` itself.
    ``sources`` maps modality -> a ``UnimodalNet`` teacher (its ``encoder`` is copied), an
    encoder module, or an encoder ``state_dict``; the encoder must have the same preset/arch as
    the student's. Each ``encoders[m]`` named in ``sources`` is replaced by a
    :class:`FrozenEncoder` (eval mode for good, no gradient). Returns ``model``.
    """
    encoders = model if isinstance(model, nn.ModuleDict) else getattr(model, "encoders", None)
    if not isinstance(encoders, nn.ModuleDict):
        raise TypeError("freeze_encoders needs a model with an `encoders` ModuleDict or the "
                        f"ModuleDict itself, got {type(model).__name__}")
    unknown = sorted(set(sources) - set(encoders.keys()))
    if unknown:
        raise KeyError(f"no encoder for modalities {unknown}; the model has "
                       f"{sorted(encoders.keys())}")
    for m, src in sources.items():
        enc = encoders[m]
        if isinstance(enc, FrozenEncoder):
            enc = enc.inner
        state = _source_state(m, src)
        own = enc.state_dict()
        extra, lacking = sorted(set(state) - set(own)), sorted(set(own) - set(state))
        shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                  if k in state and state[k].shape != v.shape]
        if extra or lacking or shapes:
            detail = "; ".join(filter(None, [
                f"unexpected keys {extra[:5]}" if extra else "",
                f"missing keys {lacking[:5]}" if lacking else "",
                f"shape mismatch {shapes[:5]} (teacher vs student)" if shapes else "",
            ]))
            raise ValueError(
                f"modality {m!r}: the pre-trained encoder does not fit the student's "
                f"{type(enc).__name__} ({detail}); build the student with the same size preset "
                "and arch as the teacher (e.g. MultiHeadStudent(size=teacher.size, "
                "archs={m: teacher.arch}))")
        enc.load_state_dict(state)
        encoders[m] = FrozenEncoder(enc)
    cfg = getattr(model, "config", None)
    if isinstance(cfg, dict):  # a reloaded checkpoint freezes the same encoders again
        cfg["frozen_encoders"] = sorted(set(cfg.get("frozen_encoders", [])) | set(sources))
    return model


@FUSIONS.register("late")
class LateFusion(nn.Module):
    """Late fusion: one linear head per modality, combined over the *present* modalities only.

    It returns logits (``produces_logits = True``, ``out_dim = num_outputs``), so a model using
    it must not put another head on top. ``mode="mean"``: the average of the present
    modalities' logits; ``mode="learned"``: a weighted sum with ``softmax(w)`` renormalised over
    the present modalities. An absent modality's head output is excluded (weight 0); a row
    with no modality raises.
    """

    produces_logits = True
    missing_modes = ("mask",)
    MODES = ("mean", "learned")

    def __init__(self, dims: dict[str, int], hidden: int = 64, dropout: float = 0.1,
                 num_outputs: int | None = None, mode: str = "mean",
                 missing: str | None = None) -> None:
        super().__init__()
        if num_outputs is None:
            raise ValueError("late fusion combines per-modality logits: pass num_outputs "
                             "(e.g. fusion_kwargs={'num_outputs': C})")
        if mode not in self.MODES:
            raise ValueError(f"unknown late-fusion mode {mode!r}; use one of {self.MODES}")
        _check_missing(type(self), missing)
        self.names = sorted(dims)
        self.mode = mode
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({m: nn.Linear(dims[m], num_outputs) for m in self.names})
        if mode == "learned":
            self.weight_logits = nn.Parameter(torch.zeros(len(self.names)))
        self.out_dim = num_outputs

    def modality_weights(self, present: dict[str, Tensor]) -> Tensor:
        """``[B, M]`` weights per row (sorted modality order), zero for absent modalities."""
        pres = presence_matrix(present, self.names)
        if self.mode == "mean":
            w = pres.float()
            return w / w.sum(1, keepdim=True)
        logits = self.weight_logits.unsqueeze(0).expand(pres.shape[0], -1)
        return torch.softmax(logits.masked_fill(~pres, float("-inf")), 1)

    def forward(self, feats: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        w = self.modality_weights(present)
        out = 0
        for i, m in enumerate(self.names):
            p = present[m].to(torch.bool).unsqueeze(-1)
            f = torch.where(p, feats[m], feats[m].new_zeros(()))
            logit = torch.where(p, self.heads[m](self.drop(f)), 0.0)
            out = out + w[:, i:i + 1].to(logit.dtype) * logit
        return out


@FUSIONS.register("attention")
class AttentionFusion(nn.Module):
    """Cross-modal attention over per-modality tokens.

    Each modality's vector is mapped to ``n_tokens`` tokens of width ``hidden`` (a linear map
    ``D_m -> n_tokens * hidden``) plus a learned modality embedding; the tokens of all
    modalities go through ``layers`` Transformer encoder layers, then are mean-pooled over the
    present tokens (``out_dim = hidden``). An absent modality's tokens are masked as keys
    (key-padding mask) and left out of the pooling, so they affect nothing; a row with no
    modality present raises.
    """

    produces_logits = False
    missing_modes = ("mask",)

    def __init__(self, dims: dict[str, int], hidden: int = 64, dropout: float = 0.1,
                 n_tokens: int = 2, layers: int = 1, heads: int = 4, ff_mult: int = 2,
                 missing: str | None = None) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
        _check_missing(type(self), missing)
        self.names = sorted(dims)
        self.n_tokens, self.hidden = n_tokens, hidden
        self.proj = nn.ModuleDict(
            {m: nn.Linear(dims[m], n_tokens * hidden) for m in self.names})
        self.modality_embed = nn.Parameter(torch.randn(len(self.names), hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(hidden, heads, ff_mult * hidden, dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = hidden

    def forward(self, feats: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        pres = presence_matrix(present, self.names)  # [B, M]
        b = pres.shape[0]
        tokens = []
        for i, m in enumerate(self.names):
            f = torch.where(pres[:, i:i + 1], feats[m], feats[m].new_zeros(()))
            t = self.proj[m](f).view(b, self.n_tokens, self.hidden)
            tokens.append(t + self.modality_embed[i])
        x = torch.cat(tokens, 1)  # [B, M * n_tokens, hidden]
        keep = pres.repeat_interleave(self.n_tokens, 1)  # [B, M * n_tokens]
        x = self.norm(self.encoder(x, src_key_padding_mask=~keep))
        x = torch.where(keep.unsqueeze(-1), x, 0.0)
        return x.sum(1) / keep.sum(1, keepdim=True).to(x.dtype)


__all__ = ["AttentionFusion", "EarlyConcat", "FrozenEncoder", "LateFusion", "freeze_encoders"]
