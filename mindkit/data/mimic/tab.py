"""The ``tab`` modality: stay-table columns (demographics) and the first value of time-series
channels in the first 48 h, imputed, flagged, one-hot encoded and standardised with train
statistics (see :mod:`mindkit.data.mimic`, **Tabular**)."""

from __future__ import annotations

import numpy as np

from mindkit.data.mimic.discretizer import Discretizer
from mindkit.data.mimic.layout import ID_COLUMNS, LEAKY_STAY_COLUMNS, TAB_WINDOW_HOURS

OTHER = "(missing or unseen)"


def check_tab_options(columns, channels, disc: Discretizer) -> tuple[list[str], list[str]]:
    """``tab_columns`` / ``tab_channels`` as lists (a comma-separated string is split), checked:
    no identifier or outcome column, only continuous channels of the discretiser."""
    def as_list(v):
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        return [str(x) for x in v]

    columns = as_list(columns)
    bad = [c for c in columns if c in ID_COLUMNS or c in LEAKY_STAY_COLUMNS]
    if bad:
        raise ValueError(
            f"tab_columns {bad}: identifiers ({', '.join(ID_COLUMNS)}) and columns known only "
            f"at or after the end of the stay ({', '.join(LEAKY_STAY_COLUMNS)}) are not features "
            "(the latter leak the outcome); name demographic columns such as age, gender, "
            "ethnicity")
    continuous = [c for c, cat in zip(disc.channels, disc.is_categorical) if not cat]
    channels = list(continuous) if channels is None else as_list(channels)
    unknown = [c for c in channels if c not in continuous]
    if unknown:
        raise ValueError(f"tab_channels {unknown} are not continuous channels of the "
                         f"discretiser; use some of {continuous}")
    for name, v in (("tab_columns", columns), ("tab_channels", channels)):
        if len(set(v)) != len(v):
            raise ValueError(f"{name} holds a name twice: {v}")
    if not columns and not channels:
        raise ValueError("tab_columns and tab_channels are both empty: the 'tab' modality "
                         "would have no feature")
    return columns, channels


def first_values(x_ts: np.ndarray, ts_len: np.ndarray, disc: Discretizer,
                 channels: list[str], hours: int = TAB_WINDOW_HOURS) -> np.ndarray:
    """``float64 [N, len(channels)]``: per stay and channel, the value of the first hourly bin
    among the first ``hours`` (and within the stay's length) that holds a measurement (the
    discretiser keeps the last value within a bin); NaN where the channel was never measured.
    ``x_ts`` must be the unstandardised series."""
    n, t = x_ts.shape[:2]
    h = min(int(hours), t)
    out = np.full((n, len(channels)), np.nan)
    valid = np.arange(h)[None, :] < np.asarray(ts_len)[:, None]
    for k, c in enumerate(channels):
        j = disc.channels.index(c)
        measured = (x_ts[:, :h, disc.mask_columns[j]] > 0.5) & valid
        any_ = measured.any(1)
        first = measured.argmax(1)
        vals = x_ts[np.arange(n), first, disc.begin[j]].astype(np.float64)
        out[any_, k] = vals[any_]
    return out


def _is_numeric(values: list[str]) -> bool:
    """Every non-empty value parses as a number (and there is at least one)."""
    import pandas as pd

    s = pd.Series([v for v in values if v != ""], dtype=object)
    return len(s) > 0 and bool(pd.to_numeric(s, errors="coerce").notna().all())


def tab_features(table: dict[str, list[str]], columns: list[str], first: np.ndarray,
                 channels: list[str], train: np.ndarray, standardize: bool,
                 window_hours: int = TAB_WINDOW_HOURS) -> tuple[np.ndarray, list[str], dict]:
    """The ``tab`` matrix ``float32 [N, F]``, its feature names and its preprocessing record.

    ``table``: per stay-table column, one text value per sample (``""`` = missing); ``first``:
    :func:`first_values`; ``train``: bool per sample, the rows the statistics are fitted on
    (train samples that have the modality). A column whose non-empty values are all numbers is
    numeric (value + ``"<c>: missing"`` flag); any other is categorical (one-hot over the
    values seen in train, sorted, + ``"<c>->(missing or unseen)"``). Each channel gives
    ``"first <channel>"`` + ``"first <channel>: missing"``. Numeric values are imputed with
    the train median of the observed values and (``standardize``) standardised with the train
    mean / std (ddof 1) of the observed values; a value never observed in train is imputed
    with 0 (flagged). ``window_hours`` is only recorded (the window of ``first``).
    """
    import pandas as pd

    n = len(first)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    numeric: dict[str, dict] = {}
    categories: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}

    def add_numeric(name: str, v: np.ndarray, flag_name: str) -> None:
        miss = np.isnan(v)
        obs = v[train & ~miss]
        med = float(np.median(obs)) if len(obs) else 0.0
        mean = float(obs.mean()) if len(obs) else 0.0
        std = float(obs.std(ddof=1)) if len(obs) > 1 else 1.0
        std = 1.0 if not np.isfinite(std) or std < 1e-7 else std
        filled = np.where(miss, med, v)
        if standardize:
            filled = (filled - mean) / std
        blocks.append(np.stack([filled, miss.astype(np.float64)], 1))
        names.extend([name, flag_name])
        numeric[name] = {"median": med, "mean": mean, "std": std,
                         "observed_in_train": int(len(obs))}

    for c in columns:
        vals = table[c]
        if _is_numeric(vals):
            kinds[c] = "numeric"
            v = pd.to_numeric(pd.Series(vals, dtype=object).replace("", np.nan),
                              errors="coerce").to_numpy(np.float64)
            add_numeric(c, v, f"{c}: missing")
        else:
            kinds[c] = "categorical"
            arr = np.asarray(vals, dtype=object)
            cats = sorted({v for v, t in zip(vals, train) if t and v != ""})
            onehot = np.stack([arr == v for v in cats], 1) if cats else np.zeros((n, 0), bool)
            other = ~onehot.any(1)
            blocks.append(np.concatenate([onehot, other[:, None]], 1).astype(np.float64))
            names.extend([f"{c}->{v}" for v in cats] + [f"{c}->{OTHER}"])
            categories[c] = cats
    for k, ch in enumerate(channels):
        add_numeric(f"first {ch}", first[:, k], f"first {ch}: missing")
    x = (np.concatenate(blocks, 1) if blocks else np.zeros((n, 0))).astype(np.float32)
    prep = {
        "columns": columns, "kinds": kinds, "channels": channels,
        "window_hours": int(window_hours),
        "numeric": numeric, "categories": categories,
        "imputation": "train median of the observed values (0 if none), flagged",
        "standardized": bool(standardize),
        "fitted_on": {"stays": int(train.sum())},
    }
    return x, names, prep
