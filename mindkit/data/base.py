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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor

from mindkit.atomic import write_text
from mindkit.common import TASKS  # noqa: E402  (re-exported: mindkit.data.base.TASKS)

MODALITY_KINDS = ("image", "sequence", "tabular", "timeseries", "tokens")
LAYOUTS = {
    "image": ("C", "H", "W"),
    "sequence": ("max_len", "features"),
    "timeseries": ("max_len", "features"),
    "tabular": ("features",),
    "tokens": ("max_len",),
}
"""The per-sample layout of each modality kind (``ModalitySpec.shape`` has one size per name)."""
TIME_KINDS = ("sequence", "timeseries", "tokens")


def _layout_str(kind: str) -> str:
    names = LAYOUTS[kind]
    return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


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
        layout = LAYOUTS[self.kind]
        if len(self.shape) != len(layout) or any(int(d) < 1 for d in self.shape):
            raise ValueError(
                f"modality {self.name!r}: a {self.kind!r} spec needs a per-sample shape "
                f"{_layout_str(self.kind)} of positive sizes, got {tuple(self.shape)}"
            )

    @property
    def channels(self) -> int:
        """Input channels (images) or features per step (sequences) or features (tabular)."""
        if self.kind == "image":
            return self.shape[0]
        if self.kind == "tokens":
            return self.vocab_size
        return self.shape[-1]

    @property
    def free_length(self) -> bool:
        """Whether a model may be fed another number of steps than ``shape[0]`` (variable-length
        sequences, time series and token ids: the encoders pool over the true lengths)."""
        return self.variable_length and self.kind in TIME_KINDS

    def shape_problem(self, shape: tuple[int, ...], free_length: bool = False) -> str | None:
        """Why a per-sample ``shape`` does not fit this spec, with the fix; ``None`` if it fits.

        The one place where shapes are compared (:meth:`check_input` for models,
        :func:`validate_split` for datasets). With ``free_length`` the number of steps of a
        :attr:`free_length` modality may differ from ``shape[0]``; features may not.
        """
        shape, want = tuple(int(d) for d in shape), tuple(self.shape)
        if shape == want:
            return None
        layout = _layout_str(self.kind)
        if len(shape) != len(want):
            return (f"{len(shape)} per-sample dimensions instead of {len(want)} {layout}; give a "
                    f"batch [B, {layout[1:-1].rstrip(',')}] (one leading batch dimension)")
        if self.kind == "image":
            if shape[0] != want[0]:
                return (f"{shape[0]} channel(s) where {want[0]} are expected; convert the images "
                        f"to {want[0]} channel(s) (e.g. to greyscale) or declare the channels "
                        "the data has")
            return (f"images of {shape[1]} x {shape[2]} where {want[1]} x {want[2]} are "
                    "expected; resize or crop them, or declare (and build the model for) the "
                    "size the data has")
        if self.kind == "tabular":
            return (f"{shape[0]} features where {want[0]} are expected; give the columns the "
                    "spec declares, in its order")
        # sequence, timeseries, tokens: (max_len, features) or (max_len,)
        if shape[1:] != want[1:]:
            return (f"{shape[1]} features per step where {want[1]} are expected; the steps may "
                    "vary in number, their features may not")
        if free_length and self.free_length:
            return None
        if self.free_length:
            return (f"{shape[0]} padded steps where {want[0]} are expected; pad every sample "
                    f"to {want[0]} steps (true lengths in Split.lengths) or declare the padded "
                    "length the data has")
        return (f"{shape[0]} steps where {want[0]} are expected and the modality is fixed-length "
                f"(variable_length=False); pad or crop to {want[0]} steps, or declare it "
                "variable_length=True and give its lengths")

    def check_input(self, x: Tensor, where: str = "") -> None:
        """Raise a ValueError if the batch ``x`` (``[B, *shape]``) does not fit this spec.

        Only shapes and dtypes are compared (no data is read), so models call it on every
        forward pass. For :attr:`free_length` modalities the number of steps may differ.
        ``where`` (e.g. the model's class name) prefixes the message.
        """
        got = tuple(x.shape[1:])
        free = self.free_length and len(got) == len(self.shape) and got[0] >= 1
        problem = self.shape_problem(got, free_length=free)
        if problem is None and (self.kind == "tokens") == x.is_floating_point():
            want = "integer token ids (torch.long)" if self.kind == "tokens" else "floating values"
            problem = f"dtype {x.dtype} where {want} are expected; convert with " + (
                "x.long()" if self.kind == "tokens" else "x.float()")
        if problem is not None:
            prefix = f"{where}: " if where else ""
            raise ValueError(
                f"{prefix}modality {self.name!r} ({self.kind}): the model was built for "
                f"per-sample shape {tuple(self.shape)} = {_layout_str(self.kind)}"
                f"{', any max_len' if self.free_length else ''} but got {got} "
                f"(batch {tuple(x.shape)}, {x.dtype}); {problem}"
            )


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


def validate_split(split: Split, specs: dict[str, ModalitySpec], task: str, num_outputs: int,
                   name: str | None = None, dataset: str = "") -> None:
    """Check ``split`` against the data contract (docs/data.md); raise a ValueError if not.

    Per modality (against ``specs``): the per-sample shape equals ``spec.shape`` exactly (the
    stored padding included); floating values for image / sequence / timeseries / tabular and
    ``torch.long`` ids in ``[0, vocab_size)`` for tokens; lengths given iff
    ``spec.variable_length``, integer, within ``[1, padded steps]`` on present rows; no NaN or
    infinite value in a present row. Absent rows are never read by a model, so their content
    (and their lengths) is not checked. Every sample has at least one modality present (a
    sample with none cannot be predicted by any model). Targets (against ``task``): multiclass
    ``long[N]`` class indices in ``[0, num_outputs)``; binary / multilabel floating 0/1 of
    shape ``[N, num_outputs]``.

    Every message names the split, the modality (or ``y``), what was found, what was expected
    and how to fix it, with the first offending rows. The checks are vectorised; the scan for
    non-finite values is one sum per tensor (a finite sum proves every value finite), falling
    back to a per-row count only when that sum is not finite. :class:`MultimodalDataset` calls
    this for every split it is built with, so every builder and
    :meth:`MultimodalDataset.subsample` is checked; :meth:`MultimodalDataset.validate` and
    :func:`validate_for_model` run it again on data that may have changed since (training,
    scoring and explaining call them first).
    """
    sname = split.name if name is None else name
    where = (f"dataset {dataset!r}, " if dataset else "") + f"split {sname!r}"
    if task not in TASKS:
        raise ValueError(f"{where}: unknown task {task!r}; use one of {TASKS}")
    if set(split.inputs) != set(specs):
        raise ValueError(
            f"{where}: holds modalities {sorted(split.inputs)} but the specs declare "
            f"{sorted(specs)}; give one spec per modality and one tensor per spec"
        )
    _check_split(split, specs, task, num_outputs, where)


def _check_split(split: Split, specs: dict[str, ModalitySpec], task: str | None,
                 num_outputs: int | None, where: str, free_length: bool = False) -> None:
    """The checks of :func:`validate_split` for the modalities in ``specs`` (the split may hold
    more; those get only the finite-value check), every sample's presence, and the targets
    when ``task`` and ``num_outputs`` are known."""
    for m in sorted(specs):
        _validate_modality(split, specs[m], f"{where}, modality {m!r}", free_length)
    for m in sorted(set(split.inputs) - set(specs)):
        x = split.inputs[m]
        if x.is_floating_point():
            _check_finite(x, split.present[m], f"{where}, modality {m!r}")
    _validate_presence(split, where)
    if task is not None and num_outputs is not None:
        _validate_targets(split.y, len(split), task, num_outputs, f"{where}, y")


def _validate_presence(split: Split, where: str) -> None:
    if not split.present or len(split) == 0:
        return
    mods = sorted(split.present)
    if any(split.present[m].dim() != 1 for m in mods):
        return  # reported per modality (a mask of the wrong shape)
    none = ~torch.stack([split.present[m] for m in mods], 1).any(1)
    if bool(none.any()):
        raise _fail(where, f"{_bad_rows(none, noun='sample(s) with no modality present')} "
                    f"(modalities {mods})",
                    "at least one present modality per sample (no model can predict a sample "
                    "from nothing)",
                    "drop those samples (split.subset(mask)), or mark present the modality "
                    "they do have")


def model_contract(model) -> tuple[dict[str, ModalitySpec], int | None]:
    """The modality specs a model reads and its number of outputs, found on the model: a
    student or the teachers' late fusion (``specs``, ``num_outputs``), a unimodal net (``spec``)
    or a teacher ensemble (its first member's). ``({}, None)`` for a model that declares
    neither (e.g. a plain module trained with a loss function)."""
    if hasattr(model, "members") and len(getattr(model, "members")) and not hasattr(
            model, "specs"):
        return model_contract(model.members[0])
    specs = getattr(model, "specs", None)
    if not isinstance(specs, dict):
        spec = getattr(model, "spec", None)
        specs = {spec.name: spec} if isinstance(spec, ModalitySpec) else {}
    specs = {m: s for m, s in specs.items() if isinstance(s, ModalitySpec)}
    n_out = getattr(model, "num_outputs", None)
    return specs, (int(n_out) if isinstance(n_out, int) else None)


def validate_for_model(split: Split, model, task: str | None, where: str = "",
                       num_outputs: int | None = None) -> None:
    """Check ``split`` against what ``model`` reads before it trains on, scores or explains it:
    :func:`validate_split`'s checks for the modalities in the model's specs
    (:func:`model_contract`), finite values on the present rows of the split's other
    modalities, at least one modality per sample, and the targets against ``task`` and the
    model's outputs (skipped when either is unknown). Data may change after a dataset is built
    (``ds["test"].y = ...``, a NaN written into an input); this names the split, the modality
    (or ``y``), what was found and the first rows, instead of a NaN score or an error deep in
    torch. ``where`` (e.g. ``"evaluate_student"``) prefixes the message; ``num_outputs``
    overrides the model's (``model=None`` checks values, presence and, with ``task`` and
    ``num_outputs``, the targets). A variable-length modality may be padded to another number
    of steps than the spec's, as the model accepts. Vectorised: call it once per split, not
    per batch.
    """
    specs, n_out = model_contract(model)
    n_out = n_out if num_outputs is None else int(num_outputs)
    prefix = f"{where}: " if where else ""
    missing = sorted(set(specs) - set(split.inputs))
    if missing:
        raise ValueError(
            f"{prefix}split {split.name!r} has no modality {missing} that "
            f"{type(model).__name__} reads (the split holds {split.modalities}); give it the "
            "split of the dataset the model was built for")
    _check_split(split, specs, task if task in TASKS else None, n_out,
                 f"{prefix}split {split.name!r}", free_length=True)


def _fail(where: str, found: str, expected: str, fix: str) -> ValueError:
    return ValueError(f"{where}: {found}; expected {expected}. Fix: {fix}")


def _bad_rows(bad_per_row: Tensor, limit: int = 5, noun: str = "present sample(s)") -> str:
    rows = bad_per_row.nonzero().flatten()
    more = f" and {rows.numel() - limit} more" if rows.numel() > limit else ""
    return f"{rows.numel()} {noun}, e.g. at rows {rows[:limit].tolist()}{more}"


def _validate_modality(split: Split, spec: ModalitySpec, where: str,
                       free_length: bool = False) -> None:
    """One modality against its spec; with ``free_length`` (a model's spec) the padded steps
    of a :attr:`ModalitySpec.free_length` modality may differ from the spec's, as the model
    accepts them (:meth:`ModalitySpec.check_input`)."""
    x, present = split.inputs[spec.name], split.present[spec.name]
    n = len(split)
    if present.dim() != 1:
        raise _fail(where, f"a presence mask of shape {tuple(present.shape)}", f"bool[{n}]",
                    "give one True/False per sample")
    free = free_length and spec.free_length and x.dim() == len(spec.shape) + 1 \
        and x.shape[1] >= 1
    problem = spec.shape_problem(tuple(x.shape[1:]), free_length=free)
    if problem is not None:
        raise ValueError(
            f"{where}: per-sample shape {tuple(x.shape[1:])} (tensor {tuple(x.shape)}) but the "
            f"spec declares {tuple(spec.shape)} = {_layout_str(spec.kind)}; {problem}")
    if spec.kind == "tokens":
        if x.dtype != torch.long:
            raise _fail(where, f"token ids of dtype {x.dtype}", "torch.long ids",
                        "convert them with .long()")
    elif not x.is_floating_point():
        raise _fail(where, f"values of dtype {x.dtype}", f"floating values for a {spec.kind!r} "
                    "modality", "convert them with .float() (and scale images, e.g. to [0, 1])")

    steps = int(x.shape[1]) if free else spec.shape[0]
    lens = split.lengths.get(spec.name)
    if spec.variable_length and lens is None:
        raise _fail(where, "no lengths although the spec says variable_length=True",
                    f"Split.lengths[{spec.name!r}]: the true number of steps of each sample",
                    "give the lengths (any value on absent rows), or declare the modality "
                    "variable_length=False if every sample fills all its steps")
    if not spec.variable_length and lens is not None:
        raise _fail(where, "lengths although the spec says variable_length=False",
                    "no lengths for a fixed-length modality",
                    "drop Split.lengths for it, or declare it variable_length=True")
    if lens is not None:
        if lens.dim() != 1 or lens.is_floating_point() or lens.dtype == torch.bool:
            raise _fail(where, f"lengths of dtype {lens.dtype} and shape {tuple(lens.shape)}",
                        f"integer lengths of shape [{n}]",
                        "give torch.long lengths, one per sample")
        bad = present & ((lens < 1) | (lens > steps))
        if bool(bad.any()):
            vals = lens[bad]
            raise _fail(
                where, f"lengths in [{int(vals.min())}, {int(vals.max())}] in {_bad_rows(bad)}",
                f"lengths in [1, {steps}] (the padded steps) on every present row",
                "a present sample needs at least one step and no more than the padding holds; "
                "mark an empty sample absent (present=False) or fix its length")

    if x.numel() == 0:
        return
    if spec.kind == "tokens":
        lo, hi = torch.aminmax(x)
        if int(lo) >= 0 and int(hi) < spec.vocab_size:
            return
        per_row = ((x < 0) | (x >= spec.vocab_size)).sum(1) * present
        if bool(per_row.any()):
            vals = x[present]
            raise _fail(
                where, f"{int(per_row.sum())} token ids outside [0, {spec.vocab_size}) in "
                f"{_bad_rows(per_row)} (ids found in [{int(vals.min())}, {int(vals.max())}])",
                f"ids in [0, vocab_size={spec.vocab_size}) (0 = padding)",
                "map unknown tokens to a reserved id below vocab_size, or declare the "
                "vocabulary size the ids need")
        return
    _check_finite(x, present, where)


def _check_finite(x: Tensor, present: Tensor, where: str) -> None:
    """No NaN or infinite value in the present rows of ``x`` (floating ``[N, ...]``)."""
    if x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return  # a finite sum proves every value finite (NaN and inf propagate through sums)
    bad = ~torch.isfinite(x)
    per_row = bad.flatten(1).sum(1) * present
    if bool(per_row.any()):
        n_nan = int((torch.isnan(x).flatten(1).sum(1) * present).sum())
        count = int(per_row.sum())
        raise _fail(
            where, f"{count} NaN or infinite values ({n_nan} NaN, {count - n_nan} infinite) in "
            f"{_bad_rows(per_row)}", "finite values in every present sample",
            "impute or drop the bad values before building the split, or mark those samples "
            "absent (present=False) if the modality is missing for them")


def _validate_targets(y: Tensor, n: int, task: str, num_outputs: int, where: str) -> None:
    if task == "multiclass":
        if y.dtype != torch.long or y.dim() != 1:
            raise _fail(where, f"targets of dtype {y.dtype} and shape {tuple(y.shape)}",
                        f"class indices of dtype torch.long and shape [{n}] for a multiclass "
                        "task", "give one integer class index per sample, e.g. "
                        "y.argmax(1) for one-hot targets, then .long()")
        if n == 0:
            return
        lo, hi = torch.aminmax(y)
        if int(lo) < 0 or int(hi) >= num_outputs:
            bad = (y < 0) | (y >= num_outputs)
            raise _fail(where, f"{int(bad.sum())} class indices outside [0, {num_outputs}) "
                        f"(found values in [{int(lo)}, {int(hi)}]) in "
                        f"{_bad_rows(bad, noun='sample(s)')}",
                        f"indices in [0, {num_outputs}), one per class name",
                        "map the labels to 0..C-1, or give one class name per class")
        return
    if not y.is_floating_point() or tuple(y.shape) != (n, num_outputs):
        raise _fail(where, f"targets of dtype {y.dtype} and shape {tuple(y.shape)}",
                    f"floating 0/1 targets of shape [{n}, {num_outputs}] for a {task} task "
                    f"with {num_outputs} label(s)",
                    "give one column per class name, e.g. y.float().view(-1, 1) for a binary "
                    "task")
    bad = (y != 0) & (y != 1)  # NaN counts as bad too
    if bool(bad.any()):
        first = y[bad][0].item()
        rows = _bad_rows(bad.flatten(1).any(1), noun="sample(s)")
        raise _fail(where, f"{int(bad.sum())} targets that are not 0 or 1 (e.g. {first!r}) in "
                    f"{rows}",
                    f"0/1 labels for a {task} task",
                    "threshold or binarise the labels (soft labels belong in distillation "
                    "targets, not in y)")


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
