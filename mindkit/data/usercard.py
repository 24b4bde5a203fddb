"""The data card of a researcher's own dataset (:func:`mindkit.data.user.from_arrays`, a dataset
folder): what the data holds, found from the data itself: counts per split, presence per
modality, availability patterns, label balance, how the split was made, and caveats (a label
without positives in an evaluation split, a small test set, no patient ids)."""

from __future__ import annotations

import numpy as np

from mindkit.common import SPLITS


def _pattern(row: np.ndarray, names: list[str]) -> str:
    return "+".join(m for m, p in zip(names, row) if p)


def availability(pres: dict[str, np.ndarray], split: np.ndarray) -> dict[str, dict[str, int]]:
    """Per split, the number of samples of each availability pattern (``"image+tab"``: both;
    ``"tab"``: tab alone), most common first."""
    names = sorted(pres)
    mat = np.stack([pres[m] for m in names], 1)
    out = {}
    for s, sname in enumerate(SPLITS):
        rows, counts = np.unique(mat[split == s], axis=0, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        out[sname] = {_pattern(rows[i], names): int(counts[i]) for i in order}
    return out


def label_balance(task: str, class_names: list[str], y: np.ndarray,
                  split: np.ndarray) -> dict[str, dict[str, int]]:
    """Per split: samples per class (multiclass) or positives per label (binary, multilabel)."""
    out = {}
    for s, sname in enumerate(SPLITS):
        ys = y[split == s]
        if task == "multiclass":
            counts = np.bincount(ys.astype(np.int64), minlength=len(class_names))
        else:
            counts = ys.sum(0).astype(np.int64)
        out[sname] = {c: int(k) for c, k in zip(class_names, counts)}
    return out


def _caveats(task, class_names, y, split, counts, groups, id_names) -> list[str]:
    notes = []
    for s in (1, 2):
        ys = y[split == s]
        if task == "multiclass":
            missing = [c for k, c in enumerate(class_names) if not (ys == k).any()]
            if missing:
                notes.append(f"{SPLITS[s]} has no sample of class(es) {missing[:8]}: metrics "
                             "averaged over classes are undefined or unstable there")
        else:
            flat = [c for k, c in enumerate(class_names)
                    if ys[:, k].min(initial=1) == ys[:, k].max(initial=0)]
            if flat:
                notes.append(f"{SPLITS[s]}: label(s) {flat[:8]} take one value only, so AUROC "
                             "is undefined for them there")
    if task == "multiclass":
        missing = [c for k, c in enumerate(class_names) if not (y[split == 0] == k).any()]
        if missing:
            notes.append(f"train has no sample of class(es) {missing[:8]}")
    if counts["test"] < 100:
        notes.append(f"small test set ({counts['test']} samples): report bootstrap CIs and "
                     "several seeds")
    if groups is None:
        notes.append("no group (patient) ids were given: if a patient has several samples, "
                     "give them (groups / a 'group' column) so that no patient is in two "
                     "splits")
    if id_names is not None:
        notes.append("the ids are not integers >= 0: the sample ids are the row numbers; "
                     "card['id_names'][i] is the id of sample i")
    return notes


def user_card(task: str, class_names: list[str], specs: dict, pres: dict[str, np.ndarray],
              y: np.ndarray, split: np.ndarray, groups: np.ndarray | None, how: str,
              fractions: tuple[float, float, float], seed: int, source: str,
              notes: list[str], id_names: list | None) -> dict:
    """The card of a user dataset (see the module docstring); ``notes`` lists what was read or
    converted (kinds inferred, pixels scaled)."""
    counts = {sname: int((split == s).sum()) for s, sname in enumerate(SPLITS)}
    per_split = {}
    for s, sname in enumerate(SPLITS):
        row = {"samples": counts[sname]}
        row.update({f"with_{m}": int(pres[m][split == s].sum()) for m in sorted(pres)})
        if groups is not None:
            row["groups"] = int(np.unique(groups[split == s]).size)
        per_split[sname] = row
    if how == "given":
        how_text = "given with the data"
    else:
        strat = {"multiclass": "class", "binary": "label", "multilabel": "nothing"}[task]
        unit = "patient (group)" if groups is not None else "sample"
        how_text = (f"drawn per {unit}, stratified by {strat}, fractions "
                    f"{fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g}, seed {seed}")
    card = {
        "source": source,
        "synthetic": False,
        "task": task,
        "labels": list(class_names),
        "modalities": {m: {"kind": s.kind, "shape": list(s.shape),
                           "variable_length": s.variable_length, "present": int(pres[m].sum()),
                           **({"vocab_size": s.vocab_size} if s.kind == "tokens" else {})}
                       for m, s in sorted(specs.items())},
        "counts": {"samples": int(split.size), "per_split": per_split},
        "availability": availability(pres, split),
        "label_balance": label_balance(task, class_names, y, split),
        "split": how_text,
        "groups": None if groups is None else {
            "groups": int(np.unique(groups).size),
            "largest": int(np.unique(groups, return_counts=True)[1].max())},
        "read": list(notes),
        "caveats": _caveats(task, class_names, y, split, counts, groups, id_names),
    }
    if id_names is not None:
        card["id_names"] = list(id_names)
    return card
