"""Where a checkpoint or a prediction file came from, and the refusal of stale state.

A checkpoint's JSON carries :func:`dataset_provenance`: the dataset's name and options (its
seed among them), a hash of its split (the sample ids and underlying items of every split, so
a subsample or another seed hashes differently), the task, the number of outputs, the modality
specs and the mindkit version. :func:`check_provenance` compares a saved record with the
dataset at hand and raises :class:`StaleStateError` naming every mismatch and the fix.
"""

from __future__ import annotations

import hashlib
import json

import mindkit

# fields that must agree for a saved model to be used on a dataset
MATCH_FIELDS = ("dataset", "split_hash", "task", "num_outputs")


class StaleStateError(ValueError):
    """Saved state (a checkpoint, a prediction file) does not belong to the dataset at hand."""


def split_hash(ds) -> str:
    """A short hash of which samples (ids) and items fall in each split of ``ds``."""
    h = hashlib.sha256()
    for name in sorted(ds.splits):
        h.update(name.encode())
        h.update(ds.splits[name].ids.cpu().numpy().astype("int64").tobytes())
    h.update(json.dumps(ds.items, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def dataset_provenance(ds) -> dict:
    from mindkit.models.unimodal import spec_to_dict

    return {
        "dataset": ds.name,
        "options": json.loads(json.dumps(ds.options, default=str)),
        "seed": ds.options.get("seed"),
        "split_hash": split_hash(ds),
        "task": ds.task,
        "num_outputs": ds.num_outputs,
        "class_names": list(ds.class_names),
        "modalities": {m: spec_to_dict(s) for m, s in sorted(ds.modalities.items())},
        "synthetic": bool(ds.synthetic),
        "mindkit_version": mindkit.__version__,
    }


def check_provenance(saved: dict, ds, what: str, fix: str,
                     modalities: list[str] | None = None) -> None:
    """Raise :class:`StaleStateError` unless ``saved`` (a provenance dict) matches ``ds``.

    ``what`` names the saved object (e.g. ``"teacher audio_xs.pt"``) and ``fix`` says what to do.
    ``modalities``: the modality specs to compare (default: every modality in ``saved``).
    """
    if not saved or "split_hash" not in saved:
        raise StaleStateError(f"{what} records no provenance (made by an older mindkit?); it "
                              f"cannot be checked against dataset {ds.name!r}: {fix}")
    now = dataset_provenance(ds)
    bad = [f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in MATCH_FIELDS
           if saved.get(k) != now[k]]
    for m in modalities if modalities is not None else sorted(saved.get("modalities", {})):
        s, n = saved.get("modalities", {}).get(m), now["modalities"].get(m)
        if s is None or n is None or s["shape"] != n["shape"] or s["kind"] != n["kind"]:
            bad.append(f"modality {m!r}: saved {s and (s['kind'], s['shape'])}, now "
                       f"{n and (n['kind'], n['shape'])}")
    if bad:
        opts = (f" (options saved {saved.get('options')}, now {now['options']})"
                if saved.get("split_hash") != now["split_hash"] else "")
        raise StaleStateError(f"{what} does not belong to this dataset: {'; '.join(bad)}{opts}. "
                              f"{fix}")
