"""A researcher's own data as a :class:`MultimodalDataset` (docs/your-data.md).

:func:`from_arrays` builds a dataset from arrays in memory: one array per modality, the labels,
and optionally which samples have which modality (``present``), sample ids, the split of each
sample and a patient (group) id per sample. The folder reader (:mod:`mindkit.data.folder`) reads
files into the same arrays and builds through :func:`assemble`, the one place where a user's
data is checked against the contract and cut into splits; its messages name the input by
:class:`Origin` (an argument here, a file and a column there), the rows, what is wrong and the
fix. The per-input checks live in :mod:`mindkit.data.usercheck`, the card is written by
:func:`mindkit.data.usercard.user_card`.

Checks (each a :class:`DataError`, a ValueError): every modality has one row per label, the
dimensions of its kind (``image`` ``[N, C, H, W]``, ``sequence`` / ``timeseries`` ``[N, T, F]``,
``tabular`` ``[N, F]``, ``tokens`` ``[N, T]`` integer ids), finite values on its present rows,
lengths in ``[1, T]`` on present rows; ``present`` is bool ``[N]`` per modality; every sample
has a modality present; labels have the task's form and range; ids are unique; split values
are ``train`` / ``val`` / ``test`` and no split is empty; no group (patient) has samples in two
splits (leakage); every modality is present in some training sample.

Absent rows are never read by a model: they are set to zero, so whatever they held (NaN
included) does not matter.
"""

from __future__ import annotations

import hashlib
import math
from typing import Mapping, Sequence

import numpy as np
import torch

from mindkit.common import SPLITS, TASKS, rng_stream
from mindkit.data.base import MultimodalDataset, Split
from mindkit.data.splits import check_seed, stratified_split_index
from mindkit.data.splits import split_fractions as fractions_from
from mindkit.data.usercard import user_card
from mindkit.data.usercheck import (
    DIMS,
    DataError,
    Origin,
    check_modality,
    fail,
    plain,
    presence,
    sample_ids,
    targets,
    to_numpy,
)

__all__ = ["DataError", "Origin", "assemble", "check_leakage", "from_arrays"]

USER_STREAM = 7411  # the drawn split: rng_stream(seed, USER_STREAM, 0)


# ------------------------------------------------------------------------------------------
# splits and groups


def _fractions(fr) -> tuple[float, float, float]:
    try:
        tr, va, te = (float(v) for v in fr)
    except (TypeError, ValueError):
        raise DataError(f"split_fractions: {fr!r}. Fix: give (train, val, test) shares, e.g. "
                        "(0.6, 0.2, 0.2)") from None
    if not all(math.isfinite(v) and v > 0 for v in (tr, va, te)) \
            or abs(tr + va + te - 1) > 1e-6:
        raise DataError(f"split_fractions: {fr!r}. Fix: three positive shares (train, val, "
                        "test) that sum to 1, e.g. (0.6, 0.2, 0.2)")
    return fractions_from(va, te)


def _group_keys(groups, n: int, origin: Origin) -> np.ndarray | None:
    if groups is None:
        return None
    import pandas as pd

    g = to_numpy(groups, origin.group)
    if g.ndim != 1 or g.shape[0] != n:
        raise fail(origin.group, f"shape {g.shape}", f"give one group (patient) id per sample, "
                   f"shape [{n}]")
    miss = np.flatnonzero(pd.isna(g))
    if miss.size:
        raise fail(origin.group, f"missing group ids in {origin.rows(miss)}",
                   "give every sample its patient id (a sample alone gets an id of its own)")
    return np.asarray([str(plain(v)) for v in g])


def _given_split(splits, n: int, origin: Origin) -> np.ndarray:
    s = to_numpy(splits, origin.split)
    if s.ndim != 1 or s.shape[0] != n:
        raise fail(origin.split, f"shape {s.shape}", f"give one of {list(SPLITS)} per sample")
    vals = np.asarray([str(plain(v)) for v in s])
    bad = np.flatnonzero(~np.isin(vals, SPLITS))
    if bad.size:
        found = sorted(set(vals[bad].tolist()))[:6]
        raise fail(origin.split, f"values {found} that are not {list(SPLITS)} in "
                   f"{origin.rows(bad)}", "write train, val or test (e.g. 'valid' -> 'val')")
    return np.asarray([SPLITS.index(v) for v in vals], dtype=np.int64)


def check_leakage(split: np.ndarray, groups: np.ndarray, origin: Origin) -> None:
    """Refuse a split in which a group (patient) has samples in more than one split."""
    import pandas as pd

    codes, uniq = pd.factorize(groups)
    hits = np.zeros((len(uniq), 3), dtype=np.int64)
    np.add.at(hits, (codes, split), 1)
    leaky = np.flatnonzero((hits > 0).sum(1) > 1)
    if not leaky.size:
        return
    parts = []
    for g in leaky[:3]:
        rows = np.flatnonzero(codes == g)
        where = ", ".join(f"{SPLITS[s]} ({origin.rows(rows[split[rows] == s], 3)})"
                          for s in range(3) if hits[g, s])
        parts.append(f"group {str(uniq[g])!r} in {where}")
    more = f"; and {leaky.size - 3} more group(s)" if leaky.size > 3 else ""
    raise fail(origin.split, f"leakage: {leaky.size} patient group(s) ({origin.group}) have "
               f"samples in more than one split: {'; '.join(parts)}{more}",
               "put every sample of a patient in the same split, or leave the split out "
               f"({origin.fix_split}) and it is drawn per group")


def _draw_split(strata: np.ndarray, groups: np.ndarray | None, fr, seed: int,
                task: str) -> np.ndarray:
    """Split index per sample, drawn per group (a sample is its own group without groups),
    stratified by label (multiclass: the group's most common class; binary: whether any of its
    samples is positive; multilabel: not stratified)."""
    import pandas as pd

    rng = rng_stream(seed, USER_STREAM, 0)
    if groups is None:
        return stratified_split_index(strata, fr, rng)
    codes = pd.factorize(groups)[0]  # 0..G-1 in order of first appearance
    df = pd.DataFrame({"g": codes, "s": strata})
    if task == "binary":
        per = df.groupby("g")["s"].max()
    else:  # the most common class of each group (the smallest on a tie)
        c = df.groupby(["g", "s"]).size().reset_index(name="n")
        per = c.sort_values(["g", "n", "s"], ascending=[True, False, True]) \
            .drop_duplicates("g").set_index("g")["s"].sort_index()
    gsplit = stratified_split_index(per.to_numpy(), fr, rng)
    return gsplit[codes]


# ------------------------------------------------------------------------------------------


def assemble(modalities: Mapping, y, task: str, *, present: Mapping | None = None,
             ids=None, splits=None, groups=None, name: str = "user",
             label_names: Sequence[str] | None = None, seed: int = 0,
             split_fractions=(0.6, 0.2, 0.2), kinds: Mapping[str, str] | None = None,
             lengths: Mapping | None = None, vocab_sizes: Mapping[str, int] | None = None,
             origin: Origin | None = None, source: str = "user arrays",
             description: str = "", options: Mapping | None = None,
             card_extra: Mapping | None = None) -> MultimodalDataset:
    """Check a user's arrays and build the dataset (:func:`from_arrays` documents the
    arguments). ``origin`` names the inputs in messages; ``options`` replaces the recorded
    options (default: seed, how the split was made, fractions and a hash of the data);
    ``card_extra`` is added to the card."""
    if task not in TASKS:
        raise DataError(f"task {task!r} is not one of {list(TASKS)}. Fix: binary (one 0/1 "
                        "label), multilabel (several 0/1 labels) or multiclass (one class index)")
    seed = check_seed(seed)
    fr = _fractions(split_fractions)
    if not isinstance(modalities, Mapping) or not modalities:
        raise DataError("modalities: no modality given. Fix: pass a dict {name: array}, e.g. "
                        "{'image': x_img, 'tab': x_tab}")
    kinds, lengths, vocab_sizes = dict(kinds or {}), dict(lengths or {}), dict(vocab_sizes or {})
    for what, d in (("kinds", kinds), ("lengths", lengths), ("vocab_sizes", vocab_sizes)):
        unknown = sorted(set(d) - set(modalities))
        if unknown:
            raise DataError(f"{what}: {unknown} are not modalities ({sorted(modalities)}). "
                            "Fix: key it by the modality names")
    for m, k in kinds.items():
        if k not in DIMS:
            raise DataError(f"kinds[{m!r}]: unknown kind {k!r}. Fix: use one of {list(DIMS)}")
    origin = origin or Origin(None if ids is None else list(to_numpy(ids, "ids")))
    yt, class_names, strata = targets(y, task, label_names, origin)
    n = int(yt.shape[0])
    if n == 0:
        raise fail(origin.y, "no samples", "give at least one labelled sample per split")
    sids, id_names = sample_ids(ids, n, origin)
    names = sorted(modalities)
    pres = presence(present, names, n, origin)
    notes: list[str] = []
    specs, xs, lens = {}, {}, {}
    for m in names:
        specs[m], xs[m], ln = check_modality(m, modalities[m], kinds.get(m), n, pres[m],
                                        lengths.get(m), vocab_sizes.get(m), origin, notes)
        if ln is not None:
            lens[m] = ln
    none = np.flatnonzero(~np.stack([pres[m] for m in names], 1).any(1))
    if none.size:
        raise fail("present", f"no modality present (of {names}) for {origin.rows(none)}",
                   "drop those samples, or mark present the modality they do have")
    gkeys = _group_keys(groups, n, origin)
    if splits is not None:
        split = _given_split(splits, n, origin)
        if gkeys is not None:
            check_leakage(split, gkeys, origin)
        how = "given"
    else:
        split = _draw_split(strata, gkeys, fr, seed, task)
        how = "drawn"
    counts = [int((split == s).sum()) for s in range(3)]
    for s, c in enumerate(counts):
        if c == 0:
            sizes = ", ".join(f"{SPLITS[k]} {counts[k]}" for k in range(3))
            fix = ("give some samples this split" if how == "given" else
                   f"more samples{' or groups' if gkeys is not None else ''}, larger "
                   "fractions, or the split itself")
            raise fail(origin.split if how == "given" else "split",
                       f"split {SPLITS[s]!r} has no sample ({sizes}; {how})",
                       f"every notebook needs train, val and test: {fix}")
    for m in names:
        if not pres[m][split == 0].any():
            raise fail(origin.modality(m), "present in no training sample",
                       "a modality needs training samples (teachers are trained on them); "
                       "drop it or move samples that have it into train")
    out_splits, items = {}, {}
    for s, sname in enumerate(SPLITS):
        sel = np.flatnonzero(split == s)
        sid = sids[sel]
        out_splits[sname] = Split(
            inputs={m: torch.from_numpy(np.ascontiguousarray(xs[m][sel])) for m in names},
            present={m: torch.from_numpy(pres[m][sel].copy()) for m in names},
            y=yt[torch.from_numpy(sel)], ids=torch.from_numpy(sid.copy()),
            lengths={m: torch.from_numpy(v[sel]) for m, v in lens.items()}, name=sname,
            item_ids={m: torch.from_numpy(np.where(pres[m][sel], sid, -1)) for m in names})
        items[sname] = {m: [int(i) for i in sid[pres[m][sel]]] for m in names}
    if options is None:
        options = {"seed": seed, "split": how, "val_fraction": fr[1], "test_fraction": fr[2],
                   "data_hash": data_hash(xs, lens, pres, yt.numpy(), sids, split,
                                          class_names)}
    card = user_card(task, class_names, specs, pres, yt.numpy(), split, gkeys, how, fr, seed,
                     source, notes, id_names)
    card.update(card_extra or {})
    desc = description or (f"{name}: {n} samples, modalities {names}, {task} "
                           f"({len(class_names)} output{'s' * (len(class_names) > 1)}); "
                           f"{source}")
    return MultimodalDataset(name, task, class_names, specs, out_splits, synthetic=False,
                             description=desc, options=dict(options), card=card, items=items)


def data_hash(xs, lens, pres, y, ids, split, class_names) -> str:
    """A short hash of everything the dataset holds (inputs, lengths, presence, labels, ids,
    split), so that other data under the same name has another fingerprint."""
    h = hashlib.sha256()
    for m in sorted(xs):
        for a in (xs[m], pres[m], lens.get(m, np.zeros(0))):
            h.update(f"{m}|{a.dtype}|{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    for a in (y, ids, split):
        h.update(f"{a.dtype}|{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("|".join(class_names).encode())
    return h.hexdigest()[:16]


def from_arrays(modalities: Mapping, y, task: str, present: Mapping | None = None,
                ids=None, splits=None, groups=None, name: str = "user",
                label_names: Sequence[str] | None = None, seed: int = 0,
                split_fractions=(0.6, 0.2, 0.2), kinds: Mapping[str, str] | None = None,
                lengths: Mapping | None = None, vocab_sizes: Mapping[str, int] | None = None,
                description: str = "", source: str = "user arrays") -> MultimodalDataset:
    """A :class:`MultimodalDataset` from a researcher's own arrays (docs/your-data.md).

    Args:
        modalities: ``{name: array}`` (numpy or torch), one row per sample in the order of
            ``y``: ``image`` ``[N, C, H, W]`` (uint8 pixels are scaled to [0, 1]),
            ``sequence`` ``[N, T, F]`` (padded; true lengths in ``lengths``), ``tabular``
            ``[N, F]``; the kind is read from the dimensions (4, 3, 2) unless ``kinds`` declares
            it (``timeseries``, or ``tokens`` for integer ids ``[N, T]``, 0 = padding).
        y: labels: multiclass ``[N]`` class indices (or class names, mapped through
            ``label_names``); binary ``[N]`` 0/1; multilabel ``[N, L]`` 0/1.
        task: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        present: ``{name: bool[N]}``, which samples have the modality (default: all). Absent
            rows are set to zero and never read.
        ids: one id per sample (unique; integers >= 0 are kept as the sample ids, other ids
            are replaced by row numbers and listed in ``card["id_names"]``).
        splits: ``"train"`` / ``"val"`` / ``"test"`` per sample; by default a split is drawn
            with ``seed`` in ``split_fractions`` (train, val, test), stratified by label.
        groups: a patient (group) id per sample. A given split that puts a group in two
            splits is refused (leakage); a drawn split keeps each group in one split.
        name: the dataset's name (records, figures, the model store).
        label_names: class names (multiclass) or label names (binary: one, multilabel: L).
        kinds, lengths, vocab_sizes: per modality, the kind, ``int[N]`` true lengths of a
            variable-length sequence, the vocabulary size of tokens (default: largest id + 1).
        description, source: free text for the dataset and its card.

    Every violation raises a :class:`DataError` (a ValueError) naming the argument, the
    modality, the rows, what is wrong and the fix. The dataset is ``synthetic=False``; its
    ``card`` holds the counts per split, presence per modality, availability patterns and label
    balance; its ``options`` hold a hash of the data, so its provenance fingerprint changes
    with the data.
    """
    return assemble(modalities, y, task, present=present, ids=ids, splits=splits,
                    groups=groups, name=name, label_names=label_names, seed=seed,
                    split_fractions=split_fractions, kinds=kinds, lengths=lengths,
                    vocab_sizes=vocab_sizes, description=description, source=source)
