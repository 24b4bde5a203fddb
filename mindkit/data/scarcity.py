"""Train-time scarcity of paired data: keep a share of the paired training samples paired.

MIND's argument is that unimodal data and unimodal teachers help most when paired samples are
few. :func:`unpair` keeps a seeded share ``q`` of the training samples that have every modality
paired and turns each of the others into one single-modality sample per modality (same label,
same id, the same input values), so no item is lost: the student sees the same images and clips,
only fewer of them together. Samples with some but not all modalities are kept as they are.
Validation and test splits are never changed, and teachers (trained on every sample of their
modality) are the same at every ``q``.
"""

from __future__ import annotations

import math

import torch

from mindkit.common import check_share
from mindkit.data.base import MultimodalDataset, Split


def unpair(split: Split, keep_share: float, seed: int = 0) -> Split:
    """``split`` with only ``floor(keep_share * n_paired + 0.5)`` of its paired samples (drawn
    with ``seed``) left paired; each other paired sample becomes one sample per modality, with
    the other modalities absent (zero values; lengths 1 for variable-length ones). Rows: the
    untouched samples in their order, then the single-modality copies, modality by modality."""
    keep_share = check_share("keep_share", keep_share)
    mods = split.modalities
    pres = torch.stack([split.present[m] for m in mods], 1)
    paired = pres.all(1).nonzero().flatten()
    gen = torch.Generator().manual_seed(int(seed))
    order = paired[torch.randperm(paired.numel(), generator=gen)]
    n_keep = int(math.floor(keep_share * paired.numel() + 0.5))
    broken = order[n_keep:].sort().values
    stay = torch.ones(len(split), dtype=torch.bool)
    stay[broken] = False
    parts = [split.subset(stay)]
    for m in mods:
        part = split.subset(broken)
        present = {k: (torch.ones_like(v) if k == m else torch.zeros_like(v))
                   for k, v in part.present.items()}
        inputs = {k: (v if k == m else torch.zeros_like(v)) for k, v in part.inputs.items()}
        lengths = {k: (v if k == m else torch.ones_like(v)) for k, v in part.lengths.items()}
        items = {k: (v if k == m else torch.full_like(v, -1)) for k, v in part.item_ids.items()}
        parts.append(Split(inputs, present, part.y, part.ids, lengths, split.name, items))
    return Split(
        {m: torch.cat([p.inputs[m] for p in parts]) for m in mods},
        {m: torch.cat([p.present[m] for p in parts]) for m in mods},
        torch.cat([p.y for p in parts]),
        torch.cat([p.ids for p in parts]),
        {m: torch.cat([p.lengths[m] for p in parts]) for m in split.lengths},
        split.name,
        {m: torch.cat([p.item_ids[m] for p in parts]) for m in split.item_ids},
    )


def with_paired_share(ds: MultimodalDataset, share: float, seed: int = 0) -> MultimodalDataset:
    """A copy of ``ds`` whose train split keeps ``share`` of its paired samples paired
    (:func:`unpair`); ``share == 1`` returns ``ds`` itself. The options record the share, so
    checkpoints trained on it are told apart from full-data ones."""
    if float(share) == 1.0:
        return ds
    splits = {**ds.splits, "train": unpair(ds["train"], share, seed)}
    return MultimodalDataset(
        ds.name, ds.task, ds.class_names, ds.modalities, splits, ds.synthetic, ds.description,
        {**ds.options, "paired_share": float(share), "paired_share_seed": int(seed)}, ds.card,
        ds.items)


def paired_count(split: Split) -> int:
    """Samples of ``split`` that have every modality."""
    return int(torch.stack([split.present[m] for m in split.modalities], 1).all(1).sum())


__all__ = ["paired_count", "unpair", "with_paired_share"]
