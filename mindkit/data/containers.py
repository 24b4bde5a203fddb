"""The tensors of a dataset: one :class:`Split` per partition, cut into batches
(:class:`Batch`).

A split stores, for every modality, one padded tensor over all its samples, a per-sample presence
mask, optional per-sample lengths, the targets and ids, and which underlying item each sample
uses per modality. Batches are cut from it by index gathering (:meth:`Split.batch`,
:func:`iterate_batches`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor


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

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """The batch on ``device`` (each tensor already there is kept as it is);
        ``non_blocking`` copies from pinned memory asynchronously."""
        def move(d: dict[str, Tensor]) -> dict[str, Tensor]:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in d.items()}

        return Batch(
            inputs=move(self.inputs),
            present=move(self.present),
            y=self.y.to(device, non_blocking=non_blocking),
            idx=self.idx.to(device, non_blocking=non_blocking),
            lengths=move(self.lengths),
            ids=None if self.ids is None else self.ids.to(device, non_blocking=non_blocking),
        )


@dataclass
class Split:
    """All samples of one partition, as stacked tensors keyed by modality name.

    ``item_ids`` (optional, per modality: ``long[N]``) names the underlying item each sample
    uses for that modality (an MNIST row, a clip, a patient, a stay, an image), ``-1`` where
    the sample has none. Every builder fills it; :meth:`subset` and :meth:`only_modalities`
    carry it, so a dataset cut down to fewer samples (:meth:`MultimodalDataset.subsample`) can
    list exactly the items its samples still use.
    """

    inputs: dict[str, Tensor]
    present: dict[str, Tensor]
    y: Tensor
    ids: Tensor
    lengths: dict[str, Tensor] = field(default_factory=dict)
    name: str = ""
    item_ids: dict[str, Tensor] = field(default_factory=dict)

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
        for m, it in self.item_ids.items():
            if m not in self.inputs or it.dim() != 1 or it.shape[0] != n \
                    or it.is_floating_point() or it.dtype == torch.bool:
                raise ValueError(
                    f"split {self.name!r}: item_ids[{m!r}] must be integer item ids of shape "
                    f"[{n}] for a modality of the split, got {it.dtype} {tuple(it.shape)}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def modalities(self) -> list[str]:
        return sorted(self.inputs)

    @property
    def device(self) -> torch.device:
        """The device the split's tensors are on (:meth:`to` keeps them on one)."""
        return self.y.device

    @property
    def nbytes(self) -> int:
        """Bytes of all the split's tensors (inputs, masks, lengths, targets, ids, item ids)."""
        return sum(t.numel() * t.element_size() for t in self._tensors())

    def _tensors(self) -> list[Tensor]:
        return [*self.inputs.values(), *self.present.values(), *self.lengths.values(), self.y,
                self.ids, *self.item_ids.values()]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Split":
        """The split with every tensor on ``device`` (this split itself when they all are
        already): move a split that fits in device memory there once, and its batches are
        gathered there (:meth:`batch`, :func:`iterate_batches`) with no copy per step."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if all(t.device == device for t in self._tensors()):
            return self

        def move(d: dict[str, Tensor]) -> dict[str, Tensor]:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in d.items()}

        return Split(move(self.inputs), move(self.present),
                     self.y.to(device, non_blocking=non_blocking),
                     self.ids.to(device, non_blocking=non_blocking), move(self.lengths),
                     self.name, move(self.item_ids))

    def batch(self, idx: Tensor, into_buffer: bool = False, pin_memory: bool = False) -> Batch:
        """Gather the samples at positions ``idx`` into a :class:`Batch`, on the split's device
        (``idx`` is moved there first). ``into_buffer`` gathers each tensor into a freshly
        allocated buffer (``index_select(out=)``), page-locked with ``pin_memory`` (a CPU split
        whose batches stream to a CUDA device), so the batch can be copied to the GPU
        asynchronously (``batch.to(device, non_blocking=True)``)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        if idx.device != self.y.device:
            idx = idx.to(self.y.device)
        if into_buffer:
            return self._batch_into(idx, pin_memory)
        if pin_memory:
            raise ValueError("pin_memory=True gathers into pinned buffers: pass into_buffer=True")
        return Batch(
            inputs={m: x[idx] for m, x in self.inputs.items()},
            present={m: p[idx] for m, p in self.present.items()},
            y=self.y[idx],
            idx=idx,
            lengths={m: v[idx] for m, v in self.lengths.items()},
            ids=self.ids[idx],
        )

    def _batch_into(self, idx: Tensor, pin_memory: bool) -> Batch:
        def take(x: Tensor) -> Tensor:
            return _gather_into(x, idx, pin_memory)

        return Batch(
            inputs={m: take(x) for m, x in self.inputs.items()},
            present={m: take(p) for m, p in self.present.items()},
            y=take(self.y),
            idx=idx,
            lengths={m: take(v) for m, v in self.lengths.items()},
            ids=take(self.ids),
        )

    def subset(self, mask_or_idx: Tensor, name: str | None = None) -> "Split":
        """A new split holding only the selected samples (bool mask or index tensor), on this
        split's device."""
        sel = torch.as_tensor(mask_or_idx)
        idx = sel.nonzero().flatten() if sel.dtype == torch.bool else sel.long()
        b = self.batch(idx)
        return Split(b.inputs, b.present, b.y, b.ids, b.lengths, name or self.name,
                     {m: v[b.idx.to(v.device)] for m, v in self.item_ids.items()})

    def only_modalities(self, names: list[str] | tuple[str, ...]) -> "Split":
        """Samples that have every modality in ``names``, keeping only those modalities."""
        missing = [m for m in names if m not in self.inputs]
        if missing:
            raise KeyError(
                f"split {self.name!r} has no modality {missing}; it has {self.modalities}")
        keep = torch.ones(len(self), dtype=torch.bool, device=self.device)
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
            {m: v for m, v in sub.item_ids.items() if m in names},
        )

    def used_items(self, modality: str) -> set[int]:
        """The item ids of ``modality`` that this split's samples use (from :attr:`item_ids`;
        a KeyError naming the fix when the split does not carry them)."""
        if modality not in self.item_ids:
            raise KeyError(
                f"split {self.name!r} carries no item_ids[{modality!r}], so which underlying "
                f"items its samples use is unknown; give Split(item_ids={{{modality!r}: "
                "long[N] ids, -1 where absent}) when building it")
        ids = self.item_ids[modality]
        return {int(i) for i in ids[ids >= 0].tolist()}

    def groups(self) -> dict[str, Tensor]:
        """Boolean masks of sample groups by which modalities are present.

        ``all`` is every sample, ``paired`` those with every modality, and ``only_<m>`` those
        that have modality ``m`` alone (for two modalities: the single-modality samples).
        """
        mods = self.modalities
        pres = torch.stack([self.present[m] for m in mods], dim=1)
        out = {"all": torch.ones(len(self), dtype=torch.bool, device=pres.device),
               "paired": pres.all(dim=1)}
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
    device: torch.device | str | None = None,
    stream: bool | None = None,
) -> Iterator[Batch]:
    """Yield batches of ``split`` by index gathering (no per-sample Python work).

    The order is drawn on the CPU from ``generator`` (the same draws on every device, so a seed
    gives the same batches everywhere). ``device`` (default: the split's) is where the batches
    are wanted. Without streaming, the order is moved once to the split's device and the batches
    are gathered there (a split moved to the GPU whole: no copy per step). ``stream=True`` (by
    default when ``device`` is not the split's: a split too large for GPU memory, kept in CPU
    memory) gathers each batch on the CPU, into pinned memory when ``device`` is CUDA, and
    copies it to ``device`` with ``non_blocking=True``.
    """
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    want = split.device if device is None else torch.device(device)
    if stream is None:
        stream = not (want.type == split.device.type
                      and want.index in (None, split.device.index))
    if not stream:
        order = order.to(split.device)
        for start in range(0, stop, batch_size):
            yield split.batch(order[start : start + batch_size])
        return
    if split.device.type != "cpu":
        split = split.to("cpu")
    pin = want.type == "cuda"
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield split.batch(idx, into_buffer=True, pin_memory=pin).to(want, non_blocking=pin)


def _gather_into(x: Tensor, idx: Tensor, pin_memory: bool) -> Tensor:
    """Rows ``idx`` of ``x`` gathered into a fresh buffer (page-locked with ``pin_memory``: torch's
    pinned allocator keeps it alive until an asynchronous copy from it has finished)."""
    out = torch.empty((idx.numel(), *x.shape[1:]), dtype=x.dtype, pin_memory=pin_memory)
    return torch.index_select(x, 0, idx, out=out)
