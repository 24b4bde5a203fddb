"""Where a checkpoint or a prediction file came from, and the refusal of stale state.

A checkpoint (inside its weights file) and a prediction file carry :func:`dataset_provenance`:
the dataset's name and options (its seed among them), a hash of its split (the sample ids and
underlying items of every split, so a subsample or another seed hashes differently), the task,
the number of outputs, the modality specs, the mindkit version, and the **fingerprint**
(:func:`dataset_fingerprint`): one hash over all of these that covers every option that changes
the data (difficulty, noise levels, pairing, shares kept, image size, subsampling, ...). Options
that only say where files are or how they are read (:data:`NON_DATA_OPTIONS`: data roots, cache
folders, a dataset folder's path, progress bars) are left out, so the same data read from another
copy matches. A user's own data carries a hash of its content among its options
(``content_hash`` of a dataset folder, ``data_hash`` of ``from_arrays``), so changed data has
another fingerprint.

:func:`check_provenance` compares a saved record with the dataset at hand and raises
:class:`StaleStateError` naming every mismatch (each option that differs, with both values) and
the fix.
"""

from __future__ import annotations

import hashlib
import json

import mindkit
from mindkit.models.unimodal import spec_to_dict

# fields that must agree for a saved model to be used on a dataset
MATCH_FIELDS = ("dataset", "split_hash", "task", "num_outputs")
NON_DATA_OPTIONS = ("ehr_root", "cxr_root", "notes_root", "cache_dir", "use_cache", "progress",
                    "folder")
"""Dataset options that do not change the data (where it is read from, caching, progress). A
dataset folder's ``folder`` is where it was read; its ``content_hash`` (a hash of every file
read) is a data option, so a changed file changes the fingerprint."""


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


def data_options(options: dict) -> dict:
    """``options`` as JSON values, without :data:`NON_DATA_OPTIONS`."""
    return {k: v for k, v in json.loads(json.dumps(options, default=str)).items()
            if k not in NON_DATA_OPTIONS}


def _fingerprint(prov: dict) -> str:
    core = {k: prov[k] for k in ("dataset", "split_hash", "task", "num_outputs", "class_names",
                                 "modalities", "synthetic")}
    core["options"] = data_options(prov["options"])
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def dataset_fingerprint(ds) -> str:
    """A short hash of everything that makes ``ds`` the data it is: name, every data option,
    split hash, task, outputs, class names, modality specs (:func:`dataset_provenance`)."""
    return dataset_provenance(ds)["fingerprint"]


def dataset_provenance(ds) -> dict:
    prov = {
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
    prov["fingerprint"] = _fingerprint(prov)
    return prov


def option_differences(saved: dict, now: dict) -> list[str]:
    """``"option X: saved a, now b"`` for every data option that differs between two option
    dicts (an option one side lacks shows as ``None``)."""
    a, b = data_options(saved or {}), data_options(now or {})
    return [f"option {k}: saved {a.get(k)!r}, now {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def check_provenance(saved: dict, ds, what: str, fix: str,
                     modalities: list[str] | None = None) -> None:
    """Raise :class:`StaleStateError` unless ``saved`` (a provenance dict) matches ``ds``.

    ``what`` names the saved object (e.g. ``"teacher audio_xs.pt"``) and ``fix`` says what to do.
    ``modalities``: the modality specs to compare (default: every modality in ``saved``).
    """
    if not saved or "fingerprint" not in saved:
        raise StaleStateError(f"{what} records no dataset fingerprint (made by an older "
                              f"mindkit?); it cannot be checked against dataset {ds.name!r}: "
                              f"{fix}")
    now = dataset_provenance(ds)
    bad = [f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in MATCH_FIELDS
           if saved.get(k) != now[k]]
    if saved.get("dataset") == now["dataset"]:
        bad += option_differences(saved.get("options", {}), now["options"])
    if not bad and saved["fingerprint"] != now["fingerprint"]:
        bad.append(f"fingerprint: saved {saved['fingerprint']}, now {now['fingerprint']} "
                   "(class names, modality specs or the synthetic flag differ)")
    for m in modalities if modalities is not None else sorted(saved.get("modalities", {})):
        s, n = saved.get("modalities", {}).get(m), now["modalities"].get(m)
        if s is None or n is None or s["shape"] != n["shape"] or s["kind"] != n["kind"]:
            bad.append(f"modality {m!r}: saved {s and (s['kind'], s['shape'])}, now "
                       f"{n and (n['kind'], n['shape'])}")
    if bad:
        opts = (f" (options saved {saved.get('options')}, now {now['options']})"
                if saved.get("split_hash") != now["split_hash"]
                and not option_differences(saved.get("options", {}), now["options"]) else "")
        raise StaleStateError(f"{what} does not belong to this dataset: {'; '.join(bad)}{opts}. "
                              f"{fix}")
