"""The MIMIC dataset builder: :func:`build_mimic` checks the options, finds the cache entry
or plans the samples, discretises the series and reads the images, standardises and assembles
the dataset; ``mimic_ihm``, ``mimic_pheno`` and ``mimic_cxr_findings`` are registered here as
views of it (see :mod:`mindkit.data.mimic` for what each holds)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from mindkit.common import check_choice, check_number
from mindkit.common import progress as progress_bar
from mindkit.data.base import MultimodalDataset
from mindkit.data.mimic.assemble import assemble_dataset
from mindkit.data.mimic.cache import (
    cache_hash,
    default_cache_dir,
    file_stat,
    read_cache,
    write_cache,
)
from mindkit.data.mimic.discretizer import (
    Discretizer,
    default_discretizer,
    fit_normalizer,
    load_discretizer_config,
    load_normalizer,
)
from mindkit.data.mimic.images import default_resize, load_cxr_image
from mindkit.data.mimic.layout import (
    CACHE_VERSION,
    CHEXPERT_FILE,
    CXR_LAYOUT,
    DEFAULT_MAX_HOURS,
    DEFAULT_MODALITIES,
    EHR_LAYOUT,
    FINDINGS,
    IHM_HOURS,
    META_FILE,
    MODALITIES,
    MODES,
    NOTES_MAX_TOKENS,
    NOTES_MAX_VOCAB,
    NOTES_MIN_COUNT,
    SPLIT_FILE,
    SPLITS,
    TAB_COLUMNS,
    TAB_WINDOW_HOURS,
    TASK_DIRS,
    TASK_NAMES,
    MimicDataWarning,
)
from mindkit.data.mimic.notes import encode_tokens, fit_vocab, stay_notes, tokenize
from mindkit.data.mimic.plan import Plan, plan_findings, plan_stays
from mindkit.data.mimic.tab import check_tab_options, first_values, tab_features
from mindkit.data.mimic.tables import (
    notes_file,
    read_discharge_notes,
    read_stay_columns,
    require_file,
    resolve_notes_root,
    table_roots,
)
from mindkit.data.registry import register_variant
from mindkit.data.splits import check_seed

# --------------------------------------------------------------------------------------------
# arrays (one step per stay or image: the bar is redrawn at most twice a second, on stderr, and
# cleared when done)

def _discretize_all(plan: Plan, ehr_root: Path, disc: Discretizer, t_max: int,
                    bad_values: str, progress: bool, label: str):
    n = len(plan.ts_files)
    lengths = np.array([disc.n_bins(e) for e in plan.ts_end], dtype=np.int64)
    x = np.zeros((n, t_max, disc.n_features), dtype=np.float32)
    totals = dict(used=0, before_time_zero=0, after_window=0, overwritten_in_bin=0,
                  bad_values=0)
    for i in progress_bar(range(n), f"{label}: discretising time series", progress, n,
                          leave=False, mininterval=0.5, file=sys.stderr):
        xi, c = disc.transform_file(ehr_root / plan.ts_files[i], float(plan.ts_end[i]),
                                    bad_values)
        x[i, : len(xi)] = xi[:t_max]
        for k, v in c.items():
            totals[k] += v
    return x, np.minimum(lengths, t_max), totals


def _load_images(plan: Plan, cxr_root: Path, image_size: int, resize: int, progress: bool,
                 label: str) -> np.ndarray:
    pos = [i for i, f in enumerate(plan.cxr_files) if f]
    out = np.zeros((len(pos), image_size, image_size), dtype=np.uint8)
    for k in progress_bar(range(len(pos)), f"{label}: loading chest X-rays", progress, len(pos),
                          leave=False, mininterval=0.5, file=sys.stderr):
        out[k] = load_cxr_image(cxr_root / plan.cxr_files[pos[k]], image_size, resize)
    return out


# --------------------------------------------------------------------------------------------
# the optional modalities: tab (stay table + first values) and notes (HPI of the discharge note)

def _check_modalities(value, task: str, mode: str) -> list[str]:
    """``modalities`` as a list in :data:`MODALITIES` order (a comma-separated string is
    split); ``ts`` and ``cxr`` are always built, ``tab`` and ``notes`` are optional."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    mods = [str(m) for m in value]
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown or len(set(mods)) != len(mods):
        raise ValueError(f"modalities must be distinct names from {MODALITIES}, got {value!r}")
    if not {"ts", "cxr"} <= set(mods):
        raise ValueError(
            f"modalities {mods}: this reader always builds 'ts' and 'cxr' (the image root is "
            "needed for pairing); list both and add 'tab' and/or 'notes', e.g. "
            "modalities=('ts', 'cxr', 'tab', 'notes')")
    extra = [m for m in mods if m not in DEFAULT_MODALITIES]
    if extra and (task == "findings" or mode == "image"):
        raise ValueError(f"modalities {extra} need the stays' time series: mode='image' and "
                         "mimic_cxr_findings hold chest X-rays alone; use mode='all' or "
                         "'paired', or drop them from modalities")
    return [m for m in MODALITIES if m in mods]


_TAB_FIX = ("pass tab_columns=[...] naming stay-table columns the file has (MedFuse's extraction "
            "of MIMIC-IV v1.0 writes age, gender, ethnicity; MIMIC-IV 2.x calls ethnicity "
            "'race'), or drop 'tab' from modalities")
_NOTES_FIX = ("the 'notes' modality links a stay to its discharge note by subject_id and "
              "hadm_id (MedFuse's all_stays.csv has both): re-run the extraction keeping "
              "hadm_id, or drop 'notes' from modalities")


def _read_extras(mods, plan: Plan, ehr: Path, notes: Path | None, tab_cols: list[str],
                 progress: bool, name: str) -> dict:
    """What ``tab`` and ``notes`` read from files (cached with the entry): the stay-table
    values of ``tab_cols`` per sample, and the HPI text and note id per sample."""
    import pandas as pd

    out: dict = {}
    ids = plan.ids
    if "tab" in mods:
        st = read_stay_columns(ehr, tab_cols, _TAB_FIX).set_index("stay_id")
        present = np.isin(ids, st.index.to_numpy()) if tab_cols else np.ones(len(ids), bool)
        r = st.reindex(ids)
        out["tab"] = {"present": present.tolist(),
                      "columns": {c: r[c].fillna("").tolist() for c in tab_cols}}
    if "notes" in mods:
        st = read_stay_columns(ehr, ["subject_id", "hadm_id"], _NOTES_FIX)
        st = st.assign(subject_id=pd.to_numeric(st["subject_id"], errors="coerce"),
                       hadm_id=pd.to_numeric(st["hadm_id"], errors="coerce"))
        r = st.set_index("stay_id").reindex(ids)
        ok = r["subject_id"].notna() & r["hadm_id"].notna()
        stays = pd.DataFrame({"subject_id": r["subject_id"].where(ok, -1).astype(np.int64),
                              "hadm_id": r["hadm_id"].where(ok, -1).astype(np.int64)})
        notes_df, read_counts = read_discharge_notes(
            notes, set(stays.loc[ok.to_numpy(), "hadm_id"]), progress, name)
        texts, note_ids, counts = stay_notes(stays, notes_df)
        out["notes"] = {"hpi": texts, "note_ids": note_ids, "counts": {**read_counts, **counts},
                        "file": str(notes_file(notes))}
    return out


def _tab_modality(extras: dict, plan: Plan, x_ts, ts_len, disc: Discretizer,
                  tab_cols: list[str], tab_chans: list[str], standardize: bool) -> dict:
    present = np.asarray(extras["tab"]["present"], dtype=bool)
    first = first_values(x_ts, ts_len, disc, tab_chans)  # before the series are standardised
    x, names, prep = tab_features(extras["tab"]["columns"], tab_cols, first, tab_chans,
                                  (plan.split == 0) & present, standardize,
                                  min(TAB_WINDOW_HOURS, x_ts.shape[1]))
    x[~present] = 0.0
    missing = {c: int(sum(v == "" for v, p in zip(extras["tab"]["columns"][c], present) if p))
               for c in tab_cols}
    missing.update({f"first {c}": int(np.isnan(first[present, k]).sum())
                    for k, c in enumerate(tab_chans)})
    prep["missing_values"] = missing
    return {"x": x, "present": present, "names": names, "prep": prep}


def _notes_modality(extras: dict, plan: Plan, max_tokens: int, min_count: int,
                    max_vocab: int | None) -> dict:
    info = extras["notes"]
    toks = [tokenize(t) if t else [] for t in info["hpi"]]
    present = np.array([len(t) > 0 for t in toks], dtype=bool)
    train = (plan.split == 0) & present
    vocab = fit_vocab((t[:max_tokens] for t, k in zip(toks, train) if k), min_count, max_vocab)
    ids, lengths = encode_tokens(toks, vocab, max_tokens)
    counts = dict(info["counts"])
    counts["stays_hpi_without_tokens"] = int(sum(bool(t) for t in info["hpi"]) - present.sum())
    counts["stays_with_notes"] = int(present.sum())
    counts["notes_truncated"] = int(sum(len(t) > max_tokens for t in toks))
    unk = ids == 1
    prep = {
        "source": info["file"],
        "section": "history of present illness (mindkit.data.mimic.notes.extract_hpi)",
        "tokenizer": "lowercase; runs of letters, or numbers with an optional decimal part",
        "max_tokens": max_tokens, "min_count": min_count, "max_vocab": max_vocab,
        "vocab_size": len(vocab), "pad_id": 0, "unk_id": 1,
        "fitted_on": {"train_notes": int(train.sum())},
        "unk_share": {s: round(float(unk[(plan.split == k) & present].sum()
                                     / max(1, lengths[(plan.split == k) & present].sum())), 4)
                      for k, s in enumerate(SPLITS)},
    }
    note_ids = {int(i): n for i, n, p in zip(plan.ids, info["note_ids"], present) if p}
    return {"x": ids, "lengths": lengths, "present": present, "vocab": vocab, "prep": prep,
            "counts": counts, "note_ids": note_ids}


# --------------------------------------------------------------------------------------------
# the builder


def build_mimic(
    task: str,
    *,
    ehr_root: str | os.PathLike | None = None,
    cxr_root: str | os.PathLike | None = None,
    mode: str = "all",
    image_size: int = 64,
    resize: int | None = None,
    max_hours: int | None = DEFAULT_MAX_HOURS,
    views: Iterable[str] | None = ("AP",),
    standardize: bool = True,
    normalizer: str | os.PathLike | dict | None = None,
    leakage: str = "raise",
    missing_images: str = "raise",
    bad_values: str = "raise",
    uncertain: str = "zero",
    max_samples: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    discretizer_config: str | os.PathLike | None = None,
    modalities: Iterable[str] | str = DEFAULT_MODALITIES,
    notes_root: str | os.PathLike | None = None,
    tab_columns: Iterable[str] | str | None = None,
    tab_channels: Iterable[str] | str | None = None,
    notes_max_tokens: int = NOTES_MAX_TOKENS,
    notes_min_count: int = NOTES_MIN_COUNT,
    notes_max_vocab: int | None = NOTES_MAX_VOCAB,
) -> MultimodalDataset:
    """Build ``mimic_ihm`` (``task="ihm"``), ``mimic_pheno`` (``"pheno"``) or
    ``mimic_cxr_findings`` (``"findings"``); options as in the registered builders
    (:func:`build_ihm`, :func:`build_pheno`, :func:`build_findings`)."""
    t0 = time.perf_counter()
    check_choice("task", task, TASK_NAMES)
    name = TASK_NAMES[task]
    if task == "findings":
        mode = "image"
    check_choice("mode", mode, MODES)
    check_choice("leakage", leakage, ("raise", "drop"))
    check_choice("missing_images", missing_images, ("raise", "skip"))
    check_choice("bad_values", bad_values, ("raise", "drop"))
    check_choice("uncertain", uncertain, ("zero", "one"))
    image_size = check_number("image_size", image_size, 8, integer=True)
    resize = default_resize(image_size) if resize is None else check_number(
        "resize", resize, image_size, integer=True,
        hint="the shorter side before the centre crop to image_size, so at least image_size")
    if task == "ihm":
        max_hours = IHM_HOURS
    elif task == "pheno" and max_hours is not None:
        max_hours = check_number("max_hours", max_hours, 1, integer=True,
                                 hint="or None to keep whole stays")
    if max_samples is not None:
        max_samples = check_number("max_samples", max_samples, 1, integer=True,
                                   hint="or None for every sample")
    views = None if views is None else [str(v) for v in ([views] if isinstance(views, str)
                                                         else views)]
    seed = check_seed(seed)
    mods = _check_modalities(modalities, task, mode)
    extra = [m for m in mods if m not in DEFAULT_MODALITIES]
    unused = {"tab": [("tab_columns", tab_columns, None), ("tab_channels", tab_channels, None)],
              "notes": [("notes_root", notes_root, None),
                        ("notes_max_tokens", notes_max_tokens, NOTES_MAX_TOKENS),
                        ("notes_min_count", notes_min_count, NOTES_MIN_COUNT),
                        ("notes_max_vocab", notes_max_vocab, NOTES_MAX_VOCAB)]}
    for m, opts in unused.items():
        given = [k for k, v, d in opts if m not in mods and v != d]
        if given:
            raise ValueError(f"{given} given but {m!r} is not in modalities {mods}; add it, "
                             "e.g. modalities=('ts', 'cxr', 'tab', 'notes')")
    if "notes" in mods:  # numbers first: a bad value is named before any folder is looked up
        notes_max_tokens = check_number("notes_max_tokens", notes_max_tokens, 1, integer=True)
        notes_min_count = check_number("notes_min_count", notes_min_count, 1, integer=True)
        if notes_max_vocab is not None:
            notes_max_vocab = check_number("notes_max_vocab", notes_max_vocab, 1, integer=True,
                                           hint="or None for no limit")
    ehr, cxr = table_roots(ehr_root, cxr_root, need_ehr=task != "findings", need_cxr=True)
    disc = Discretizer(load_discretizer_config(discretizer_config)) if discretizer_config \
        else default_discretizer()
    tab_cols = tab_chans = None
    if "tab" in mods:
        tab_cols, tab_chans = check_tab_options(
            TAB_COLUMNS if tab_columns is None else tab_columns, tab_channels, disc)
    notes = None
    if "notes" in mods:
        notes = resolve_notes_root(notes_root)
    uses_ts = task != "findings" and mode != "image"
    if normalizer is not None and not (uses_ts and standardize):
        raise ValueError("normalizer is given but nothing is standardised (standardize=False, "
                         "or no time series in this dataset / mode)")
    user_norm = load_normalizer(normalizer)

    # ---- cache key: configuration + every table read (path, size, mtime)
    tables: list[Path] = [cxr / META_FILE, cxr / SPLIT_FILE]
    if task == "findings":
        tables.append(cxr / CHEXPERT_FILE)
        if ehr is not None:
            tables += [ehr / "root" / "all_stays.csv"]
            tables += [ehr / TASK_DIRS[t] / f"{s}_listfile.csv" for t in TASK_DIRS
                       for s in SPLITS if (ehr / TASK_DIRS[t]).is_dir()]
    else:
        tables += [ehr / "root" / "all_stays.csv"]
        tables += [ehr / TASK_DIRS[task] / f"{s}_listfile.csv" for s in SPLITS]
    lay = {p: (CXR_LAYOUT if cxr in p.parents else EHR_LAYOUT) for p in tables}
    if task != "findings" and not (ehr / TASK_DIRS[task]).is_dir():
        raise FileNotFoundError(f"task folder {ehr / TASK_DIRS[task]} does not exist; expected "
                                f"layout:\n{EHR_LAYOUT}")
    table_stats = [file_stat(require_file(p, "file", lay[p])) for p in tables]
    if notes is not None:
        table_stats.append(file_stat(notes_file(notes)))
    config = dict(
        version=CACHE_VERSION, task=task, mode=mode, image_size=image_size, resize=resize,
        max_hours=max_hours, views=views, leakage=leakage, missing_images=missing_images,
        bad_values=bad_values, uncertain=uncertain, max_samples=max_samples,
        seed=seed if max_samples is not None else None,
        ehr_root=str(ehr) if ehr else None, cxr_root=str(cxr),
        discretizer=cache_hash(disc.config) if uses_ts else None,
    )
    if extra:  # only then: the keys of entries without tab / notes stay as they were
        config["modalities"] = mods
        if "tab" in mods:
            config["tab_columns"] = tab_cols
        if "notes" in mods:
            config["notes_root"] = str(notes)
    key = cache_hash({"config": config, "tables": table_stats})
    cache_root = (Path(cache_dir).expanduser() if cache_dir is not None
                  else default_cache_dir()) / "mimic"
    entry = cache_root / f"{name}-{key}"
    n_labels = 1 if task == "ihm" else (25 if task == "pheno" else len(FINDINGS))

    plan = x_ts = ts_len = imgs = stored_norm = None
    ts_counts: dict[str, int] = {}
    extras: dict = {}
    cached = read_cache(entry, ehr, cxr, n_labels, uses_ts, bool(extra)) if use_cache else None
    hit = cached is not None
    if hit:
        plan, x_ts, ts_len, imgs, ts_counts, stored_norm, extras = cached
    else:
        if task == "findings":
            plan = plan_findings(ehr, cxr, views, leakage, missing_images, uncertain,
                                  max_samples, seed)
        else:
            plan = plan_stays(task, ehr, cxr, mode, views, leakage, missing_images,
                               max_samples, seed, max_hours)
        if uses_ts:
            t_max = max_hours if max_hours is not None else (
                max(disc.n_bins(e) for e in plan.ts_end) if len(plan.ts_end) else 1)
            x_ts, ts_len, ts_counts = _discretize_all(plan, ehr, disc, t_max, bad_values,
                                                      progress, name)
        imgs = _load_images(plan, cxr, image_size, resize, progress, name)
        if extra:
            extras = _read_extras(mods, plan, ehr, notes, tab_cols, progress, name)

    # ---- standardisation (fitted on train, saved with the cache, reused)
    norm = None
    if uses_ts and standardize:
        if user_norm is not None:
            norm = dict(user_norm, source="given")
        elif stored_norm is not None:
            norm = stored_norm
        else:
            n_train = int((plan.split == 0).sum())  # samples are grouped by split, train first
            if n_train == 0:
                raise ValueError(f"{name}: no train stays to fit the standardisation on")
            norm = dict(fit_normalizer(x_ts[:n_train], ts_len[:n_train],
                                       disc.continuous_columns),
                        source="fitted on the train split")

    if not hit and use_cache:
        write_cache(entry, plan, ehr, cxr, x_ts, ts_len, imgs, ts_counts,
                     norm if norm is not None and user_norm is None else None, config,
                     extras if extra else None)

    # ---- tab and notes (fitted on train, from the cached raw values)
    added: dict[str, dict] = {}
    if "tab" in mods:
        added["tab"] = _tab_modality(extras, plan, x_ts, ts_len, disc, tab_cols, tab_chans,
                                     bool(standardize))
    if "notes" in mods:
        added["notes"] = _notes_modality(extras, plan, notes_max_tokens, notes_min_count,
                                         notes_max_vocab)

    ds = assemble_dataset(task, name, mode, plan, x_ts, ts_len, imgs, norm, disc, image_size,
                   max_hours, ts_counts, ehr, cxr, added, notes)
    ds.options = dict(
        ehr_root=str(ehr) if ehr else None, cxr_root=str(cxr), mode=mode,
        image_size=image_size, resize=resize, views=views, standardize=bool(standardize),
        leakage=leakage, missing_images=missing_images, uncertain=uncertain,
        bad_values=bad_values, max_samples=max_samples, seed=seed,
    )
    if task == "pheno":
        ds.options["max_hours"] = max_hours
    if extra:
        ds.options["modalities"] = mods
    if "tab" in mods:
        ds.options.update(tab_columns=tab_cols, tab_channels=tab_chans)
    if "notes" in mods:
        ds.options.update(notes_root=str(notes), notes_max_tokens=notes_max_tokens,
                          notes_min_count=notes_min_count, notes_max_vocab=notes_max_vocab)
    if task == "findings":
        for k in ("mode", "standardize", "bad_values"):
            ds.options.pop(k)
    else:
        ds.options.pop("uncertain")
    ds.card["cache"] = {"dir": str(entry), "key": key, "hit": hit, "enabled": bool(use_cache),
                        "seconds": round(time.perf_counter() - t0, 3)}
    _announce(name, ds.card["dropped"], ts_counts)
    return ds


def _announce(name: str, dropped: dict[str, int], ts_counts: dict[str, int]) -> None:
    silent = {"not_drawn_max_samples", "images_other_views", "stays_without_image"}
    loud = {k: v for k, v in dropped.items() if v and k not in silent}
    if ts_counts.get("before_time_zero"):
        loud["events_before_time_zero"] = ts_counts["before_time_zero"]
    if ts_counts.get("bad_values"):
        loud["bad_values_dropped"] = ts_counts["bad_values"]
    if loud:
        warnings.warn(
            f"{name}: left out {', '.join(f'{v} {k}' for k, v in sorted(loud.items()))} "
            "(all counts in dataset.card['dropped'])",
            MimicDataWarning, stacklevel=3,
        )


# --------------------------------------------------------------------------------------------
# registered datasets


_IHM_DOC = """MIMIC-IV in-hospital mortality (binary) from the first 48 h, with the paired
    chest X-ray.

    Options:
        ehr_root, cxr_root: the two roots (default: ``$MINDKIT_MIMIC_EHR``,
            ``$MINDKIT_MIMIC_CXR``); layouts in :data:`EHR_LAYOUT` and :data:`CXR_LAYOUT`.
        mode: ``"all"`` every stay (time-series-only ones included), ``"paired"`` stays with
            an image, ``"image"`` the paired images alone (``cxr`` modality only).
        image_size: side S of the stored ``(1, S, S)`` images (default 64).
        resize: shorter side before the centre crop (default ``round(S * 256 / 224)``).
        views: ``ViewPosition`` values eligible for pairing (default AP; None: any).
        standardize: standardise the 12 continuous columns with train mean/std.
        normalizer: dict or JSON path (:func:`save_normalizer`) of statistics to use instead.
        leakage: ``"raise"`` refuses leaking splits; ``"drop"`` removes the leaking images.
        missing_images: ``"raise"`` or ``"skip"`` (use the latest eligible image that exists).
        bad_values: ``"raise"`` on an unparseable cell, or ``"drop"`` it (counted).
        max_samples: at most this many samples per split (seeded with ``seed``), for quick
            runs; drawn before any file is read.
        modalities: ``("ts", "cxr")`` (default), plus ``"tab"`` and/or ``"notes"`` (a list or
            a comma-separated string; not with ``mode="image"``).
        notes_root: MIMIC-IV-Note root for ``notes`` (default ``$MINDKIT_MIMIC_NOTE``); layout
            in :data:`NOTES_LAYOUT` (``note/discharge.csv.gz``).
        tab_columns: stay-table columns for ``tab`` (default ``age, gender, ethnicity``;
            numeric or categorical by their values; ids and outcome columns refused).
        tab_channels: time-series channels whose first value in the first 48 h joins ``tab``
            (default: the 12 continuous channels; ``()``: none).
        notes_max_tokens: tokens kept per note (default 300).
        notes_min_count, notes_max_vocab: a word enters the vocabulary fitted on the train
            notes if seen at least this often (default 2); at most this many words (default
            20,000; None: no limit).
        cache_dir: cache folder (default ``$MINDKIT_CACHE`` or ``data/cache/``);
            ``use_cache=False`` neither reads nor writes it.
        progress: tqdm bars during the first (uncached) load.

    ``tab``: imputed with train medians and flagged, categories one-hot over the train values,
    standardised with train statistics (with ``standardize``). ``notes``: the history of present
    illness of the discharge note, as token ids (0 padding, 1 unknown); discharge notes are
    written at discharge, so they leak information from after the 48 h window (see the card's
    caveats). Details in :mod:`mindkit.data.mimic`.
    """

_PHENO_DOC = """MIMIC-IV phenotyping (25 labels) over the ICU stay, with the paired chest X-ray.

    Options as :func:`build_ihm`, plus ``max_hours``: hours kept from the start of each stay
    (default 48; ``None`` keeps whole stays, so T is the longest stay: on the real data that is
    thousands of hours and tens of GB, so prefer a cap such as 96 or 168);
    ``lengths["ts"]`` holds each stay's (capped) length.
    Images are paired over the whole stay ``[intime, outtime]``. With ``tab``, first values
    come from the first 48 h (or ``max_hours`` when smaller); with ``notes``, the discharge
    note is written when the discharge diagnoses behind the labels are known, so even its
    history of present illness may name them.
    """

_FINDINGS_DOC = """MIMIC-CXR images with the 14 CheXpert findings (multilabel), to pre-train image
    teachers.

    Every image with a view in ``views`` (default AP, the ICU view) is one sample; its split
    comes from ``mimic-cxr-ehr-split.csv``. ``uncertain``: -1 labels become 0 (``"zero"``,
    the usual reading) or 1 (``"one"``); empty is 0. ``ehr_root`` (or
    ``$MINDKIT_MIMIC_EHR``), when given, lets the leakage guard check that no patient of the
    time-series val/test listfiles has an image in train. Other options as :func:`build_ihm`.
    """

# the options each dataset takes, in this order (their defaults: build_mimic's signature)
IHM_OPTIONS = ("ehr_root", "cxr_root", "mode", "image_size", "resize", "views", "standardize",
               "normalizer", "leakage", "missing_images", "bad_values", "max_samples", "seed",
               "modalities", "notes_root", "tab_columns", "tab_channels", "notes_max_tokens",
               "notes_min_count", "notes_max_vocab", "cache_dir", "use_cache", "progress")
PHENO_OPTIONS = (*IHM_OPTIONS[:3], "max_hours", *IHM_OPTIONS[3:])
FINDINGS_OPTIONS = ("cxr_root", "ehr_root", "image_size", "resize", "views", "uncertain",
                    "leakage", "missing_images", "max_samples", "seed", "cache_dir", "use_cache",
                    "progress")

build_ihm = register_variant("mimic_ihm", build_mimic, "ihm", IHM_OPTIONS, _IHM_DOC,
                             "build_ihm")
build_pheno = register_variant("mimic_pheno", build_mimic, "pheno", PHENO_OPTIONS, _PHENO_DOC,
                               "build_pheno")
build_findings = register_variant("mimic_cxr_findings", build_mimic, "findings",
                                  FINDINGS_OPTIONS, _FINDINGS_DOC, "build_findings")
