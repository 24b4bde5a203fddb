"""The data contract shared by every mindkit dataset (DESIGN.md section 3).

A dataset is held in memory as one :class:`Split` per partition (``train``, ``val``, ``test``).
A split stores, for every modality, one padded tensor over all its samples, a per-sample
presence mask, optional per-sample lengths (variable-length sequences), the targets and ids.
Absent entries of a modality tensor hold zeros *and* are marked absent in ``present``: models
must consult ``present`` (the multi-head student never feeds an absent modality to its encoder).

Batches are cut from a split by index gathering (:meth:`Split.batch`, :func:`iterate_batches`),
which is much cheaper than a per-sample ``DataLoader`` for data that fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor

TASKS = ("binary", "multilabel", "multiclass")
MODALITY_KINDS = ("image", "sequence", "tabular", "timeseries", "tokens")


@dataclass(frozen=True)
class ModalitySpec:
    """What one modality looks like for a single sample.

    ``shape`` is the per-sample tensor shape: ``(C, H, W)`` for images, ``(max_len, features)``
    for sequences/time series (padded; true lengths in ``Split.lengths``), ``(features,)`` for
    tabular data, ``(max_len,)`` long token ids for ``tokens`` (id 0 is padding; ids run below
    ``vocab_size``). ``variable_length`` says whether ``Split.lengths`` holds this modality.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    variable_length: bool = False
    description: str = ""
    vocab_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODALITY_KINDS:
            raise ValueError(
                f"modality {self.name!r}: unknown kind {self.kind!r}; use one of {MODALITY_KINDS}"
            )
        if self.kind == "tokens" and self.vocab_size < 2:
            raise ValueError(f"modality {self.name!r}: a tokens modality needs vocab_size >= 2")

    @property
    def channels(self) -> int:
        """Input channels (images) or features per step (sequences) or features (tabular)."""
        if self.kind == "image":
            return self.shape[0]
        if self.kind == "tokens":
            return self.vocab_size
        return self.shape[-1]


@dataclass
class Batch:
    """One mini-batch: ``inputs``/``present``/``lengths`` keyed by modality name.

    ``y`` is a class index (multiclass, ``long[B]``) or float 0/1 of shape ``[B, C]``
    (binary and multilabel). ``idx`` holds the positions of these samples in their split, so
    cached per-sample quantities (teacher outputs) can be gathered with ``cache[batch.idx]``.
    """

    inputs: dict[str, Tensor]
    present: dict[str, Tensor]
    y: Tensor
    idx: Tensor
    lengths: dict[str, Tensor] = field(default_factory=dict)
    ids: Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def modalities(self) -> list[str]:
        return sorted(self.inputs)

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
        return Batch(
            inputs=move(self.inputs),
            present=move(self.present),
            y=self.y.to(device),
            idx=self.idx.to(device),
            lengths=move(self.lengths),
            ids=None if self.ids is None else self.ids.to(device),
        )


@dataclass
class Split:
    """All samples of one partition, as stacked tensors keyed by modality name."""

    inputs: dict[str, Tensor]
    present: dict[str, Tensor]
    y: Tensor
    ids: Tensor
    lengths: dict[str, Tensor] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        n = int(self.y.shape[0])
        if set(self.inputs) != set(self.present):
            raise ValueError(
                f"split {self.name!r}: inputs hold modalities {sorted(self.inputs)} but present "
                f"masks are given for {sorted(self.present)}; give one mask per modality"
            )
        for m in self.inputs:
            if self.inputs[m].shape[0] != n or self.present[m].shape[0] != n:
                raise ValueError(
                    f"split {self.name!r}: modality {m!r} has {self.inputs[m].shape[0]} rows and "
                    f"{self.present[m].shape[0]} mask entries but there are {n} targets"
                )
            if self.present[m].dtype != torch.bool:
                raise TypeError(f"split {self.name!r}: present[{m!r}] must be a bool tensor")
        for m, lens in self.lengths.items():
            if m not in self.inputs or lens.shape[0] != n:
                raise ValueError(f"split {self.name!r}: lengths[{m!r}] does not match the inputs")
        if self.ids.shape[0] != n:
            raise ValueError(f"split {self.name!r}: {self.ids.shape[0]} ids for {n} samples")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def modalities(self) -> list[str]:
        return sorted(self.inputs)

    def batch(self, idx: Tensor) -> Batch:
        """Gather the samples at positions ``idx`` into a :class:`Batch`."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Batch(
            inputs={m: x[idx] for m, x in self.inputs.items()},
            present={m: p[idx] for m, p in self.present.items()},
            y=self.y[idx],
            idx=idx,
            lengths={m: v[idx] for m, v in self.lengths.items()},
            ids=self.ids[idx],
        )

    def subset(self, mask_or_idx: Tensor, name: str | None = None) -> "Split":
        """A new split holding only the selected samples (bool mask or index tensor)."""
        sel = torch.as_tensor(mask_or_idx)
        idx = sel.nonzero().flatten() if sel.dtype == torch.bool else sel.long()
        b = self.batch(idx)
        return Split(b.inputs, b.present, b.y, b.ids, b.lengths, name or self.name)

    def only_modalities(self, names: list[str] | tuple[str, ...]) -> "Split":
        """Samples that have every modality in ``names``, keeping only those modalities."""
        missing = [m for m in names if m not in self.inputs]
        if missing:
            raise KeyError(
                f"split {self.name!r} has no modality {missing}; it has {self.modalities}")
        keep = torch.ones(len(self), dtype=torch.bool)
        for m in names:
            keep &= self.present[m]
        sub = self.subset(keep)
        return Split(
            {m: sub.inputs[m] for m in names},
            {m: sub.present[m] for m in names},
            sub.y,
            sub.ids,
            {m: v for m, v in sub.lengths.items() if m in names},
            self.name,
        )

    def groups(self) -> dict[str, Tensor]:
        """Boolean masks of sample groups by which modalities are present.

        ``all`` is every sample, ``paired`` those with every modality, and ``only_<m>`` those
        that have modality ``m`` alone (for two modalities: the single-modality samples).
        """
        mods = self.modalities
        pres = torch.stack([self.present[m] for m in mods], dim=1)
        out = {"all": torch.ones(len(self), dtype=torch.bool), "paired": pres.all(dim=1)}
        for j, m in enumerate(mods):
            only = pres[:, j] & (pres.sum(dim=1) == 1)
            out[f"only_{m}"] = only
        return out


def iterate_batches(
    split: Split,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Yield batches of ``split`` by index gathering (no per-sample Python work)."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield split.batch(order[start : start + batch_size])


@dataclass
class MultimodalDataset:
    """A dataset: metadata plus its fixed splits.

    ``task`` is one of :data:`TASKS`; ``class_names`` names the classes (multiclass) or labels
    (binary: one name; multilabel: one per label). ``synthetic`` marks generated data; every
    figure and table built from it must say so (:attr:`display_name` does).
    """

    name: str
    task: str
    class_names: list[str]
    modalities: dict[str, ModalitySpec]
    splits: dict[str, Split]
    synthetic: bool = False
    description: str = ""
    options: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    items: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """Underlying item ids per split and modality (e.g. ``items["test"]["image"]`` = the MNIST
    rows in the test split). Every item belongs to exactly one split; :meth:`save_splits` writes
    this manifest so a run records exactly which items it trained and tested on."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(
                f"dataset {self.name!r}: unknown task {self.task!r}; use one of {TASKS}")
        for sname, split in self.splits.items():
            if sorted(split.inputs) != sorted(self.modalities):
                raise ValueError(
                    f"dataset {self.name!r}: split {sname!r} holds {sorted(split.inputs)} but the "
                    f"dataset declares {sorted(self.modalities)}"
                )

    @property
    def num_outputs(self) -> int:
        """Width of a model's logit vector: classes (multiclass) or labels (binary: 1)."""
        return len(self.class_names)

    @property
    def modality_names(self) -> list[str]:
        return sorted(self.modalities)

    @property
    def display_name(self) -> str:
        return f"{self.name} (synthetic)" if self.synthetic else self.name

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no split {split!r}; it has {sorted(self.splits)}"
            ) from None

    def subsample(self, max_per_split: int, seed: int = 0) -> "MultimodalDataset":
        """A smaller copy (at most ``max_per_split`` samples per split, drawn with ``seed``),
        for quick runs and tests. Modality availability keeps its proportions on average."""
        if max_per_split < 1:
            raise ValueError(f"max_per_split must be at least 1, got {max_per_split}")
        gen = torch.Generator().manual_seed(seed)
        splits = {}
        for sname, split in self.splits.items():
            if len(split) <= max_per_split:
                splits[sname] = split
                continue
            idx = torch.randperm(len(split), generator=gen)[:max_per_split].sort().values
            splits[sname] = split.subset(idx)
        return MultimodalDataset(
            self.name, self.task, self.class_names, self.modalities, splits, self.synthetic,
            self.description, {**self.options, "max_per_split": max_per_split}, self.card,
            self.items)

    def save_splits(self, path) -> None:
        """Write the split manifest (item ids per split and modality) as JSON."""
        import json
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"dataset": self.name, "options": self.options, "items": self.items}
        Path(path).write_text(json.dumps(payload, indent=1, default=str))

    def check_disjoint(self) -> None:
        """Raise if any underlying item appears in more than one split."""
        seen: dict[tuple[str, int], str] = {}
        for sname, mods in self.items.items():
            for m, ids in mods.items():
                for i in ids:
                    prev = seen.setdefault((m, int(i)), sname)
                    if prev != sname:
                        raise ValueError(
                            f"dataset {self.name!r}: {m} item {i} is in both {prev!r} and "
                            f"{sname!r}; every item must belong to exactly one split"
                        )

    def summary(self) -> "list[dict]":
        """Tidy rows: per split, sample count and availability of each modality."""
        rows = []
        for sname, split in self.splits.items():
            groups = split.groups()
            row = {"dataset": self.display_name, "split": sname, "samples": len(split)}
            for m in self.modality_names:
                row[f"has_{m}"] = int(split.present[m].sum())
            for g, mask in groups.items():
                if g != "all":
                    row[g] = int(mask.sum())
            rows.append(row)
        return rows
