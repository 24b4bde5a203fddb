"""The mimic3-benchmarks discretiser (76 hourly features, see :mod:`mindkit.data.mimic`) and the
standardisation of its 12 continuous columns (fit on train, apply, save / load as JSON)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from mindkit.data.base import MultimodalDataset
from mindkit.data.mimic.layout import DISCRETIZER_CONFIG, EHR_LAYOUT, EPS


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

    ``feature_names`` lists the 76 output columns (see :mod:`mindkit.data.mimic`);
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


def load_normalizer(normalizer) -> dict | None:
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
