"""Batched inference over a whole split: teachers, ensembles, students, encoder features.

These live with the models (not in ``distill``) so that evaluation and distillation both use
them without depending on each other.

**Devices.** Inference runs where the model is (:func:`mindkit.device.module_device`): each
batch is gathered from the split (on its own device) and moved to the model's device, in large
batches (:data:`BATCH_SIZE`) under ``torch.inference_mode()``. The outputs come back on the
**split's** device: a CPU split (evaluation) gets CPU tensors whatever device scored it, and a
training split moved to the GPU (a cache a method builds in ``prepare``) gets GPU tensors that its
batches' indices can gather from. The returned tensors are ordinary tensors (assembled outside
inference mode), so they may serve as targets of a loss that back-propagates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mindkit.data.base import Split, iterate_batches
from mindkit.device import module_device
from mindkit.models.student import StudentOutput
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, to_probs

BATCH_SIZE = 1024
"""Samples per inference batch (a whole small split is one batch)."""


def _batches(split: Split, batch_size: int, device: torch.device):
    return iterate_batches(split, batch_size, device=device)


def predict_unimodal(model: UnimodalNet | TeacherEnsemble, split: Split, task: str,
                     batch_size: int = BATCH_SIZE) -> Tensor:
    """Probabilities ``[N, C]`` of a teacher (or an ensemble) on every row of ``split``, on the
    split's device (module docstring).

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
        return torch.zeros(0, n_out, device=split.device)
    dev = module_device(model)
    out = []
    with torch.inference_mode():
        for b in _batches(split, batch_size, dev):
            x, lens = b.inputs[m], b.lengths.get(m)
            if isinstance(model, TeacherEnsemble):
                out.append(model.predict_proba(x, lens, task))
            else:
                out.append(to_probs(model(x, lens), task))
    return torch.cat(out).to(split.device)


def predict_student(student, split: Split, batch_size: int = BATCH_SIZE) -> StudentOutput:
    """A student's per-head logits and masks over every row of ``split``, on the split's device
    (module docstring)."""
    student.eval()
    dev = module_device(student)
    with torch.inference_mode():
        outs = [student.forward_batch(b) for b in _batches(split, batch_size, dev)]
    heads = outs[0].logits.keys()
    return StudentOutput(
        {h: torch.cat([o.logits[h] for o in outs]).to(split.device) for h in heads},
        {h: torch.cat([o.mask[h] for o in outs]).to(split.device) for h in heads})


def encoder_features(nets: dict[str, UnimodalNet], split: Split,
                     batch_size: int = BATCH_SIZE) -> dict[str, Tensor]:
    """Each network's encoder features on its modality's rows of ``split`` (NaN elsewhere), on
    the split's device (module docstring)."""
    out = {}
    for m, net in nets.items():
        net.eval()
        dev = module_device(net)
        idx = split.present[m].nonzero().flatten()
        parts = []
        with torch.inference_mode():
            for start in range(0, idx.numel(), batch_size):
                i = idx[start: start + batch_size]
                lens = split.lengths[m][i].to(dev) if m in split.lengths else None
                parts.append(net.encoder(split.inputs[m][i].to(dev), lens))
        full = torch.full((len(split), net.encoder.out_dim), float("nan"), device=split.device)
        if parts:
            full[idx] = torch.cat(parts).to(split.device, full.dtype)
        out[m] = full
    return out
