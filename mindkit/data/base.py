"""The data contract shared by every mindkit dataset (docs/data.md).

A dataset is held in memory as one :class:`Split` per partition (``train``, ``val``, ``test``).
A split stores, for every modality, one padded tensor over all its samples, a per-sample
presence mask, optional per-sample lengths (variable-length sequences), the targets and ids,
and which underlying item each sample uses per modality (``item_ids``). Absent entries of a
modality tensor hold zeros *and* are marked absent in ``present``: models must consult
``present`` (the multi-head student never feeds an absent modality to its encoder).

:func:`validate_split` checks a split against its modality specs and task (shapes, dtypes,
lengths, finite values on present rows, at least one modality per sample, targets); every
:class:`MultimodalDataset` runs it on its splits when built, and
:meth:`MultimodalDataset.validate` / :func:`validate_for_model` run it again where the data is
used (training, scoring, explaining), since tensors can change after the build.
:meth:`ModalitySpec.check_input` is the cheap shape check models run on their inputs.

Batches are cut from a split by index gathering (:meth:`Split.batch`, :func:`iterate_batches`),
which is much cheaper than a per-sample ``DataLoader`` for data that fits in memory.

This module holds :class:`MultimodalDataset`; the other parts live in their own modules and are
all importable from here too: :mod:`mindkit.data.modality` (:class:`ModalitySpec`),
:mod:`mindkit.data.containers` (:class:`Split`, :class:`Batch`, :func:`iterate_batches`) and
:mod:`mindkit.data.validation` (:func:`validate_split`, :func:`validate_for_model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mindkit.atomic import write_text
from mindkit.common import TASKS
from mindkit.data.containers import Batch, Split, iterate_batches
from mindkit.data.modality import LAYOUTS, MODALITY_KINDS, TIME_KINDS, ModalitySpec
from mindkit.data.validation import model_contract, validate_for_model, validate_split

__all__ = ["LAYOUTS", "MODALITY_KINDS", "TASKS", "TIME_KINDS", "Batch", "ModalitySpec",
           "MultimodalDataset", "Split", "iterate_batches", "model_contract",
           "validate_for_model", "validate_split"]


@dataclass
class MultimodalDataset:
    """A dataset: metadata plus its fixed splits.

    ``task`` is one of :data:`TASKS`; ``class_names`` names the classes (multiclass) or labels
    (binary: one name; multilabel: one per label). ``synthetic`` marks generated data; every
    figure and table built from it must say so (:attr:`display_name` does).

    Building one checks every split against the modality specs and the task
    (:func:`validate_split`), so a dataset that breaks the contract fails when it is built, with
    a message naming the split and modality, rather than deep inside a training run.
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
            validate_split(split, self.modalities, self.task, self.num_outputs, name=sname,
                           dataset=self.name)

    def validate(self, splits: str | list[str] | tuple[str, ...] | None = None,
                 where: str = "") -> None:
        """Re-run :func:`validate_split` on ``splits`` (one name, several, or all by default).

        Building a dataset checks its splits, but the tensors can change afterwards (a user
        sets ``ds["test"].y``, writes a NaN into an input): run this before trusting them
        again. ``where`` (e.g. ``"before training"``) prefixes the message, which names the
        dataset, split, modality (or ``y``), what was found and the first rows."""
        names = list(self.splits) if splits is None else (
            [splits] if isinstance(splits, str) else list(splits))
        for sname in names:
            try:
                validate_split(self[sname], self.modalities, self.task, self.num_outputs,
                               name=sname, dataset=self.name)
            except ValueError as err:
                if not where:
                    raise
                raise ValueError(f"{where}: {err}") from None

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
        for quick runs and tests. Modality availability keeps its proportions on average.
        :attr:`items` lists only the items the kept samples use (:meth:`kept_items`), so the
        manifest (:meth:`save_splits`) says exactly what a quick run trained and tested on."""
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
            self.kept_items(splits))

    def kept_items(self, splits: dict[str, Split]) -> dict[str, dict[str, list[int]]]:
        """:attr:`items` restricted to what the samples of ``splits`` (a subset of this
        dataset's, e.g. fewer samples per split) use, in the listed order.

        A split that is this dataset's own keeps its list; for another, each listed modality's
        items are those in the split's :attr:`Split.item_ids`; a split left out lists none. A
        cut-down split without ``item_ids`` for a listed modality is refused (its samples
        cannot be mapped to items, and listing every item would claim data the run never
        saw)."""
        out: dict[str, dict[str, list[int]]] = {}
        for sname, mods in self.items.items():
            split = splits.get(sname)
            if split is None:
                continue  # a split left out uses no item
            if split is self.splits.get(sname):
                out[sname] = mods
                continue
            kept = {}
            for m, listed in mods.items():
                try:
                    used = split.used_items(m)
                except KeyError as err:
                    raise ValueError(f"dataset {self.name!r}: cannot list the items of a "
                                     f"reduced split: {err.args[0]}") from None
                kept[m] = [i for i in listed if int(i) in used]
            out[sname] = kept
        return out

    def save_splits(self, path) -> None:
        """Write the split manifest (item ids per split and modality) as JSON."""
        import json

        payload = {"dataset": self.name, "options": self.options, "items": self.items}
        write_text(path, json.dumps(payload, indent=1, default=str))

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
