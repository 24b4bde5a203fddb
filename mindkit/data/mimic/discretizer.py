"""MIMIC-IV time series + MIMIC-CXR chest X-rays in the MedFuse layout (credentialed data).

Three datasets read a user's own copy of the data, laid out as the MedFuse / mimic3-benchmarks
extraction writes it (``reference/medfuse/FORMAT.md``; :data:`EHR_LAYOUT`, :data:`CXR_LAYOUT`):

- ``mimic_ihm``: in-hospital mortality from the first 48 h (binary, ``y`` float ``[N, 1]``);
- ``mimic_pheno``: 25 acute-care phenotypes of the stay (multilabel, ``y`` float ``[N, 25]``,
  names in :data:`PHENOTYPES`, the listfile order);
- ``mimic_cxr_findings``: the 14 CheXpert findings per image (multilabel, :data:`FINDINGS`), an
  image-only dataset for pre-training image teachers.

Roots come from the ``ehr_root`` / ``cxr_root`` options or the environment variables
``MINDKIT_MIMIC_EHR`` / ``MINDKIT_MIMIC_CXR``. :func:`mindkit.data.mimic_fake.make_fake_mimic_tree`
writes a small FAKE tree in the same layout (for tests and a credential-free demo); a tree with
the fake marker file is loaded as ``synthetic=True``.

**Modalities.** ``ts`` (``timeseries``, ``(T, 76)``): the standard 76 hourly features (below).
``cxr`` (``image``, ``(1, S, S)``, values in ``[0, 1]``): the image read with Pillow as
greyscale, shorter side resized to ``resize`` (default ``round(S * 256 / 224)``, MedFuse's
256 -> 224 ratio), centre-cropped to ``S = image_size`` (default 64, small enough for CPU).
The stored tensors are *not* augmented; :func:`augment_cxr` is the train-time augmentation
(random affine + brightness/contrast, torch only).

**The 76 features** (:data:`FEATURE_NAMES`; mimic3-benchmarks ``Discretizer`` with timestep 1 h,
``impute_strategy="previous"``, ``start_time="zero"``, masks stored; configuration shipped as
``mindkit/data/resources/medfuse_discretizer.json``). Per channel, in ``id_to_channel`` order,
either the one-hot columns of a categorical channel (``"<channel>-><value>"``, in the config's
``possible_values`` order) or the single value of a continuous channel (``"<channel>"``); then
17 masks (``"mask-><channel>"``) in channel order: 2 + 1 + 1 + 8 + 12 + 13 + 12 + 10 continuous
= 59 value columns, + 17 masks = 76. Hour bins ``k`` cover ``(k, k + 1]`` hours after ICU
admission (bin 0 also holds time 0); within a bin the last observed value wins; an empty bin
repeats the channel's previous value, or its normal value before any measurement; a mask is 1
where the bin held a real measurement. Events before time 0 are dropped (counted in the card);
events after the window are outside the task (counted, not warned about). A numeric
categorical value written differently (``"15.0"`` for GCS total ``"15"``) is matched by value.
Only the 12 continuous columns (:data:`CONTINUOUS_COLUMNS`) are standardised, with the mean and
std over the valid hourly steps of the *train* split's stays (mimic3-benchmarks' Normalizer);
the statistics are saved with the cache and in ``card["preprocessing"]``; pass
``normalizer=`` (a dict or a JSON file written by :func:`save_normalizer`) to reuse another
dataset's statistics (e.g. a teacher's).

**Windows.** ``mimic_ihm``: T = 48 fixed (``period_length`` 0 means 48). ``mimic_pheno``: the
whole stay is the window (``period_length`` hours), but the tensor keeps only the *first*
``max_hours`` hours (default 48: the same ``(48, 76)`` shape as ``mimic_ihm`` and the synthetic
sets, so the same encoders apply, and memory stays near 0.85 GB for all 59k stays; about half of
the stays are shorter than 48 h and are kept whole). ``lengths["ts"] = min(ceil(stay hours),
max_hours)`` (at least 1); ``max_hours=None`` keeps whole stays (T = the longest one).

**Pairing** (MedFuse): image metadata joined to ``root/all_stays.csv`` on ``subject_id``; keep
images whose study date-time lies in ``[intime, intime + 48 h]`` (mortality; later images would
leak the label) or ``[intime, outtime]`` (phenotyping), with ``ViewPosition`` in ``views``
(default AP only); take the latest per stay (ties: the later metadata row). ``mode``:

- ``"all"`` (default): every listfile stay; ``cxr`` present where a paired image exists
  (time-series-only samples included, ``present["cxr"]`` False and zeros);
- ``"paired"``: only stays with a paired image;
- ``"image"``: the paired stays' images alone (``cxr`` modality only) with the task's labels,
  to train an image teacher on the task without reading any time series.

Images of patients with no stay in the task have no task label, so they are not samples of
``mimic_ihm`` / ``mimic_pheno``; they are samples of ``mimic_cxr_findings``.

**Splits.** Stays: train / val / test from the listfiles (patient-level by construction; a
patient in two listfile splits is refused). A paired image follows its stay. Findings images:
``mimic-cxr-ehr-split.csv`` (``validate`` is ``val``). ``ids``: ``stay_id`` (ihm, pheno) or the
image index (findings). ``items[split]["ts"]`` holds stay ids, ``items[split]["cxr"]`` image
indices = the row of the dicom in ``mimic-cxr-2.0.0-metadata.csv`` (0-based, header excluded;
``card["cxr_dicoms"]`` maps the indices used back to ``dicom_id``).

**Leakage guard.** Image training data is every image the split file puts in ``train`` plus
the images of this dataset's train samples. If a patient of a val/test stay (or, for
findings, a val/test image) has an image there, the loader refuses with an error naming the
patients and images (``leakage="raise"``, default); ``leakage="drop"`` instead removes those
images (val/test stays lose their image; findings train images are dropped) and counts them.

**Errors and counts.** A missing folder, file or column, an unknown task or mode, a
malformed row (a non-numeric ``Hours``, an unknown categorical value, a label that is not 0/1)
raises an error naming the path, line and column and the expected layout.
``bad_values="drop"`` drops unparseable cells instead, and ``missing_images="skip"`` uses the
latest eligible image that exists. Everything left out is counted in ``card["dropped"]``
(zeros included) and announced with a :class:`MimicDataWarning`, except what the options ask
to leave out (other views, stays without an image in ``"paired"`` mode, ``max_samples``),
which is counted only; events outside the window are counted in ``card["events"]``.

**Cache.** The first load shows tqdm progress and writes the assembled samples, the discretised
(unstandardised) series, the uint8 images and the normaliser under
``cache_dir/mimic/<dataset>-<key>/`` (``cache_dir`` default ``$MINDKIT_CACHE`` or ``data/cache/``
at the repository root). ``key`` hashes the configuration, the discretiser configuration and
the path, size and modification time of every table read; the entry also records the path,
size and mtime of every time-series and image file used and is rebuilt when any of them
changes. A warm load reads no CSV and decodes no JPG (``benchmarks/mimic_cache.py``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import torch

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.registry import DATASETS, strict_options

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ENV_EHR, ENV_CXR, ENV_CACHE = "MINDKIT_MIMIC_EHR", "MINDKIT_MIMIC_CXR", "MINDKIT_CACHE"
FAKE_MARKER = "FAKE_MIMIC.json"  # written by mimic_fake into every fake root
CACHE_VERSION = 1
SPLITS = ("train", "val", "test")
TASK_DIRS = {"ihm": "in-hospital-mortality", "pheno": "phenotyping"}
TASK_NAMES = {"ihm": "mimic_ihm", "pheno": "mimic_pheno", "findings": "mimic_cxr_findings"}
MODES = ("all", "paired", "image")
IHM_HOURS = 48
DEFAULT_MAX_HOURS = 48
EPS = 1e-6
RESOURCES = Path(__file__).resolve().parent / "resources"
DISCRETIZER_CONFIG = RESOURCES / "medfuse_discretizer.json"

PHENOTYPES = [
    "Acute and unspecified renal failure",
    "Acute cerebrovascular disease",
    "Acute myocardial infarction",
    "Cardiac dysrhythmias",
    "Chronic kidney disease",
    "Chronic obstructive pulmonary disease and bronchiectasis",
    "Complications of surgical procedures or medical care",
    "Conduction disorders",
    "Congestive heart failure; nonhypertensive",
    "Coronary atherosclerosis and other heart disease",
    "Diabetes mellitus with complications",
    "Diabetes mellitus without complication",
    "Disorders of lipid metabolism",
    "Essential hypertension",
    "Fluid and electrolyte disorders",
    "Gastrointestinal hemorrhage",
    "Hypertension with complications and secondary hypertension",
    "Other liver diseases",
    "Other lower respiratory disease",
    "Other upper respiratory disease",
    "Pleurisy; pneumothorax; pulmonary collapse",
    "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
    "Respiratory failure; insufficiency; arrest (adult)",
    "Septicemia (except in labor)",
    "Shock",
]

FINDINGS = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
]

EHR_LAYOUT = """\
<ehr_root>/                                   (e.g. mimic-iv-extracted/)
  root/all_stays.csv                          subject_id, stay_id, intime, outtime, ...
  in-hospital-mortality/{train,val,test}_listfile.csv    stay,period_length,stay_id,y_true
  in-hospital-mortality/{train,test}/<subject>_episode<k>_timeseries.csv
  phenotyping/{train,val,test}_listfile.csv              stay,period_length,stay_id,<25 labels>
  phenotyping/{train,test}/<subject>_episode<k>_timeseries.csv
  (validation episodes live under train/; see reference/medfuse/FORMAT.md)"""

CXR_LAYOUT = """\
<cxr_root>/                                   (e.g. mimic-cxr-jpg/)
  mimic-cxr-2.0.0-metadata.csv                dicom_id, subject_id, study_id, ViewPosition,
                                              StudyDate (YYYYMMDD), StudyTime (HHMMSS.f)
  mimic-cxr-2.0.0-chexpert.csv                subject_id, study_id, <14 findings>
  mimic-cxr-ehr-split.csv                     dicom_id, study_id, subject_id, split
  **/<dicom_id>.jpg                           anywhere below the root (commonly resized/)"""

META_FILE = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT_FILE = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT_FILE = "mimic-cxr-ehr-split.csv"
META_COLUMNS = ["dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime"]
STAYS_COLUMNS = ["subject_id", "stay_id", "intime", "outtime"]


class MimicDataWarning(UserWarning):
    """Something was left out or adjusted while reading MIMIC data (counts in the card)."""


# ============================================================================================
# discretiser


def load_discretizer_config(path: str | os.PathLike | None = None) -> dict:
    """The discretiser configuration (the shipped MedFuse one unless ``path`` is given)."""
    path = Path(path) if path is not None else DISCRETIZER_CONFIG
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"discretiser configuration {path} is missing (it ships as package data "
            "mindkit/data/resources/medfuse_discretizer.json; reinstall mindkit)"
        ) from None
    for key in ("id_to_channel", "is_categorical_channel", "possible_values", "normal_values"):
        if key not in cfg:
            raise ValueError(f"{path}: discretiser configuration lacks the key {key!r}")
    return cfg


class Discretizer:
    """The mimic3-benchmarks Discretizer as MedFuse uses it (1 h bins from time 0, last value in
    a bin wins, forward fill with normal values, one mask per channel).

    ``feature_names`` lists the 76 output columns (see the module docstring);
    ``continuous_columns`` the 12 columns that are standardised; ``mask_columns`` the 17 masks.
    """

    def __init__(self, config: dict | None = None) -> None:
        cfg = config if config is not None else load_discretizer_config()
        self.config = cfg
        self.channels: list[str] = list(cfg["id_to_channel"])
        self.header = ["Hours", *self.channels]
        self.is_categorical: list[bool] = []
        self.possible_values: dict[str, list[str]] = {}
        names: list[str] = []
        begin: list[int] = []
        normal: list[float] = []
        self._lookup: list[dict[str, int] | None] = []
        self._numeric_lookup: list[dict[float, int]] = []
        for c in self.channels:
            for key in ("is_categorical_channel", "possible_values", "normal_values"):
                if c not in cfg[key]:
                    raise ValueError(f"discretiser configuration: {key} has no entry for {c!r}")
            cat = bool(cfg["is_categorical_channel"][c])
            self.is_categorical.append(cat)
            begin.append(len(names))
            norm = str(cfg["normal_values"][c])
            if cat:
                values = [str(v) for v in cfg["possible_values"][c]]
                if not values:
                    raise ValueError(f"discretiser configuration: categorical {c!r} has no values")
                if norm not in values:
                    raise ValueError(
                        f"discretiser configuration: normal value {norm!r} of {c!r} is not one "
                        f"of its possible values {values}"
                    )
                self.possible_values[c] = values
                names += [f"{c}->{v}" for v in values]
                lookup = {v: i for i, v in enumerate(values)}
                numeric = {}
                for i, v in enumerate(values):
                    f = _as_float(v)
                    if f is not None:
                        numeric.setdefault(f, i)
                self._lookup.append(lookup)
                self._numeric_lookup.append(numeric)
                normal.append(float(lookup[norm]))
            else:
                self.possible_values[c] = []
                names.append(c)
                self._lookup.append(None)
                self._numeric_lookup.append({})
                normal.append(float(norm))
        self.n_value_columns = len(names)
        names += [f"mask->{c}" for c in self.channels]
        self.feature_names: list[str] = names
        self.begin = np.asarray(begin, dtype=np.int64)
        self.normal_codes = np.asarray(normal, dtype=np.float64)
        self.continuous_columns = [
            int(b) for b, cat in zip(begin, self.is_categorical) if not cat
        ]
        self.mask_columns = list(range(self.n_value_columns, len(names)))
        self._cat_channels = [j for j, cat in enumerate(self.is_categorical) if cat]
        self._cont_channels = [j for j, cat in enumerate(self.is_categorical) if not cat]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @staticmethod
    def n_bins(end_hours: float) -> int:
        """Bins for a window ending at ``end_hours`` (mimic3-benchmarks' rule; at least 1)."""
        return max(1, int(end_hours + 1.0 - EPS))

    def _codes(self, j: int, raw: np.ndarray, source: str, rows: np.ndarray,
               bad_values: str) -> tuple[np.ndarray, np.ndarray]:
        """Parse the non-empty cells ``raw`` of channel ``j``: (codes, ok mask)."""
        channel = self.channels[j]
        lookup = self._lookup[j]
        if lookup is None:
            try:
                fast = raw.astype(np.float64)
            except ValueError:  # some cell is not a number: located cell by cell below
                fast = None
            if fast is not None and np.isfinite(fast).all():
                return fast, np.ones(len(raw), dtype=bool)
            vals = np.array([_as_float(v) for v in raw], dtype=object)
            ok = np.array([v is not None and math.isfinite(v) for v in vals], dtype=bool)
            expected = "a finite number"
        else:
            got = [lookup.get(v) for v in raw]
            if None not in got:
                return np.asarray(got, dtype=np.float64), np.ones(len(raw), dtype=bool)
            numeric = self._numeric_lookup[j]
            for i, g in enumerate(got):
                if g is None:
                    f = _as_float(raw[i])
                    got[i] = numeric.get(f) if f is not None else None
            vals = np.array(got, dtype=object)
            ok = np.array([g is not None for g in got], dtype=bool)
            expected = f"one of {self.possible_values[channel]}"
        if not ok.all() and bad_values == "raise":
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"{source}, data row {int(rows[i]) + 1}: column {channel!r} holds {str(raw[i])!r}; "
                f"expected {expected} (pass bad_values='drop' to drop such cells, counted)"
            )
        codes = np.zeros(len(raw), dtype=np.float64)
        codes[ok] = np.asarray([vals[i] for i in np.flatnonzero(ok)], dtype=np.float64)
        return codes, ok

    def transform(
        self,
        hours: np.ndarray,
        columns: list[np.ndarray],
        end_hours: float,
        source: str = "<array>",
        bad_values: str = "raise",
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Discretise one stay.

        ``hours``: event times (float, hours since ICU admission); ``columns``: for each channel
        in ``self.channels``, the cell strings of the same events (``""`` = not measured);
        ``end_hours``: the window end. Returns ``x`` (float32 ``[n_bins(end), 76]``,
        unstandardised) and event counts (``used``, ``before_time_zero``, ``after_window``,
        ``overwritten_in_bin``, ``bad_values``).
        """
        hours = np.asarray(hours, dtype=np.float64)
        if len(columns) != len(self.channels):
            raise ValueError(f"{source}: {len(columns)} channel columns for {len(self.channels)}")
        n_bins = self.n_bins(end_hours)
        counts = dict(used=0, before_time_zero=0, after_window=0, overwritten_in_bin=0,
                      bad_values=0)
        order = np.argsort(hours, kind="stable")
        hours = hours[order]
        before = hours < -EPS
        after = hours > end_hours + EPS
        bins = np.clip(np.trunc(hours - EPS), 0, n_bins - 1).astype(np.int64)
        n_ch = len(self.channels)
        codes = np.full((n_bins, n_ch), np.nan)
        mask = np.zeros((n_bins, n_ch), dtype=bool)
        for j in range(n_ch):
            col = np.asarray(columns[j], dtype=str)[order]
            filled = col != ""
            if not filled.any():
                continue
            counts["before_time_zero"] += int((filled & before).sum())
            counts["after_window"] += int((filled & after).sum())
            keep = filled & ~before & ~after
            if not keep.any():
                continue
            rows = order[keep]
            vals, ok = self._codes(j, np.char.strip(col[keep]), source, rows, bad_values)
            counts["bad_values"] += int((~ok).sum())
            b = bins[keep][ok]
            vals = vals[ok]
            if len(b) == 0:
                continue
            last = np.append(b[1:] != b[:-1], True)  # time-sorted: the last event per bin
            counts["used"] += int(len(b))
            counts["overwritten_in_bin"] += int(len(b) - last.sum())
            codes[b[last], j] = vals[last]
            mask[b[last], j] = True
        # forward fill: index of the last observed bin per channel (-1: none yet -> normal value)
        idx = np.where(mask, np.arange(n_bins)[:, None], -1)
        idx = np.maximum.accumulate(idx, axis=0)
        filled = np.take_along_axis(codes, np.maximum(idx, 0), axis=0)
        filled = np.where(idx >= 0, filled, self.normal_codes[None, :])
        x = np.zeros((n_bins, self.n_features), dtype=np.float32)
        cont = self._cont_channels
        x[:, self.begin[cont]] = filled[:, cont]
        steps = np.arange(n_bins)
        for j in self._cat_channels:
            x[steps, self.begin[j] + filled[:, j].astype(np.int64)] = 1.0
        x[:, self.n_value_columns:] = mask
        return x, counts

    def read(self, path: str | os.PathLike) -> tuple[np.ndarray, list[np.ndarray]]:
        """Read one ``*_timeseries.csv``: (hours, per-channel cell strings), layout checked."""
        path = Path(path)
        expected = ",".join(self.header)
        try:
            with path.open(newline="") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                rows = [r for r in reader if r]
        except FileNotFoundError:
            raise FileNotFoundError(
                f"time-series file {path} does not exist; expected layout:\n{EHR_LAYOUT}"
            ) from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: malformed CSV ({e}); expected the header {expected}") \
                from None
        if header is None:
            raise ValueError(f"{path} is empty; a time-series CSV starts with the header "
                             f"{expected}")
        header = [h.strip() for h in header]
        missing = [c for c in self.header if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; a time-series CSV has the "
                             f"header {expected}")
        width = len(header)
        for i, r in enumerate(rows):
            if len(r) != width:
                raise ValueError(f"{path}: data row {i + 1} has {len(r)} fields but the header "
                                 f"has {width}; expected the header {expected}")
        cols = list(zip(*rows)) if rows else [()] * width
        pos = {h: k for k, h in enumerate(header)}
        raw_hours = np.asarray(cols[pos["Hours"]], dtype=str)
        try:
            hours = raw_hours.astype(np.float64)
        except ValueError:  # some cell is not a number: NaN there, reported just below
            hours = np.array([_as_float(v) for v in raw_hours], dtype=object)
            hours = np.array([np.nan if v is None else v for v in hours], dtype=np.float64)
        bad = ~np.isfinite(hours)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}, data row {i + 1}: column 'Hours' holds {str(raw_hours[i])!r}; "
                "expected the event time in hours since ICU admission (a number)"
            )
        return hours, [np.asarray(cols[pos[c]], dtype=str) for c in self.channels]

    def transform_file(self, path, end_hours: float, bad_values: str = "raise"):
        hours, cols = self.read(path)
        return self.transform(hours, cols, end_hours, source=str(path), bad_values=bad_values)


def _as_float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


_DEFAULT_DISCRETIZER: Discretizer | None = None


def default_discretizer() -> Discretizer:
    global _DEFAULT_DISCRETIZER
    if _DEFAULT_DISCRETIZER is None:
        _DEFAULT_DISCRETIZER = Discretizer()
    return _DEFAULT_DISCRETIZER


FEATURE_NAMES: list[str] = default_discretizer().feature_names
"""The 76 ``ts`` feature columns, in order."""
CONTINUOUS_COLUMNS: list[int] = default_discretizer().continuous_columns
"""Positions of the 12 continuous (standardised) columns in :data:`FEATURE_NAMES`."""
MASK_COLUMNS: list[int] = default_discretizer().mask_columns
"""Positions of the 17 mask columns (the last 17)."""


# ============================================================================================
# standardisation


def fit_normalizer(x: np.ndarray, lengths: np.ndarray, columns: list[int] | None = None) -> dict:
    """Mean and std (ddof 1) of ``columns`` over the valid steps of ``x [N, T, F]``."""
    columns = CONTINUOUS_COLUMNS if columns is None else list(columns)
    valid = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    vals = x[:, :, columns][valid].astype(np.float64)
    if len(vals) < 2:
        raise ValueError("cannot fit the standardisation: fewer than 2 train time steps")
    mean = vals.mean(axis=0)
    std = vals.std(axis=0, ddof=1)
    std = np.where(std < 1e-7, 1.0, std)
    return {
        "columns": columns,
        "names": [FEATURE_NAMES[c] if len(FEATURE_NAMES) > c else str(c) for c in columns],
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "fitted_on": {"stays": int(x.shape[0]), "hourly_steps": int(valid.sum())},
    }


def apply_normalizer(x: np.ndarray, lengths: np.ndarray, stats: dict) -> np.ndarray:
    """Standardise ``stats["columns"]`` of ``x`` in place on valid steps (padding stays 0)."""
    cols = list(stats["columns"])
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    if len(cols) != len(mean) or len(cols) != len(std):
        raise ValueError("normalizer: columns, mean and std must have the same length")
    valid = (np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None])[..., None]
    sub = x[:, :, cols]
    x[:, :, cols] = np.where(valid, (sub - mean) / std, 0.0)
    return x


def save_normalizer(dataset_or_stats, path: str | os.PathLike) -> Path:
    """Write a dataset's time-series standardisation (or a stats dict) as JSON."""
    stats = dataset_or_stats
    if isinstance(dataset_or_stats, MultimodalDataset):
        stats = dataset_or_stats.card.get("preprocessing", {}).get("ts_standardization")
        if not stats:
            raise ValueError(f"dataset {dataset_or_stats.name!r} holds no ts standardisation")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stats, indent=1))
    return path


def _load_normalizer(normalizer) -> dict | None:
    if normalizer is None:
        return None
    if isinstance(normalizer, dict):
        stats = normalizer
    else:
        path = Path(normalizer)
        if not path.is_file():
            raise FileNotFoundError(f"normalizer file {path} does not exist "
                                    "(write one with mindkit.data.mimic.save_normalizer)")
        stats = json.loads(path.read_text())
    for key in ("columns", "mean", "std"):
        if key not in stats:
            raise ValueError(f"normalizer lacks {key!r}; expected keys columns, mean, std")
    return stats


# ============================================================================================
# images


def default_resize(image_size: int) -> int:
    return int(round(image_size * 256 / 224))


def load_cxr_image(path: str | os.PathLike, image_size: int = 64,
                   resize: int | None = None) -> np.ndarray:
    """One chest X-ray as uint8 ``[S, S]``: greyscale, shorter side to ``resize``, centre crop."""
    from PIL import Image, UnidentifiedImageError

    resize = default_resize(image_size) if resize is None else int(resize)
    if resize < image_size:
        raise ValueError(f"resize ({resize}) must be >= image_size ({image_size})")
    try:
        with Image.open(path) as im:
            im.draft("L", (resize, resize))  # JPEG: decode at a reduced scale (>= the request)
            im = im.convert("L")
            w, h = im.size
            r = resize / min(w, h)
            size = (max(resize, round(w * r)), max(resize, round(h * r)))
            im = im.resize(size, Image.Resampling.BILINEAR)
            left, top = (size[0] - image_size) // 2, (size[1] - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"image {path} does not exist; expected layout:\n{CXR_LAYOUT}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def augment_cxr(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    present: torch.Tensor | None = None,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.1,
    contrast: float = 0.1,
) -> torch.Tensor:
    """Train-time augmentation of a batch of images ``[B, C, H, W]`` in ``[0, 1]`` (new tensor).

    A random affine per image (rotation in ``+-degrees``, shift up to ``translate`` of the
    size, zoom in ``scale``; zero fill, bilinear) then brightness / contrast jitter, clipped to
    ``[0, 1]``. No flips (the heart's side matters). MedFuse trains with ``degrees=45,
    translate=0.15, scale=(0.85, 1.15)`` and no jitter. Rows where ``present`` is False are
    returned unchanged (absent images stay zero).
    """
    if x.dim() != 4:
        raise ValueError(f"augment_cxr expects [B, C, H, W], got shape {tuple(x.shape)}")
    b = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=generator)).to(dev)

    ang = u(-degrees, degrees) * math.pi / 180
    s = u(scale[0], scale[1])
    tx, ty = u(-translate, translate) * 2, u(-translate, translate) * 2
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
    c = u(1 - contrast, 1 + contrast).view(-1, 1, 1, 1)
    br = u(-brightness, brightness).view(-1, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * c + mean + br).clamp(0.0, 1.0)
    if present is not None:
        keep = present.to(dev).view(-1, 1, 1, 1)
        out = torch.where(keep, out, x)
    return out


class _ImageFinder:
    """Locates ``<dicom_id>.jpg`` below the CXR root: common places first, then a full walk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, Path] | None = None

    def find(self, dicom: str, subject: int, study: int) -> Path | None:
        if self._index is None:
            sub = str(subject)
            for p in (
                self.root / "resized" / f"{dicom}.jpg",
                self.root / f"{dicom}.jpg",
                self.root / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}" / f"{dicom}.jpg",
            ):
                if p.is_file():
                    return p
            self._index = {}
            for dirpath, _dirs, files in os.walk(self.root):
                for f in files:
                    if f.endswith(".jpg"):
                        self._index.setdefault(f[:-4], Path(dirpath) / f)
        return self._index.get(dicom)


# ============================================================================================
# tables


def _roots(ehr_root, cxr_root, need_ehr: bool, need_cxr: bool) -> tuple[Path | None, Path | None]:
    def one(value, env, what, layout, needed):
        value = value if value is not None else os.environ.get(env)
        if value is None or str(value) == "":
            if needed:
                raise FileNotFoundError(
                    f"no {what} root: pass {'ehr_root' if env == ENV_EHR else 'cxr_root'}=... "
                    f"or set the environment variable {env} to a folder laid out as:\n{layout}"
                )
            return None
        p = Path(value).expanduser().resolve()
        if not p.is_dir():
            raise FileNotFoundError(f"{what} root {p} does not exist or is not a folder; "
                                    f"expected a folder laid out as:\n{layout}")
        return p

    return (one(ehr_root, ENV_EHR, "MIMIC-IV time-series", EHR_LAYOUT, need_ehr),
            one(cxr_root, ENV_CXR, "MIMIC-CXR", CXR_LAYOUT, need_cxr))


def _require(path: Path, what: str, layout: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; expected layout:\n{layout}")
    return path


def _read_table(path: Path, columns: list[str], layout: str, **kw) -> "pd.DataFrame":
    import pandas as pd

    try:
        df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; expected columns {columns}:\n{layout}") from None
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: malformed CSV ({e}); expected columns {columns}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected columns {columns} "
                         f"(found {list(df.columns)}); layout:\n{layout}")
    return df


def _int_column(df: "pd.DataFrame", col: str, path: Path) -> np.ndarray:
    import pandas as pd

    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | (v != v.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: column {col!r} holds {df[col].iloc[i]!r}; "
                         "expected an integer id")
    return v.to_numpy().astype(np.int64)


def _datetime_column(df: "pd.DataFrame", col: str, path: Path) -> "pd.Series":
    import pandas as pd

    v = pd.to_datetime(df[col], errors="coerce")
    if v.isna().any():
        i = int(np.flatnonzero(v.isna().to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: column {col!r} holds {df[col].iloc[i]!r}; "
                         "expected a date-time such as 2150-01-01 08:00:00")
    return v


def read_listfiles(ehr_root: Path, task: str) -> "pd.DataFrame":
    """The three listfiles of ``task`` (``ihm``/``pheno``) as one table.

    Columns: ``split``, ``stay`` (file name), ``file`` (path relative to ``ehr_root``),
    ``stay_id``, ``period_length`` (hours; ihm: 48), ``line`` (1-based line in the listfile),
    ``listfile`` and the label columns (``y_true`` or the 25 :data:`PHENOTYPES`).
    """
    import pandas as pd

    tdir = ehr_root / TASK_DIRS[task]
    if not tdir.is_dir():
        raise FileNotFoundError(f"task folder {tdir} does not exist; expected layout:\n"
                                f"{EHR_LAYOUT}")
    labels = ["y_true"] if task == "ihm" else PHENOTYPES
    cols = ["stay", "period_length", "stay_id", *labels]
    frames = []
    for split in SPLITS:
        path = _require(tdir / f"{split}_listfile.csv", "listfile", EHR_LAYOUT)
        df = _read_table(path, cols, EHR_LAYOUT, dtype={"stay": str}, keep_default_na=False)
        df = df[cols].copy()
        df["stay"] = df["stay"].astype(str).str.strip()
        if (df["stay"] == "").any():
            i = int(np.flatnonzero((df["stay"] == "").to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: empty 'stay' (expected a file name such "
                             "as 10000032_episode1_timeseries.csv)")
        df["stay_id"] = _int_column(df, "stay_id", path)
        pl = pd.to_numeric(df["period_length"], errors="coerce")
        if pl.isna().any() or (pl < 0).any():
            i = int(np.flatnonzero((pl.isna() | (pl < 0)).to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: column 'period_length' holds "
                             f"{df['period_length'].iloc[i]!r}; expected hours >= 0")
        df["period_length"] = float(IHM_HOURS) if task == "ihm" else pl.astype(float)
        for c in labels:
            v = pd.to_numeric(df[c], errors="coerce")
            bad = ~v.isin([0, 1])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"{path}, line {i + 2}: label column {c!r} holds "
                                 f"{df[c].iloc[i]!r}; expected 0 or 1")
            df[c] = v.astype(np.float32)
        folder = "test" if split == "test" else "train"
        df["file"] = [f"{TASK_DIRS[task]}/{folder}/{s}" for s in df["stay"]]
        df["split"] = split
        df["line"] = np.arange(len(df)) + 2
        df["listfile"] = str(path)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    dup = out["stay_id"].duplicated(keep=False)
    if dup.any():
        rows = out[dup].head(4)
        where = "; ".join(f"{r.listfile} line {r.line}" for r in rows.itertuples())
        raise ValueError(f"stay_id {int(rows['stay_id'].iloc[0])} is listed more than once in "
                         f"the {TASK_DIRS[task]} listfiles ({where}); each stay belongs to one "
                         "split")
    return out


def read_all_stays(ehr_root: Path) -> "pd.DataFrame":
    path = _require(ehr_root / "root" / "all_stays.csv", "stay table", EHR_LAYOUT)
    df = _read_table(path, STAYS_COLUMNS, EHR_LAYOUT)
    out = df[STAYS_COLUMNS].copy()
    out["subject_id"] = _int_column(df, "subject_id", path)
    out["stay_id"] = _int_column(df, "stay_id", path)
    out["intime"] = _datetime_column(df, "intime", path)
    out["outtime"] = _datetime_column(df, "outtime", path)
    return out.drop_duplicates("stay_id", keep="first")


def read_cxr_metadata(cxr_root: Path) -> "pd.DataFrame":
    """Image metadata with ``index`` (row, 0-based) and ``when`` (study date-time)."""
    import pandas as pd

    path = _require(cxr_root / META_FILE, "image metadata", CXR_LAYOUT)
    df = _read_table(path, META_COLUMNS, CXR_LAYOUT,
                     dtype={"dicom_id": str, "ViewPosition": str, "StudyDate": str,
                            "StudyTime": str})
    out = pd.DataFrame({
        "index": np.arange(len(df), dtype=np.int64),
        "dicom_id": df["dicom_id"].astype(str).str.strip(),
        "subject_id": _int_column(df, "subject_id", path),
        "study_id": _int_column(df, "study_id", path),
        "view": df["ViewPosition"].fillna("").astype(str).str.strip(),
    })
    date = df["StudyDate"].fillna("").astype(str).str.strip().str.slice(0, 8)
    tnum = pd.to_numeric(df["StudyTime"], errors="coerce")
    bad_t = tnum.isna() | (tnum < 0) | (tnum >= 240000)
    when = pd.to_datetime(date + tnum.fillna(0).astype(np.int64).map("{:06d}".format),
                          format="%Y%m%d%H%M%S", errors="coerce")
    bad = bad_t | when.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, line {i + 2}: StudyDate {df['StudyDate'].iloc[i]!r} / StudyTime "
            f"{df['StudyTime'].iloc[i]!r} is not a valid date-time (expected YYYYMMDD and "
            "HHMMSS.f, e.g. 21800506 and 213014.531)"
        )
    out["when"] = when
    dup = out["dicom_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: dicom_id {out['dicom_id'].iloc[i]!r} appears "
                         "twice; each image has one metadata row")
    return out


def read_cxr_split(cxr_root: Path) -> "pd.DataFrame":
    path = _require(cxr_root / SPLIT_FILE, "image split file", CXR_LAYOUT)
    cols = ["dicom_id", "study_id", "subject_id", "split"]
    df = _read_table(path, cols, CXR_LAYOUT, dtype={"dicom_id": str, "split": str})
    out = df[cols].copy()
    out["dicom_id"] = out["dicom_id"].astype(str).str.strip()
    out["subject_id"] = _int_column(df, "subject_id", path)
    s = out["split"].astype(str).str.strip().str.lower().replace({"validate": "val"})
    bad = ~s.isin(SPLITS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: split {df['split'].iloc[i]!r}; expected train, "
                         "validate or test")
    out["split"] = s
    dup = out["dicom_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: dicom_id {out['dicom_id'].iloc[i]!r} is "
                         "assigned twice; each image belongs to one split")
    return out


def read_chexpert(cxr_root: Path, uncertain: str = "zero") -> "pd.DataFrame":
    """CheXpert labels per study: 1 -> 1; 0 and empty -> 0; -1 (uncertain) -> ``uncertain``."""
    import pandas as pd

    path = _require(cxr_root / CHEXPERT_FILE, "CheXpert label file", CXR_LAYOUT)
    df = _read_table(path, ["subject_id", "study_id", *FINDINGS], CXR_LAYOUT)
    out = pd.DataFrame({"subject_id": _int_column(df, "subject_id", path),
                        "study_id": _int_column(df, "study_id", path)})
    for c in FINDINGS:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = ~(v.isna() | v.isin([1, 0, -1])) | (df[c].notna() & v.isna())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: column {c!r} holds {df[c].iloc[i]!r}; "
                             "expected 1, 0, -1 or empty")
        v = v.fillna(0)
        out[c] = np.where(v == -1, 1.0 if uncertain == "one" else 0.0, v).astype(np.float32)
    return out.drop_duplicates("study_id", keep="first")


def pair_images(stays: "pd.DataFrame", meta: "pd.DataFrame", window: str,
                views: Iterable[str] | None = ("AP",)) -> "pd.DataFrame":
    """Every eligible image per stay, latest first (MedFuse's rule, see the module docstring).

    ``stays``: ``stay_id, subject_id, intime, outtime``; ``meta``: from
    :func:`read_cxr_metadata`; ``window``: ``"ihm"`` (``[intime, intime + 48 h]``) or
    ``"stay"`` (``[intime, outtime]``). Returns ``stay_id, index, dicom_id, subject_id,
    study_id, when, rank`` (rank 0 = the latest; ties broken by the later metadata row).
    """
    import pandas as pd

    m = meta if views is None else meta[meta["view"].isin(list(views))]
    j = m.merge(stays[["stay_id", "subject_id", "intime", "outtime"]], on="subject_id",
                how="inner")
    end = j["intime"] + pd.Timedelta(hours=IHM_HOURS) if window == "ihm" else j["outtime"]
    j = j[(j["when"] >= j["intime"]) & (j["when"] <= end)]
    j = j.sort_values(["stay_id", "when", "index"], ascending=[True, False, False],
                      kind="stable")
    j = j.assign(rank=j.groupby("stay_id").cumcount())
    return j[["stay_id", "index", "dicom_id", "subject_id", "study_id", "when", "rank"]]


# ============================================================================================
# leakage guard


def check_image_leakage(train_images: "pd.DataFrame", eval_subjects: Iterable[int],
                        what: str) -> "pd.DataFrame":
    """Rows of ``train_images`` (``subject_id``, ``dicom_id``, ``source``) whose patient is in
    ``eval_subjects`` (a validation or test patient); empty when there is no leakage."""
    ev = set(int(s) for s in eval_subjects)
    return train_images[train_images["subject_id"].isin(ev)]


def _leak_error(bad: "pd.DataFrame", what: str) -> ValueError:
    subj = sorted(set(int(s) for s in bad["subject_id"]))
    ex = ", ".join(f"{r.dicom_id} (subject {r.subject_id}, {r.source})"
                   for r in bad.head(3).itertuples())
    return ValueError(
        f"{what}: refusing a split that leaks: {len(bad)} image(s) of {len(subj)} validation/"
        f"test patient(s) (e.g. subjects {subj[:5]}) are in image training data: {ex}. "
        f"{SPLIT_FILE} must put every image of a patient in the time-series val/test listfiles "
        "into validate/test, and image training must not use val/test patients. Fix the split "
        "file, or pass leakage='drop' to remove those images (counted in the card)."
    )


# ============================================================================================
# cache


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data" / "cache"
    return Path.home() / ".cache" / "mindkit"


def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path), int(st.st_size), int(st.st_mtime_ns)]


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _data_file_stats(root: Path | None, rel: list[str]) -> list[list[int]]:
    out = []
    for r in rel:
        st = (root / r).stat()
        out.append([int(st.st_size), int(st.st_mtime_ns)])
    return out


def _stats_match(root: Path | None, rel: list[str], stats: list) -> bool:
    if len(rel) != len(stats):
        return False
    for r, (size, mtime) in zip(rel, stats):
        try:
            st = (root / r).stat()
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


# ============================================================================================
# the plan: which samples, which files (everything but the arrays)


@dataclass
class _Plan:
    split: np.ndarray  # int8 per sample: 0 train, 1 val, 2 test
    ids: np.ndarray  # int64: stay_id or image index
    y: np.ndarray  # float32 [N, C]
    ts_files: list[str]  # per sample (relative to ehr_root), "" without ts
    ts_end: np.ndarray  # float64 window end in hours
    cxr_files: list[str]  # per sample (relative to cxr_root), "" without image
    cxr_index: np.ndarray  # int64 metadata row, -1 without image
    dicoms: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "split": self.split.tolist(), "ids": self.ids.tolist(), "y": self.y.tolist(),
            "ts_files": self.ts_files, "ts_end": self.ts_end.tolist(),
            "cxr_files": self.cxr_files, "cxr_index": self.cxr_index.tolist(),
            "dicoms": self.dicoms, "dropped": self.dropped, "info": self.info,
        }

    @classmethod
    def from_json(cls, d: dict, n_labels: int) -> "_Plan":
        return cls(
            split=np.asarray(d["split"], dtype=np.int8),
            ids=np.asarray(d["ids"], dtype=np.int64),
            y=np.asarray(d["y"], dtype=np.float32).reshape(-1, n_labels),
            ts_files=list(d["ts_files"]), ts_end=np.asarray(d["ts_end"], dtype=np.float64),
            cxr_files=list(d["cxr_files"]), cxr_index=np.asarray(d["cxr_index"], dtype=np.int64),
            dicoms=list(d["dicoms"]), dropped=dict(d["dropped"]), info=dict(d["info"]),
        )


def _subsample(split_codes: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    """Positions kept: all, or at most ``max_samples`` per split (seeded), in original order."""
    if max_samples is None:
        return np.arange(len(split_codes))
    rng = np.random.default_rng([int(seed), 4241])
    keep = []
    for s in range(len(SPLITS)):
        pos = np.flatnonzero(split_codes == s)
        if len(pos) > max_samples:
            pos = np.sort(rng.choice(pos, size=max_samples, replace=False))
        keep.append(pos)
    return np.sort(np.concatenate(keep))


def _locate(finder: _ImageFinder, cxr_root: Path, cand: "pd.DataFrame") -> list[str]:
    out = []
    for r in cand.itertuples():
        p = finder.find(r.dicom_id, r.subject_id, r.study_id)
        out.append("" if p is None else str(p.relative_to(cxr_root)))
    return out


def _missing_image_error(cand_row, cxr_root: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"image {cand_row.dicom_id}.jpg (subject {cand_row.subject_id}, study "
        f"{cand_row.study_id}) is listed in {cxr_root / META_FILE} but no such file exists "
        f"below {cxr_root}; expected layout:\n{CXR_LAYOUT}\n(pass missing_images='skip' to use "
        "the latest eligible image that exists, counted in the card)"
    )


def _plan_stays(task: str, ehr_root: Path, cxr_root: Path, mode: str, views, leakage: str,
                missing_images: str, max_samples: int | None, seed: int,
                max_hours: int | None) -> _Plan:
    import pandas as pd

    dropped: dict[str, int] = {}
    lst = read_listfiles(ehr_root, task)
    stays = read_all_stays(ehr_root)
    lst = lst.merge(stays, on="stay_id", how="left")
    no_row = lst["subject_id"].isna()
    dropped["stays_not_in_all_stays_unpaired"] = int(no_row.sum())
    if no_row.any():  # subject from the file name, no pairing possible (no intime)
        subj = lst.loc[no_row, "stay"].str.extract(r"^(\d+)_episode")[0]
        if subj.isna().any():
            r = lst[no_row][subj.isna()].iloc[0]
            raise ValueError(f"{r.listfile}, line {r.line}: stay_id {r.stay_id} is not in "
                             f"{ehr_root / 'root/all_stays.csv'} and the file name {r.stay!r} "
                             "does not start with <subject>_episode")
        lst.loc[no_row, "subject_id"] = subj.astype(np.int64)
    lst["subject_id"] = lst["subject_id"].astype(np.int64)

    # patient-level splits
    subj_splits = lst.groupby("subject_id")["split"].nunique()
    multi = subj_splits[subj_splits > 1]
    if len(multi):
        s = int(multi.index[0])
        where = sorted(set(lst.loc[lst["subject_id"] == s, "split"]))
        raise ValueError(f"{TASK_DIRS[task]} listfiles are not patient-level: {len(multi)} "
                         f"patient(s) have stays in several splits (e.g. subject {s} in {where})")

    # files exist
    for r in lst.itertuples():
        if not (ehr_root / r.file).is_file():
            raise FileNotFoundError(
                f"{r.listfile}, line {r.line} lists {r.stay!r} but {ehr_root / r.file} does not "
                f"exist; expected layout:\n{EHR_LAYOUT}"
            )

    # pairing
    meta = read_cxr_metadata(cxr_root)
    split_file = read_cxr_split(cxr_root)
    window = "ihm" if task == "ihm" else "stay"
    cand = pair_images(lst[~no_row][["stay_id", "subject_id", "intime", "outtime"]], meta,
                       window, views)
    eligible = cand.groupby("stay_id").size()
    finder = _ImageFinder(cxr_root)
    if missing_images == "raise":
        cand = cand[cand["rank"] == 0]
        files = _locate(finder, cxr_root, cand)
        for f, r in zip(files, cand.itertuples()):
            if not f:
                raise _missing_image_error(r, cxr_root)
        dropped["images_missing_file"] = 0
        dropped["stays_image_missing_file"] = 0
    else:
        files = _locate(finder, cxr_root, cand)
        cand = cand.assign(file=files)
        n_missing = int((cand["file"] == "").sum())
        with_any = set(cand["stay_id"])
        cand = cand[cand["file"] != ""]
        dropped["images_missing_file"] = n_missing
        dropped["stays_image_missing_file"] = len(with_any - set(cand["stay_id"]))
        cand = cand.groupby("stay_id", sort=False).head(1)
        files = list(cand["file"])
    chosen = cand.assign(file=files).set_index("stay_id")

    # leakage guard: image training data vs val/test patients
    eval_subjects = set(lst.loc[lst["split"] != "train", "subject_id"])
    paired_train = chosen[chosen.index.isin(lst.loc[lst["split"] == "train", "stay_id"])]
    train_images = pd.concat([
        split_file.loc[split_file["split"] == "train", ["subject_id", "dicom_id"]].assign(
            source=f"train in {SPLIT_FILE}"),
        paired_train[["subject_id", "dicom_id"]].assign(source="paired with a train stay"),
    ], ignore_index=True)
    bad = check_image_leakage(train_images, eval_subjects, TASK_NAMES[task])
    dropped["val_test_stays_image_removed_for_leakage"] = 0
    if len(bad):
        if leakage == "raise":
            raise _leak_error(bad, TASK_NAMES[task])
        leaky = set(int(s) for s in bad["subject_id"])
        drop = chosen["subject_id"].isin(leaky)
        dropped["val_test_stays_image_removed_for_leakage"] = int(drop.sum())
        chosen = chosen[~drop]

    lst = lst.assign(has_img=lst["stay_id"].isin(chosen.index))
    if mode in ("paired", "image"):
        dropped["stays_without_image"] = int((~lst["has_img"]).sum())
        lst = lst[lst["has_img"]]
    else:
        dropped["stays_without_image"] = 0
    lst = lst.iloc[np.argsort(lst["split"].map({s: i for i, s in enumerate(SPLITS)}).to_numpy(),
                              kind="stable")]  # samples grouped by split (contiguous blocks)
    split_codes = lst["split"].map({s: i for i, s in enumerate(SPLITS)}).to_numpy(np.int8)
    keep = _subsample(split_codes, max_samples, seed)
    dropped["not_drawn_max_samples"] = int(len(lst) - len(keep))
    lst = lst.iloc[keep]
    split_codes = split_codes[keep]

    labels = ["y_true"] if task == "ihm" else PHENOTYPES
    ch = chosen.reindex(lst["stay_id"])
    has = lst["has_img"].to_numpy()
    ends = lst["period_length"].to_numpy(np.float64)
    if max_hours is not None:
        ends = np.minimum(ends, float(max_hours))
    info = {
        "stays": int(len(lst)),
        "eligible_images_per_paired_stay": round(float(
            eligible.reindex(lst.loc[has, "stay_id"]).mean()), 3) if has.any() else 0.0,
        "window": "[intime, intime + 48 h]" if task == "ihm" else "[intime, outtime]",
        "views": list(views) if views is not None else "all",
    }
    return _Plan(
        split=split_codes,
        ids=lst["stay_id"].to_numpy(np.int64),
        y=lst[labels].to_numpy(np.float32).reshape(len(lst), len(labels)),
        ts_files=[] if mode == "image" else list(lst["file"]),
        ts_end=ends,
        cxr_files=[f if h else "" for f, h in zip(ch["file"].fillna("").tolist(), has)],
        cxr_index=np.where(has, ch["index"].fillna(-1).to_numpy(), -1).astype(np.int64),
        dicoms=[d if h else "" for d, h in zip(ch["dicom_id"].fillna("").tolist(), has)],
        dropped=dropped,
        info=info,
    )


def _ehr_eval_subjects(ehr_root: Path | None) -> tuple[set[int], list[str]]:
    """Subjects of the val/test listfiles of every task found under ``ehr_root``."""
    import pandas as pd

    subjects: set[int] = set()
    used = []
    if ehr_root is None:
        return subjects, used
    stays = None
    for task, folder in TASK_DIRS.items():
        if not (ehr_root / folder).is_dir():
            continue
        lst = read_listfiles(ehr_root, task)
        if stays is None:
            stays = read_all_stays(ehr_root)
        ev = lst[lst["split"] != "train"]
        sub = ev.merge(stays[["stay_id", "subject_id"]], on="stay_id", how="left")["subject_id"]
        from_name = ev["stay"].str.extract(r"^(\d+)_episode")[0]
        sub = sub.fillna(pd.to_numeric(from_name, errors="coerce")).dropna()
        subjects |= set(int(s) for s in sub)
        used.append(folder)
    if not used:
        raise FileNotFoundError(f"{ehr_root} holds neither task folder; expected layout:\n"
                                f"{EHR_LAYOUT}")
    return subjects, used


def _plan_findings(ehr_root: Path | None, cxr_root: Path, views, leakage: str,
                   missing_images: str, uncertain: str, max_samples: int | None,
                   seed: int) -> _Plan:
    dropped: dict[str, int] = {}
    meta = read_cxr_metadata(cxr_root)
    split_file = read_cxr_split(cxr_root)
    labels = read_chexpert(cxr_root, uncertain)
    n_all = len(meta)
    m = meta if views is None else meta[meta["view"].isin(list(views))]
    dropped["images_other_views"] = int(n_all - len(m))  # by design (views), reported
    m = m.merge(split_file[["dicom_id", "split"]], on="dicom_id", how="left")
    dropped["images_without_split"] = int(m["split"].isna().sum())
    m = m[m["split"].notna()]
    m = m.merge(labels.drop(columns="subject_id"), on="study_id", how="left")
    no_lab = m[FINDINGS[0]].isna()
    dropped["images_without_chexpert_labels"] = int(no_lab.sum())
    m = m[~no_lab]

    # leakage guard
    ehr_eval, tasks_checked = _ehr_eval_subjects(ehr_root)
    eval_subjects = ehr_eval | set(m.loc[m["split"] != "train", "subject_id"])
    eval_subjects |= set(split_file.loc[split_file["split"] != "train", "subject_id"])
    train = m[m["split"] == "train"]
    bad = check_image_leakage(
        train.assign(source=f"train in {SPLIT_FILE}")[["subject_id", "dicom_id", "source"]],
        eval_subjects, "mimic_cxr_findings")
    dropped["train_images_removed_for_leakage"] = 0
    if len(bad):
        if leakage == "raise":
            raise _leak_error(bad, "mimic_cxr_findings")
        dropped["train_images_removed_for_leakage"] = int(len(bad))
        m = m[~m["dicom_id"].isin(set(bad["dicom_id"]))]

    m = m.iloc[np.argsort(m["split"].map({s: i for i, s in enumerate(SPLITS)}).to_numpy(),
                          kind="stable")]
    split_codes = m["split"].map({s: i for i, s in enumerate(SPLITS)}).to_numpy(np.int8)
    keep = _subsample(split_codes, max_samples, seed)
    dropped["not_drawn_max_samples"] = int(len(m) - len(keep))
    m = m.iloc[keep]
    split_codes = split_codes[keep]

    finder = _ImageFinder(cxr_root)
    files = _locate(finder, cxr_root, m)
    missing = np.array([f == "" for f in files], dtype=bool)
    if missing.any() and missing_images == "raise":
        raise _missing_image_error(next(m[missing].itertuples()), cxr_root)
    dropped["images_missing_file"] = int(missing.sum())
    m = m[~missing]
    split_codes = split_codes[~missing]
    files = [f for f, x in zip(files, missing) if not x]
    info = {
        "views": list(views) if views is not None else "all",
        "uncertain": uncertain,
        "leakage_checked_against": (["image split file"] + [f"{t} listfiles" for t in
                                                               tasks_checked]),
    }
    if not tasks_checked:
        info["leakage_note"] = ("no ehr_root: images were checked against the image split "
                                "file only, not against the time-series val/test patients")
    n = len(m)
    return _Plan(
        split=split_codes,
        ids=m["index"].to_numpy(np.int64),
        y=m[FINDINGS].to_numpy(np.float32).reshape(n, len(FINDINGS)),
        ts_files=[], ts_end=np.zeros(n),
        cxr_files=files, cxr_index=m["index"].to_numpy(np.int64),
        dicoms=list(m["dicom_id"]), dropped=dropped, info=info,
    )


# ============================================================================================
# arrays


def _progress(it, total: int, desc: str, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, mininterval=0.5, ncols=100)


def _discretize_all(plan: _Plan, ehr_root: Path, disc: Discretizer, t_max: int,
                    bad_values: str, progress: bool, label: str):
    n = len(plan.ts_files)
    lengths = np.array([disc.n_bins(e) for e in plan.ts_end], dtype=np.int64)
    x = np.zeros((n, t_max, disc.n_features), dtype=np.float32)
    totals = dict(used=0, before_time_zero=0, after_window=0, overwritten_in_bin=0,
                  bad_values=0)
    for i in _progress(range(n), n, f"{label}: discretising time series", progress):
        xi, c = disc.transform_file(ehr_root / plan.ts_files[i], float(plan.ts_end[i]),
                                    bad_values)
        x[i, : len(xi)] = xi[:t_max]
        for k, v in c.items():
            totals[k] += v
    return x, np.minimum(lengths, t_max), totals


def _load_images(plan: _Plan, cxr_root: Path, image_size: int, resize: int, progress: bool,
                 label: str) -> np.ndarray:
    pos = [i for i, f in enumerate(plan.cxr_files) if f]
    out = np.zeros((len(pos), image_size, image_size), dtype=np.uint8)
    for k in _progress(range(len(pos)), len(pos), f"{label}: loading chest X-rays", progress):
        out[k] = load_cxr_image(cxr_root / plan.cxr_files[pos[k]], image_size, resize)
    return out


# ============================================================================================
# the builder


def _choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; use one of {list(allowed)}")
    return value


def _is_fake(*roots: Path | None) -> bool:
    return any(r is not None and (r / FAKE_MARKER).is_file() for r in roots)


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
) -> MultimodalDataset:
    """Build ``mimic_ihm`` (``task="ihm"``), ``mimic_pheno`` (``"pheno"``) or
    ``mimic_cxr_findings`` (``"findings"``); options as in the registered builders."""
    t0 = time.perf_counter()
    _choice("task", task, TASK_NAMES)
    name = TASK_NAMES[task]
    if task == "findings":
        mode = "image"
    _choice("mode", mode, MODES)
    _choice("leakage", leakage, ("raise", "drop"))
    _choice("missing_images", missing_images, ("raise", "skip"))
    _choice("bad_values", bad_values, ("raise", "drop"))
    _choice("uncertain", uncertain, ("zero", "one"))
    image_size = int(image_size)
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    resize = default_resize(image_size) if resize is None else int(resize)
    if resize < image_size:
        raise ValueError(f"resize ({resize}) must be >= image_size ({image_size})")
    if task == "ihm":
        max_hours = IHM_HOURS
    elif task == "pheno" and max_hours is not None:
        max_hours = int(max_hours)
        if max_hours < 1:
            raise ValueError(f"max_hours must be >= 1 or None, got {max_hours}")
    if max_samples is not None:
        max_samples = int(max_samples)
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 or None, got {max_samples}")
    views = None if views is None else [str(v) for v in ([views] if isinstance(views, str)
                                                         else views)]
    seed = int(seed)
    ehr, cxr = _roots(ehr_root, cxr_root, need_ehr=task != "findings", need_cxr=True)
    disc = Discretizer(load_discretizer_config(discretizer_config)) if discretizer_config \
        else default_discretizer()
    uses_ts = task != "findings" and mode != "image"
    if normalizer is not None and not (uses_ts and standardize):
        raise ValueError("normalizer is given but nothing is standardised (standardize=False, "
                         "or no time series in this dataset / mode)")
    user_norm = _load_normalizer(normalizer)

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
    table_stats = [_stat(_require(p, "file", lay[p])) for p in tables]
    config = dict(
        version=CACHE_VERSION, task=task, mode=mode, image_size=image_size, resize=resize,
        max_hours=max_hours, views=views, leakage=leakage, missing_images=missing_images,
        bad_values=bad_values, uncertain=uncertain, max_samples=max_samples,
        seed=seed if max_samples is not None else None,
        ehr_root=str(ehr) if ehr else None, cxr_root=str(cxr),
        discretizer=_hash(disc.config) if uses_ts else None,
    )
    key = _hash({"config": config, "tables": table_stats})
    cache_root = (Path(cache_dir).expanduser() if cache_dir is not None
                  else default_cache_dir()) / "mimic"
    entry = cache_root / f"{name}-{key}"
    n_labels = 1 if task == "ihm" else (25 if task == "pheno" else len(FINDINGS))

    plan = x_ts = ts_len = imgs = stored_norm = None
    ts_counts: dict[str, int] = {}
    hit = False
    if use_cache and (entry / "manifest.json").is_file():
        man = json.loads((entry / "manifest.json").read_text())
        cand = _Plan.from_json(man["plan"], n_labels)
        ok = _stats_match(ehr, [f for f in cand.ts_files], man["ts_file_stats"]) and \
            _stats_match(cxr, [f for f in cand.cxr_files if f], man["cxr_file_stats"])
        if ok:
            plan, ts_counts, stored_norm = cand, man["ts_counts"], man.get("normalizer")
            if uses_ts:
                x_ts = np.load(entry / "ts.npy")
                ts_len = np.load(entry / "ts_len.npy")
            imgs = np.load(entry / "cxr.npy")
            hit = True

    if plan is None:
        if task == "findings":
            plan = _plan_findings(ehr, cxr, views, leakage, missing_images, uncertain,
                                  max_samples, seed)
        else:
            plan = _plan_stays(task, ehr, cxr, mode, views, leakage, missing_images,
                               max_samples, seed, max_hours)
        if uses_ts:
            t_max = max_hours if max_hours is not None else (
                max(disc.n_bins(e) for e in plan.ts_end) if len(plan.ts_end) else 1)
            x_ts, ts_len, ts_counts = _discretize_all(plan, ehr, disc, t_max, bad_values,
                                                      progress, name)
        imgs = _load_images(plan, cxr, image_size, resize, progress, name)

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
        _write_cache(entry, plan, ehr, cxr, x_ts, ts_len, imgs, ts_counts,
                     norm if norm is not None and user_norm is None else None, config)

    ds = _assemble(task, name, mode, plan, x_ts, ts_len, imgs, norm, disc, image_size,
                   max_hours, ts_counts, ehr, cxr)
    ds.options = dict(
        ehr_root=str(ehr) if ehr else None, cxr_root=str(cxr), mode=mode,
        image_size=image_size, resize=resize, views=views, standardize=bool(standardize),
        leakage=leakage, missing_images=missing_images, uncertain=uncertain,
        bad_values=bad_values, max_samples=max_samples, seed=seed,
    )
    if task == "pheno":
        ds.options["max_hours"] = max_hours
    if task == "findings":
        for k in ("mode", "standardize", "bad_values"):
            ds.options.pop(k)
    else:
        ds.options.pop("uncertain")
    ds.card["cache"] = {"dir": str(entry), "key": key, "hit": hit, "enabled": bool(use_cache),
                        "seconds": round(time.perf_counter() - t0, 3)}
    _announce(name, ds.card["dropped"], ts_counts)
    return ds


def _write_cache(entry: Path, plan: _Plan, ehr, cxr, x_ts, ts_len, imgs, ts_counts, norm,
                 config) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".tmp-", dir=entry.parent))
    try:
        if x_ts is not None:
            np.save(tmp / "ts.npy", x_ts)
            np.save(tmp / "ts_len.npy", ts_len)
        np.save(tmp / "cxr.npy", imgs)
        manifest = {
            "config": config,
            "plan": plan.to_json(),
            "ts_file_stats": _data_file_stats(ehr, plan.ts_files),
            "cxr_file_stats": _data_file_stats(cxr, [f for f in plan.cxr_files if f]),
            "ts_counts": ts_counts,
            "normalizer": norm,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
        # entries of the same configuration built from older tables can never hit again
        prefix = entry.name.rsplit("-", 1)[0]
        for old in entry.parent.glob(f"{prefix}-*"):
            man = old / "manifest.json"
            if old != entry and ".tmp-" not in old.name and man.is_file() and \
                    json.loads(man.read_text()).get("config") == config:
                shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


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


def _assemble(task, name, mode, plan: _Plan, x_ts, ts_len, imgs, norm, disc, image_size,
              max_hours, ts_counts, ehr, cxr) -> MultimodalDataset:
    has_img = plan.cxr_index >= 0
    img_pos = np.cumsum(has_img) - 1
    uses_ts = x_ts is not None
    if np.any(np.diff(plan.split) < 0):
        raise AssertionError("samples must be grouped by split")
    if uses_ts and norm is not None:
        apply_normalizer(x_ts, ts_len, norm)  # in place: the cache already holds the raw copy
    fake = _is_fake(ehr, cxr)
    splits: dict[str, Split] = {}
    items: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, dict] = {}
    for s, sname in enumerate(SPLITS):
        a, b = np.searchsorted(plan.split, [s, s + 1])
        sel = np.arange(a, b)
        k = len(sel)
        inputs, present, lengths = {}, {}, {}
        if mode != "image":
            inputs["ts"] = torch.from_numpy(x_ts[a:b])  # a view: no copy
            present["ts"] = torch.ones(k, dtype=torch.bool)
            if task == "pheno":
                lengths["ts"] = torch.from_numpy(ts_len[sel].astype(np.int64))
        cx = np.zeros((k, 1, image_size, image_size), dtype=np.float32)
        h = has_img[sel]
        if h.any():
            cx[h, 0] = imgs[img_pos[sel[h]]].astype(np.float32) / 255.0
        inputs["cxr"] = torch.from_numpy(cx)
        present["cxr"] = torch.from_numpy(h.copy())
        splits[sname] = Split(inputs, present, torch.from_numpy(plan.y[sel].copy()),
                              torch.from_numpy(plan.ids[sel].copy()), lengths, sname)
        items[sname] = {}
        if mode != "image":
            items[sname]["ts"] = [int(i) for i in plan.ids[sel]]
        items[sname]["cxr"] = [int(i) for i in plan.cxr_index[sel][h]]
        counts[sname] = {"samples": int(k), "with_cxr": int(h.sum()),
                         "positives": [int(v) for v in plan.y[sel].sum(0)]}
        if mode != "image":
            counts[sname]["ts_only"] = int(k - h.sum())

    modalities = {
        "cxr": ModalitySpec(
            "cxr", "image", (1, image_size, image_size),
            description=f"{'FAKE ' if fake else ''}chest X-ray (MIMIC-CXR-JPG), greyscale "
                        f"{image_size} x {image_size}, values in [0, 1], not augmented",
        ),
    }
    if mode != "image":
        t = x_ts.shape[1]
        modalities["ts"] = ModalitySpec(
            "ts", "timeseries", (t, disc.n_features), variable_length=task == "pheno",
            description=f"{'FAKE ' if fake else ''}MIMIC-IV ICU time series: {t} hourly steps "
                        f"x {disc.n_features} features (mimic3-benchmarks discretiser; "
                        "card['features']['ts'])",
        )
    class_names = {"ihm": ["in-hospital mortality"], "pheno": list(PHENOTYPES),
                   "findings": list(FINDINGS)}[task]
    dropped = dict(plan.dropped)
    dropped["events_before_time_zero"] = int(ts_counts.get("before_time_zero", 0))
    dropped["bad_values_dropped"] = int(ts_counts.get("bad_values", 0))
    used_idx = plan.cxr_index[has_img]
    card = {
        "source": (
            ("FAKE data written by mindkit.data.mimic_fake (no real patient data); " if fake
             else "")
            + "MIMIC-IV v1.0 ICU time series and MIMIC-CXR-JPG 2.0.0 in the MedFuse / "
            "mimic3-benchmarks layout, read from the user's copy "
            f"(ehr_root={ehr}, cxr_root={cxr})"
        ),
        "licence": ("PhysioNet Credentialed Health Data License 1.5.0 (MIMIC-IV, MIMIC-CXR-JPG); "
                    "never shipped with mindkit" if not fake else "FAKE generated data"),
        "synthetic": fake,
        "task": {"ihm": "in-hospital mortality from the first 48 h",
                 "pheno": "25 acute-care phenotypes (discharge diagnoses) of the ICU stay",
                 "findings": "14 CheXpert findings per image (image teacher pre-training)"}[task],
        "mode": mode,
        "counts": {"per_split": counts},
        "dropped": dropped,
        "events": ts_counts,
        "pairing": plan.info,
        "features": {"ts": list(disc.feature_names)} if uses_ts else {},
        "preprocessing": {
            "ts_standardization": norm,
            "image": {"size": image_size, "read": "greyscale, shorter side resized, centre "
                      "crop, /255", "augmentation": "none stored; see augment_cxr"},
        },
        "cxr_index": f"0-based row of {META_FILE} (header excluded)",
        "cxr_dicoms": {int(i): d for i, d in zip(used_idx, np.asarray(plan.dicoms)[has_img])},
        "caveats": [
            "Having a chest X-ray during the stay is itself informative (sicker patients are "
            "imaged more); paired and time-series-only stays differ in case mix.",
            "Image indices are metadata row numbers: they change if the metadata file changes.",
        ],
    }
    if task == "pheno":
        card["caveats"].append(
            f"Time series keep the first {max_hours} h of each stay (max_hours); the labels "
            "describe the whole stay." if max_hours is not None else
            "Time series keep whole stays (max_hours=None).")
    if task != "findings":
        card["pairs"] = {int(s): int(i) for s, i in zip(plan.ids[has_img], used_idx)}
    ds = MultimodalDataset(
        name=name,
        task="binary" if task == "ihm" else "multilabel",
        class_names=class_names,
        modalities=modalities,
        splits=splits,
        synthetic=fake,
        description=(f"{'FAKE tree (synthetic): ' if fake else ''}{card['task']}; "
                     f"mode {mode!r}"),
        card=card,
        items=items,
    )
    ds.check_disjoint()
    return ds


# ============================================================================================
# registered datasets


@DATASETS.register("mimic_ihm")
@strict_options
def build_ihm(
    *,
    ehr_root: str | None = None,
    cxr_root: str | None = None,
    mode: str = "all",
    image_size: int = 64,
    resize: int | None = None,
    views: Iterable[str] | None = ("AP",),
    standardize: bool = True,
    normalizer: str | dict | None = None,
    leakage: str = "raise",
    missing_images: str = "raise",
    bad_values: str = "raise",
    max_samples: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> MultimodalDataset:
    """MIMIC-IV in-hospital mortality (binary) from the first 48 h, with the paired chest X-ray.

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
        cache_dir: cache folder (default ``$MINDKIT_CACHE`` or ``data/cache/``);
            ``use_cache=False`` neither reads nor writes it.
        progress: tqdm bars during the first (uncached) load.
    """
    return build_mimic("ihm", **locals())


@DATASETS.register("mimic_pheno")
@strict_options
def build_pheno(
    *,
    ehr_root: str | None = None,
    cxr_root: str | None = None,
    mode: str = "all",
    max_hours: int | None = DEFAULT_MAX_HOURS,
    image_size: int = 64,
    resize: int | None = None,
    views: Iterable[str] | None = ("AP",),
    standardize: bool = True,
    normalizer: str | dict | None = None,
    leakage: str = "raise",
    missing_images: str = "raise",
    bad_values: str = "raise",
    max_samples: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> MultimodalDataset:
    """MIMIC-IV phenotyping (25 labels) over the ICU stay, with the paired chest X-ray.

    Options as :func:`build_ihm`, plus ``max_hours``: hours kept from the start of each stay
    (default 48; ``None`` keeps whole stays, so T is the longest stay: on the real data that is
    thousands of hours and tens of GB, so prefer a cap such as 96 or 168);
    ``lengths["ts"]`` holds each stay's (capped) length.
    Images are paired over the whole stay ``[intime, outtime]``.
    """
    return build_mimic("pheno", **locals())


@DATASETS.register("mimic_cxr_findings")
@strict_options
def build_findings(
    *,
    cxr_root: str | None = None,
    ehr_root: str | None = None,
    image_size: int = 64,
    resize: int | None = None,
    views: Iterable[str] | None = ("AP",),
    uncertain: str = "zero",
    leakage: str = "raise",
    missing_images: str = "raise",
    max_samples: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> MultimodalDataset:
    """MIMIC-CXR images with the 14 CheXpert findings (multilabel), to pre-train image teachers.

    Every image with a view in ``views`` (default AP, the ICU view) is one sample; its split
    comes from ``mimic-cxr-ehr-split.csv``. ``uncertain``: -1 labels become 0 (``"zero"``,
    the usual reading) or 1 (``"one"``); empty is 0. ``ehr_root`` (or
    ``$MINDKIT_MIMIC_EHR``), when given, lets the leakage guard check that no patient of the
    time-series val/test listfiles has an image in train. Other options as :func:`build_ihm`.
    """
    return build_mimic("findings", **locals())


__all__ = [
    "CONTINUOUS_COLUMNS", "CXR_LAYOUT", "Discretizer", "EHR_LAYOUT", "FEATURE_NAMES",
    "FINDINGS", "MASK_COLUMNS", "MimicDataWarning", "PHENOTYPES", "apply_normalizer",
    "augment_cxr", "build_findings", "build_ihm", "build_mimic", "build_pheno",
    "check_image_leakage", "default_cache_dir", "fit_normalizer", "load_cxr_image",
    "load_discretizer_config", "pair_images", "read_all_stays", "read_chexpert",
    "read_cxr_metadata", "read_cxr_split", "read_listfiles", "save_normalizer",
]
