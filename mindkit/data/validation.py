"""Checking data against the contract: :func:`validate_split` (a split against its modality
specs and task) and :func:`validate_for_model` (a split against what a model reads, found by
:func:`model_contract`). Every message names the split, the modality (or ``y``), what was found,
what was expected and how to fix it, with the first offending rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mindkit.common import TASKS
from mindkit.data.containers import Split
from mindkit.data.modality import ModalitySpec, layout_str


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
            f"spec declares {tuple(spec.shape)} = {layout_str(spec.kind)}; {problem}")
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
