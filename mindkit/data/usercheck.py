"""Checks of a researcher's own arrays against the data contract, for
:func:`mindkit.data.user.from_arrays` and the folder reader (:mod:`mindkit.data.folder`): the
labels (:func:`targets`), sample ids (:func:`sample_ids`), presence masks (:func:`presence`) and
each modality array (:func:`check_modality`). Every refusal is a :class:`DataError` naming the
input through an :class:`Origin` (an argument of ``from_arrays``, or a file and column of a
dataset folder), the rows (and their ids), what is wrong and the fix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mindkit.data.base import ModalitySpec

__all__ = ["DIMS", "SHAPES", "DataError", "Origin", "check_modality", "fail", "infer_kind",
           "plain", "presence", "sample_ids", "targets", "to_numpy"]

DIMS = {"image": 4, "sequence": 3, "timeseries": 3, "tabular": 2, "tokens": 2}
"""Dimensions of a whole modality array (samples first) per kind."""
SHAPES = {"image": "[N, C, H, W]", "sequence": "[N, T, F]", "timeseries": "[N, T, F]",
          "tabular": "[N, F]", "tokens": "[N, T]"}
INFERRED = {4: "image", 3: "sequence", 2: "tabular"}


class DataError(ValueError):
    """A researcher's data breaks the contract; the message names the input (argument or file),
    the modality or column, the rows, what is wrong and the fix."""


class Origin:
    """How messages name the inputs: the arguments of :func:`mindkit.data.user.from_arrays`; the
    folder
    reader names its files and columns instead (:class:`mindkit.data.folder.FolderOrigin`).

    ``ids`` (the samples' ids as given, or None) are quoted next to the row numbers."""

    y = "y"
    ids_name = "ids"
    split = "splits"
    group = "groups"
    fix_split = "pass splits=None"

    def __init__(self, ids: Sequence | None = None) -> None:
        self.ids = ids

    def modality(self, m: str) -> str:
        return f"modalities[{m!r}]"

    def lengths(self, m: str) -> str:
        return f"lengths[{m!r}]"

    def present(self, m: str) -> str:
        return f"present[{m!r}]"

    def rows(self, idx, limit: int = 5) -> str:
        """``"3 sample(s), e.g. rows [4, 9, 12] (ids ['a', 'b', 'c'])"``."""
        idx = np.asarray(idx).ravel()
        more = f" and {idx.size - limit} more" if idx.size > limit else ""
        text = f"{idx.size} sample(s), e.g. rows {idx[:limit].tolist()}{more}"
        if self.ids is not None:
            text += f" (ids {[plain(self.ids[i]) for i in idx[:limit]]})"
        return text


def plain(v):
    """A numpy scalar as a plain Python value (so messages print ``7``, not ``np.int64(7)``)."""
    return v.item() if isinstance(v, np.generic) else v


def fail(where: str, found: str, fix: str) -> DataError:
    return DataError(f"{where}: {found}. Fix: {fix}")


def to_numpy(x, what: str) -> np.ndarray:
    """``x`` (numpy array, torch tensor, list, pandas object) as a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise DataError(f"{what}: cannot be read as an array ({err}). Fix: give a numpy array "
                        "or torch tensor with one row per sample") from None


def infer_kind(ndim: int) -> str | None:
    """The kind a modality array of ``ndim`` dimensions is read as when none is declared."""
    return INFERRED.get(ndim)


# ------------------------------------------------------------------------------------------
# labels


def label_names_for(given, n: int, default: list[str], where: str) -> list[str]:
    if given is None:
        return default
    names = [str(v) for v in given]
    if len(names) != n or len(set(names)) != len(names):
        raise fail(where, f"{len(names)} label_names {names[:8]} for {n} "
                   f"{'classes' if n != 1 else 'label'}" + (" (duplicates)" if len(set(names))
                                                            != len(names) else ""),
                   f"give {n} distinct name(s), one per output")
    return names


def targets(y, task: str, label_names, origin: Origin):
    """``(y tensor, class names, integer labels per sample for stratification)``."""
    where = origin.y
    y = to_numpy(y, where)
    n = y.shape[0] if y.ndim else 0
    if y.dtype.kind == "f" and y.size and np.isnan(y.astype(float)).any():
        bad = np.flatnonzero(np.isnan(y.astype(float)).reshape(n, -1).any(1))
        raise fail(where, f"missing labels (NaN) in {origin.rows(bad)}",
                   "give every sample a label, or drop the samples without one")
    if task == "multiclass":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise fail(where, f"shape {y.shape} for a multiclass task",
                       "give one class index per sample, shape [N] (e.g. y.argmax(1) for "
                       "one-hot labels)")
        if y.dtype.kind in "USO":  # class names as strings
            vals = np.asarray([str(v) for v in y])
            names = [str(v) for v in label_names] if label_names is not None \
                else sorted(set(vals.tolist()))
            lookup = {c: k for k, c in enumerate(names)}
            unknown = np.flatnonzero(~np.isin(vals, names))
            if unknown.size:
                raise fail(where, f"labels {sorted(set(vals[unknown].tolist()))[:8]} that are "
                           f"not in label_names {names} in {origin.rows(unknown)}",
                           "add them to label_names or correct the labels")
            idx = np.asarray([lookup[v] for v in vals], dtype=np.int64)
        else:
            if y.dtype.kind not in "biuf":
                raise fail(where, f"labels of dtype {y.dtype}", "give integer class indices")
            if y.dtype.kind == "f" and n and (y != np.round(y)).any():
                bad = np.flatnonzero(y != np.round(y))
                raise fail(where, f"class indices that are not whole numbers (e.g. "
                           f"{plain(y[bad[0]])}) in {origin.rows(bad)}",
                           "give integer class indices 0..C-1 (y.astype(int) if they are whole)")
            idx = y.astype(np.int64)
            names = None if label_names is None else [str(v) for v in label_names]
            n_cls = len(names) if names is not None else (int(idx.max()) + 1 if n else 0)
            bad = np.flatnonzero((idx < 0) | (idx >= n_cls))
            if bad.size:
                raise fail(where, f"class indices outside [0, {n_cls}) (found "
                           f"{int(idx[bad].min())}..{int(idx[bad].max())}) in {origin.rows(bad)}",
                           f"map the labels to 0..{n_cls - 1}" + (
                               f" (one per label name {names})" if names else "")
                           + ", or give one label name per class")
            names = label_names_for(names, n_cls, [str(k) for k in range(n_cls)], "label_names")
        if len(names) < 2:
            raise fail(where, f"a multiclass task with {len(names)} class", "a multiclass task "
                       "needs at least 2 classes (one binary label: task='binary')")
        return torch.from_numpy(idx), names, idx
    # binary / multilabel: 0/1
    if task == "binary" and y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or (task == "binary" and y.shape[1] != 1):
        want = "[N] or [N, 1]" if task == "binary" else "[N, L] (one 0/1 column per label)"
        raise fail(where, f"shape {y.shape} for a {task} task", f"give labels of shape {want}")
    if y.dtype.kind not in "biuf":
        raise fail(where, f"labels of dtype {y.dtype} for a {task} task",
                   "give 0/1 (or True/False) labels; map names to 0/1 first")
    bad = np.flatnonzero(((y != 0) & (y != 1)).any(1))
    if bad.size:
        vals = sorted({plain(v) for v in np.unique(y[bad])} - {0, 1})
        raise fail(where, f"labels that are not 0 or 1 (found {vals[:6]}) in {origin.rows(bad)}",
                   f"a {task} task takes 0/1 labels; binarise them (for several classes use "
                   "task='multiclass')")
    n_lab = y.shape[1]
    default = ["positive"] if task == "binary" else [f"label_{k}" for k in range(n_lab)]
    names = label_names_for(label_names, n_lab, default, "label_names")
    ints = y.astype(np.int64)
    strata = ints[:, 0] if task == "binary" else np.zeros(n, dtype=np.int64)
    return torch.from_numpy(y.astype(np.float32)), names, strata


# ------------------------------------------------------------------------------------------
# ids, modalities, presence


def sample_ids(ids, n: int, origin: Origin):
    """``(int64 sample ids, the ids as given or None)``: non-negative integer ids are used as
    they are; any others (strings) become row numbers, the given ones kept for the card."""
    if ids is None:
        return np.arange(n, dtype=np.int64), None
    arr = to_numpy(ids, origin.ids_name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise fail(origin.ids_name, f"shape {arr.shape} for {n} samples", "give one id per sample")
    import pandas as pd

    miss = np.flatnonzero(pd.isna(arr))
    if miss.size:
        raise fail(origin.ids_name, f"missing ids in {origin.rows(miss)}",
                   "give every sample an id")
    keys = np.asarray([str(plain(v)) for v in arr])
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        rows = np.flatnonzero(np.isin(keys, dup))
        raise fail(origin.ids_name, f"{dup.size} id(s) used more than once ({dup[:5].tolist()}) "
                   f"in {origin.rows(rows)}", "give every sample its own id (one row per sample)")
    if arr.dtype.kind in "iu" and (n == 0 or arr.min() >= 0):
        return arr.astype(np.int64), None
    return np.arange(n, dtype=np.int64), [plain(v) for v in arr]


def presence(present, names: list[str], n: int, origin: Origin) -> dict[str, np.ndarray]:
    present = dict(present or {})
    unknown = sorted(set(present) - set(names))
    if unknown:
        raise fail("present", f"masks for {unknown}, which are not modalities ({names})",
                   "key present by the modality names")
    out = {}
    for m in names:
        if m not in present:
            out[m] = np.ones(n, dtype=bool)
            continue
        p = to_numpy(present[m], origin.present(m))
        if p.ndim != 1 or p.shape[0] != n:
            raise fail(origin.present(m), f"shape {p.shape}",
                       f"give one True/False per sample, shape [{n}]")
        if p.dtype.kind == "b":
            out[m] = p.astype(bool)
            continue
        if p.dtype.kind not in "iu" or not np.isin(p, (0, 1)).all():
            raise fail(origin.present(m), f"values of dtype {p.dtype}"
                       + ("" if p.dtype.kind not in "iuf" else
                          f" ({sorted({plain(v) for v in np.unique(p)})[:6]})"),
                       "give a bool mask (True where the sample has the modality), e.g. "
                       "mask.astype(bool) for 0/1 values")
        out[m] = p.astype(bool)
    return out


def check_modality(m: str, x, kind: str | None, n: int, present: np.ndarray, lengths, vocab,
                   origin: Origin, notes: list[str]):
    """``(spec, float32/int64 array with absent rows zeroed, int64 lengths or None)``."""
    where = origin.modality(m)
    x = to_numpy(x, where)
    if x.ndim == 0 or x.shape[0] != n:
        raise fail(where, f"{x.shape[0] if x.ndim else 0} rows (shape {x.shape}) but there are "
                   f"{n} labels", "give one row per sample, in the order of the labels (a "
                   "sample without this modality gets a row of zeros and present=False)")
    declared = kind is not None
    kind = kind if declared else infer_kind(x.ndim)
    if kind is None or x.ndim != DIMS[kind]:
        hint = ""
        if kind == "image" and x.ndim == 3:
            hint = "; add the channel axis: x[:, None] for greyscale"
        elif kind in ("tabular", None) and x.ndim == 1:
            hint = "; one feature is x.reshape(-1, 1)"
        want = (f"{'an' if kind == 'image' else 'a'} {kind} modality is {SHAPES[kind]}" if kind else
                "an image is [N, C, H, W], a sequence [N, T, F], a table [N, F]")
        raise fail(where, f"{x.ndim} dimension(s) (shape {x.shape})", want + hint
                   + ("" if declared else "; declare the kind if it is another"))
    if kind == "image" and x.shape[1] > 4 and x.shape[-1] in (1, 3, 4):
        raise fail(where, f"shape {x.shape} looks channels-last",
                   "images are [N, C, H, W]: x.transpose(0, 3, 1, 2)")
    if any(d < 1 for d in x.shape[1:]):
        raise fail(where, f"an empty dimension (shape {x.shape})", f"give {SHAPES[kind]} with "
                   "every size >= 1")
    if not declared:
        notes.append(f"{m}: kind {kind!r} inferred from its {x.ndim} dimensions")
    if kind == "tokens":
        if x.dtype.kind not in "iub":
            raise fail(where, f"token ids of dtype {x.dtype}", "give integer token ids (0 = "
                       "padding), e.g. x.astype(int)")
        x = x.astype(np.int64)
    elif x.dtype.kind not in "biuf":
        raise fail(where, f"values of dtype {x.dtype}", f"give numbers for a {kind} modality")
    elif kind == "image" and x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
        notes.append(f"{m}: uint8 pixels scaled to [0, 1]")
    else:
        x = x.astype(np.float32, copy=x.dtype != np.float32)
    if kind != "tokens":
        x[~present] = 0.0
        flat = x.reshape(n, -1)
        if not np.isfinite(flat.sum(dtype=np.float64)):
            bad = np.flatnonzero(~np.isfinite(flat).all(1) & present)
            if bad.size:
                n_nan = int(np.isnan(flat[bad]).sum())
                raise fail(where, f"NaN or infinite values ({n_nan} NaN) in {origin.rows(bad)}",
                           "impute or drop them first, or mark those samples absent "
                           f"({origin.present(m)} = False) if the modality is missing for them")
    else:
        x[~present] = 0
    lens = _lengths(m, lengths, kind, x, present, origin)
    if kind == "tokens":
        lo = int(x[present].min()) if present.any() else 0
        hi = int(x[present].max()) if present.any() else 0
        vocab = int(vocab) if vocab is not None else max(hi + 1, 2)
        bad = np.flatnonzero(((x < 0) | (x >= vocab)).any(1) & present)
        if bad.size:
            raise fail(where, f"token ids outside [0, {vocab}) (found {lo}..{hi}) in "
                       f"{origin.rows(bad)}", "ids run from 1 to vocab_size - 1 (0 = padding); "
                       "declare the vocabulary size the ids need")
    spec = ModalitySpec(m, kind, tuple(int(d) for d in x.shape[1:]),
                        variable_length=lens is not None, vocab_size=int(vocab or 0),
                        description=f"user {kind} {SHAPES[kind]}")
    return spec, x, lens


def _lengths(m, lengths, kind, x, present, origin: Origin):
    if lengths is None:
        return None
    where = origin.lengths(m)
    if kind not in ("sequence", "timeseries", "tokens"):
        raise fail(where, f"lengths for a {kind} modality", "only sequences, time series and "
                   "tokens have lengths; drop them")
    lens = to_numpy(lengths, where)
    n, steps = x.shape[0], x.shape[1]
    if lens.ndim != 1 or lens.shape[0] != n or lens.dtype.kind not in "iu":
        raise fail(where, f"{lens.dtype} lengths of shape {lens.shape}",
                   f"give integer lengths, one per sample (shape [{n}])")
    lens = np.where(present, lens, 0).astype(np.int64)
    bad = np.flatnonzero(present & ((lens < 1) | (lens > steps)))
    if bad.size:
        raise fail(where, f"lengths outside [1, {steps}] (found {int(lens[bad].min())}.."
                   f"{int(lens[bad].max())}) in {origin.rows(bad)}",
                   f"a present sample has 1 to {steps} steps (the padded length); mark an "
                   "empty one absent")
    return lens
