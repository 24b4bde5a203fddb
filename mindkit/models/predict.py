"""Batched inference over a whole split: teachers, ensembles, students, encoder features.

These live with the models (not in ``distill``) so that evaluation and distillation both use
them without depending on each other.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mindkit.data.base import Split, iterate_batches
from mindkit.models.student import StudentOutput
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, to_probs


@torch.no_grad()
def predict_unimodal(model: UnimodalNet | TeacherEnsemble, split: Split, task: str,
                     batch_size: int = 512) -> Tensor:
    """Probabilities ``[N, C]`` of a teacher (or an ensemble) on every row of ``split``.

    Every row must have the model's modality: pass ``split.only_modalities([m])``.
    """
    m = model.modality
    if not bool(split.present[m].all()):
        raise ValueError(f"split {split.name!r} has samples without {m!r}; select them first "
                         f"with split.only_modalities([{m!r}])")
    model.eval()
    if len(split) == 0:  # e.g. a test split where no sample has this modality
        n_out = model.members[0].num_outputs if isinstance(model, TeacherEnsemble) \
            else model.num_outputs
        return torch.zeros(0, n_out)
    out = []
    for b in iterate_batches(split, batch_size):
        x, lens = b.inputs[m], b.lengths.get(m)
        if isinstance(model, TeacherEnsemble):
            out.append(model.predict_proba(x, lens, task))
        else:
            out.append(to_probs(model(x, lens), task))
    return torch.cat(out)


@torch.no_grad()
def predict_student(student, split: Split, batch_size: int = 512) -> StudentOutput:
    """A student's per-head logits and masks over every row of ``split``."""
    student.eval()
    outs = [student.forward_batch(b) for b in iterate_batches(split, batch_size)]
    heads = outs[0].logits.keys()
    return StudentOutput({h: torch.cat([o.logits[h] for o in outs]) for h in heads},
                         {h: torch.cat([o.mask[h] for o in outs]) for h in heads})


@torch.no_grad()
def encoder_features(nets: dict[str, UnimodalNet], split: Split, batch_size: int = 512
                     ) -> dict[str, Tensor]:
    """Each network's encoder features on its modality's rows of ``split`` (NaN elsewhere)."""
    out = {}
    for m, net in nets.items():
        net.eval()
        idx = split.present[m].nonzero().flatten()
        full = torch.full((len(split), net.encoder.out_dim), float("nan"))
        for start in range(0, idx.numel(), batch_size):
            i = idx[start: start + batch_size]
            lens = split.lengths[m][i] if m in split.lengths else None
            full[i] = net.encoder(split.inputs[m][i], lens)
        out[m] = full
    return out
