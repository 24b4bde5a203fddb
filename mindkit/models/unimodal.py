"""A unimodal network (a teacher) and a frozen ensemble of them."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, ModalitySpec
from mindkit.encoders import build_encoder
from mindkit.models.types import register_model_type


def to_probs(logits: Tensor, task: str, T: float = 1.0) -> Tensor:
    """Tempered probabilities: softmax over classes (multiclass) or per-label sigmoid."""
    if task == "multiclass":
        return torch.softmax(logits / T, dim=-1)
    return torch.sigmoid(logits / T)


def combine_probs(member_logits: Tensor, task: str, T: float = 1.0,
                  weights: Tensor | None = None) -> Tensor:
    """Ensemble target: the (weighted) mean of the members' tempered probabilities.

    ``member_logits`` is ``[M, B, C]``; ``weights`` (``[M]``, need not sum to one) default to
    uniform.
    """
    probs = to_probs(member_logits, task, T)
    if weights is None:
        return probs.mean(dim=0)
    w = torch.as_tensor(weights, dtype=probs.dtype, device=probs.device)
    if w.shape != (member_logits.shape[0],) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"ensemble weights must be {member_logits.shape[0]} non-negative "
                         f"numbers with a positive sum, got {w.tolist()}")
    return torch.einsum("m,mbc->bc", w / w.sum(), probs)


class UnimodalNet(nn.Module):
    """Encoder + linear head over one modality: a teacher, or a unimodal baseline."""

    def __init__(self, spec: ModalitySpec, num_outputs: int, size: str = "s",
                 arch: str | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.spec, self.size, self.arch = spec, size, arch
        self.modality = spec.name
        self.num_outputs = num_outputs
        self.encoder = build_encoder(spec, size, arch, dropout=0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_dim, num_outputs)
        self.config = {"type": "UnimodalNet", "spec": spec_to_dict(spec),
                       "num_outputs": num_outputs, "size": size, "arch": arch, "dropout": dropout}

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        self.spec.check_input(x, type(self).__name__)
        return self.head(self.drop(self.encoder(x, lengths)))

    def forward_batch(self, batch: Batch) -> Tensor:
        m = self.modality
        if m not in batch.inputs:
            raise KeyError(f"{type(self).__name__} was built for modality {m!r} but the batch "
                           f"holds {sorted(batch.inputs)}")
        return self(batch.inputs[m], batch.lengths.get(m))


class TeacherEnsemble(nn.Module):
    """Frozen unimodal members over one modality; always in eval mode, never trained.

    ``forward`` returns the members' logits ``[M, B, C]`` under ``torch.no_grad()``;
    :meth:`predict_proba` combines them (mean of probabilities, optionally weighted).
    """

    def __init__(self, members: Sequence[UnimodalNet], weights: Sequence[float] | None = None,
                 names: Sequence[str] | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("a TeacherEnsemble needs at least one member")
        mods = {m.modality for m in members}
        if len(mods) != 1:
            raise ValueError(f"ensemble members must share one modality, got {sorted(mods)}")
        self.modality = mods.pop()
        self.members = nn.ModuleList(members)
        self.names = list(names) if names else [f"{m.size}" for m in members]
        self.register_buffer(
            "weights", torch.ones(len(members)) if weights is None
            else torch.as_tensor(list(weights), dtype=torch.float32))
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "TeacherEnsemble":
        # teachers stay in eval mode whatever the caller asks (dropout and batch norm frozen)
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return torch.stack([m(x, lengths) for m in self.members])

    @torch.no_grad()
    def predict_proba(self, x: Tensor, lengths: Tensor | None = None, task: str = "multiclass",
                      T: float = 1.0) -> Tensor:
        return combine_probs(self(x, lengths), task, T, self.weights)


ENSEMBLE_WEIGHTINGS = ("uniform", "val_score")


def teacher_ensembles(teachers: dict[str, Sequence[UnimodalNet]],
                      scores: dict[str, Sequence[float]] | None = None,
                      weighting: str = "uniform", sizes: Sequence[str] | None = None
                      ) -> dict[str, TeacherEnsemble]:
    """One frozen :class:`TeacherEnsemble` per modality of ``teachers`` (in their order) from
    the members of ``sizes`` (all by default), weighted ``"uniform"`` or by ``"val_score"``
    (each member's validation score in ``scores``, same order, floored at 1e-6); members are
    named ``<modality>_<size>``."""
    if weighting not in ENSEMBLE_WEIGHTINGS:
        raise ValueError(f"unknown ensemble weighting {weighting!r}; use one of "
                         f"{ENSEMBLE_WEIGHTINGS}")
    if weighting == "val_score" and scores is None:
        raise ValueError("weighting='val_score' needs the teachers' validation scores")
    out = {}
    for m, nets in teachers.items():
        chosen = [i for i, n in enumerate(nets) if sizes is None or n.size in sizes]
        if not chosen:
            raise ValueError(f"no {m} teacher of sizes {list(sizes or [])}; have "
                             f"{[n.size for n in nets]}")
        w = ([max(1e-6, scores[m][i]) for i in chosen] if weighting == "val_score" else None)
        out[m] = TeacherEnsemble([nets[i] for i in chosen], w,
                                 names=[f"{m}_{nets[i].size}" for i in chosen])
    return out


def spec_to_dict(spec: ModalitySpec) -> dict:
    return {"name": spec.name, "kind": spec.kind, "shape": list(spec.shape),
            "variable_length": spec.variable_length, "description": spec.description,
            "vocab_size": spec.vocab_size}


def spec_from_dict(d: dict) -> ModalitySpec:
    return ModalitySpec(d["name"], d["kind"], tuple(d["shape"]), d.get("variable_length", False),
                        d.get("description", ""), d.get("vocab_size", 0))


@register_model_type("UnimodalNet")
def rebuild_unimodal(kw: dict) -> "UnimodalNet":
    return UnimodalNet(**{**kw, "spec": spec_from_dict(kw["spec"])})
