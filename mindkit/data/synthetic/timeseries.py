"""Synthetic ICU data laid out like MIMIC-IV + MIMIC-CXR in the MedFuse setup. SYNTHETIC.

Two datasets share one generator: ``synthetic_ihm`` (binary in-hospital mortality) and
``synthetic_pheno`` (25 phenotype labels named after :data:`mindkit.data.mimic.PHENOTYPES`).
Every sample is one synthetic patient. Nothing here is real patient data and no figure computed
on it says anything about medicine; the datasets are flagged ``synthetic``.

**Modalities** (``modalities`` option; default ``("ts", "cxr")``):

- ``ts`` (``timeseries``, ``(48, 76)``): the real MIMIC layout (``mimic.FEATURE_NAMES``).
  Per patient, hourly *raw* charted events are simulated for the 17 channels
  (values in clinical units; categorical channels take values from the discretiser
  configuration's possible values, GCS in both the numbered and the text spelling, one spelling
  per patient): vital signs (heart rate, blood pressures, respiratory rate, SpO2) in most hours
  and sometimes twice in an hour, temperature, neuro checks (GCS, capillary refill) and labs
  (glucose, pH) every few hours, FiO2 now and then, height and weight once or twice. Then the
  discretiser's semantics apply exactly (1 h bins; the last value in a bin wins; forward fill,
  with the channel's normal value before its first measurement; one-hot categoricals; mask = 1
  where the bin held a measurement): :func:`raw_events` returns a patient's events in
  :class:`mindkit.data.mimic.Discretizer` input form and the tests check that the discretiser
  gives the same 76 columns. The 12 continuous columns are standardised with the mean / std of
  the train patients' hours (:func:`mindkit.data.mimic.fit_normalizer`; saved in
  ``card["preprocessing"]["ts_standardization"]``); one-hot and mask columns stay 0/1.
  Measurement schedules do not depend on the patient (missingness is uninformative) unless
  ``informative_missingness > 0`` (sicker patients then get more neuro checks, labs and
  temperatures).
- ``cxr`` (``image``, ``(1, S, S)``, ``S = image_size``, default 32, values in [0, 1]): a
  chest-like background (body, spine, two lung fields above domed diaphragms, faint ribs, a heart
  silhouette) with per-image position/scale/exposure/contrast jitter and smooth texture, plus
  lesion-like findings: 0-5 irregular, textured opacities in the lungs (count, size and
  intensity grow with a consolidation factor), a sharp-edged lobulated nodule (probability and
  size from a mass factor), pleural effusions with a lateral meniscus (height from an effusion
  factor), a perihilar haze and the heart width (the two shared factors).
- ``demo`` (``tabular``, 12 features, :data:`DEMO_FEATURES`): age, sex, BMI, comorbidity count,
  admissions in the prior year (these four standardised with train statistics, saved in
  ``card["preprocessing"]["demo_standardization"]``), and one-hot admission type and first care
  unit (0/1).
- ``notes`` (``tokens``, ``(64,)`` long ids, 0 = padding, ``variable_length``: true lengths in
  ``Split.lengths["notes"]``, 0 where absent): a short pseudo-clinical note from a template
  grammar (reason for admission, history, haemodynamics, respiratory support, code status,
  social situation, plan, filler) whose phrase choices depend on the factors. The vocabulary
  (id -> word, id 0 = ``"<pad>"``) is ``card["vocab"]`` (:data:`NOTE_VOCAB`).

**Generative model.** Each patient has 13 latent factors drawn i.i.d. N(0, 1) (:data:`FACTORS`):
2 *shared* (circulatory, respiratory; visible in every modality), 3 visible only in ``ts``
(neurological: GCS; metabolic: glucose level and rise, pH; deterioration: 48-h trends of heart
rate, blood pressure, respiratory rate, SpO2 and the rate of SpO2 dips), 3 only in ``cxr``
(consolidation, mass, effusion), 2 only in ``demo`` (frailty: age; chronic burden: BMI,
comorbidities, prior admissions), 2 only in ``notes`` (goals of care, chronic history) and 1 never
observed. Labels follow a logistic model of all 13 factors (mortality intercept set for
``prevalence``; each phenotype loads on a hand-picked, loosely clinical set of factors, intercepts
set for prevalences near the MIMIC benchmark's), so each modality carries signal the others lack
and fusion should beat any one alone. The labels do not depend on which modalities are
requested: with the default two, the demo- and notes-only factors act as label noise. The label
weights and loadings are constants, so ``seed`` redraws only the patients, the presence
pattern, the noise and the split. ``informative_<m>`` scales the factor effects in modality
``m`` (0: none) and ``noise`` the nuisance variation in all of them.

Missingness is completely at random (also unlike real ICU data): ``unpaired_<m>`` of the patients
have modality ``m`` alone; the rest have every requested modality. Splits are patient-level
(each patient is one sample) and stratified by presence pattern (and by label for mortality).

**Measured** (from the throwaway script ``/tmp/measure_synth.py`` the generator was tuned with,
not a benchmark): logistic regression on simple summaries per modality (``ts``: per-column mean,
last-6-h mean, std and slope of the 59 value columns, and mask means; ``cxr``: 4 x 4-block means,
stds and maxima, row means and intensity quantiles; ``demo``: the 12 features; ``notes``: bag of
words), each trained on the train samples that have the modality, ``C`` picked on val; *late*
fusion = the sum of the four unimodal logits; *concat* fusion = one logistic regression on the
four summaries concatenated, trained on the paired train samples only. AUROC (macro over the 25
labels for pheno) on the *paired* test samples, ``modalities=("ts", "cxr", "demo", "notes")``,
other options at their defaults::

    n_samples=3000, mean over seeds 0-2 (225 paired test samples, ~25 deaths)
                       ts    cxr   demo  notes   late  concat
    synthetic_ihm     0.70  0.62  0.65  0.62    0.74  0.73
    synthetic_pheno   0.67  0.59  0.61  0.62    0.72  0.70
    n_samples=20000, seed 0 (1,500 paired test samples)
    synthetic_ihm     0.71  0.70  0.70  0.70    0.82  0.85
    synthetic_pheno   0.69  0.63  0.64  0.64    0.76  0.76

At n_samples=3000 the ihm figures move by up to 0.1 between seeds (seed 1's paired test set is
one where even the true factors rank poorly). The ceiling (the true logit restricted to the
factors a modality shows) is about 0.74-0.77 per modality and 0.93 for all four for ihm (pheno:
0.70-0.72 and 0.84), so better encoders than these summaries have headroom, the image most.

Generation takes about 1 s for 3000 patients with all four modalities (1.3 s measured on a busy
2-core machine; ``image_size=64`` about 3 s).
"""

from __future__ import annotations

import numpy as np
import torch

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.mimic import (
    CONTINUOUS_COLUMNS,
    FEATURE_NAMES,
    MASK_COLUMNS,
    PHENOTYPES,
    apply_normalizer,
    default_discretizer,
    fit_normalizer,
)
from mindkit.data.registry import DATASETS, strict_options
from mindkit.data.splits import stratified_split_index

T_STEPS, IMG = 48, 32
N_FEATURES = len(FEATURE_NAMES)
MODALITIES = ("ts", "cxr", "demo", "notes")
SPLITS = ("train", "val", "test")
WORLD_SEED = 20240611  # recorded in the card; the world (loadings, weights) is hand-set

FACTORS = (
    "shared_circulatory",
    "shared_respiratory",
    "ts_neuro",
    "ts_metabolic",
    "ts_deterioration",
    "cxr_consolidation",
    "cxr_mass",
    "cxr_effusion",
    "demo_frailty",
    "demo_chronic",
    "notes_goals_of_care",
    "notes_history",
    "hidden",
)
S0, S1, T0, T1, T2, C0, C1, C2, D0, D1, N0, N1, H = range(len(FACTORS))
N_FACTORS = len(FACTORS)
FACTOR_GROUPS = {
    "shared": (S0, S1), "ts": (T0, T1, T2), "cxr": (C0, C1, C2), "demo": (D0, D1),
    "notes": (N0, N1), "hidden": (H,),
}

# mortality weights on the 13 factors (order of FACTORS)
IHM_WEIGHTS = 1.25 * np.array([0.6, 0.5, 0.7, 0.5, 0.7, 0.9, 0.6, 0.7, 1.0, 0.5, 1.0, 0.6, 0.5])

# phenotype loadings (factor -> weight; every phenotype also loads 0.5 on the hidden factor) and
# target prevalences, loosely after the MIMIC benchmark's label frequencies
_PHENO = [
    ({S0: 0.8, T1: 0.7, D1: 0.6, N1: 0.5, C2: 0.4}, 0.21),  # acute renal failure
    ({T0: 1.3, D0: 0.6, N0: 0.5, C1: 0.3}, 0.07),  # acute cerebrovascular disease
    ({S1: 0.9, T2: 0.6, D1: 0.5, C2: 0.4, N1: 0.3}, 0.10),  # acute myocardial infarction
    ({S1: 0.8, T2: 0.6, D0: 0.8, C2: 0.3, N1: 0.4}, 0.32),  # cardiac dysrhythmias
    ({D1: 0.9, N1: 0.9, T1: 0.5, C2: 0.3}, 0.13),  # chronic kidney disease
    ({S1: 0.7, N1: 1.0, C0: 0.4, D0: 0.4}, 0.13),  # COPD
    ({S0: 0.4, T2: 0.6, C2: 0.5, N0: -0.3, D1: -0.3}, 0.21),  # complications of care
    ({S1: 0.6, D0: 0.7, T2: 0.4, N1: 0.4, C1: 0.2}, 0.07),  # conduction disorders
    ({S1: 1.0, C2: 1.0, D1: 0.5, N1: 0.6, T1: 0.2}, 0.27),  # congestive heart failure
    ({S1: 0.6, D0: 0.7, D1: 0.7, N1: 0.6, C2: 0.2}, 0.32),  # coronary atherosclerosis
    ({T1: 1.0, D1: 0.8, N1: 0.7, C0: 0.2}, 0.09),  # diabetes with complications
    ({T1: 0.8, D1: 0.6, N1: 0.4, C1: 0.2}, 0.19),  # diabetes without complication
    ({D1: 0.8, D0: 0.5, N1: 0.6, T1: 0.3, C1: 0.2}, 0.29),  # lipid metabolism
    ({D1: 0.6, D0: 0.4, S0: -0.5, N1: 0.4, C2: 0.2}, 0.42),  # essential hypertension
    ({T1: 0.8, S0: 0.6, C2: 0.5, N0: 0.3}, 0.27),  # fluid and electrolyte disorders
    ({S0: 0.6, T2: 0.7, N1: 0.6, C0: -0.2}, 0.07),  # gastrointestinal hemorrhage
    ({D1: 0.8, N1: 0.7, T1: 0.4, C2: 0.4}, 0.13),  # hypertension with complications
    ({N1: 1.0, T1: 0.5, C2: 0.4, D0: -0.3}, 0.08),  # other liver diseases
    ({C0: 0.7, C1: 0.7, S1: 0.5, N1: 0.3}, 0.05),  # other lower respiratory disease
    ({S1: 0.5, C1: 0.4, T0: 0.3, N0: 0.3, D0: -0.4}, 0.04),  # other upper respiratory disease
    ({C2: 1.0, C0: 0.5, S1: 0.4, T2: 0.3}, 0.09),  # pleurisy; pneumothorax; collapse
    ({C0: 1.2, S0: 0.6, S1: 0.4, D0: 0.4, T2: 0.3, N0: 0.3}, 0.14),  # pneumonia
    ({S1: 1.0, C0: 0.6, T0: 0.6, N0: 0.5, T2: 0.4}, 0.17),  # respiratory failure
    ({S0: 1.1, T2: 0.5, C0: 0.4, N0: 0.5, D0: 0.3}, 0.14),  # septicemia
    ({S0: 1.2, T2: 0.7, N0: 0.6, C2: 0.3}, 0.08),  # shock
]
PHENO_WEIGHTS = np.zeros((len(_PHENO), N_FACTORS))
for _k, (_load, _) in enumerate(_PHENO):
    for _f, _w in _load.items():
        PHENO_WEIGHTS[_k, _f] = 1.3 * _w
PHENO_WEIGHTS[:, H] = 0.5
PHENO_PREVALENCE = np.array([p for _, p in _PHENO])

_S_FACTORS, _S_PRESENCE, _S_SPLIT, _S_TS, _S_CXR, _S_LABEL, _S_DEMO, _S_NOTES = range(8)
_F32 = np.float32


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 104729, stream])


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x))


_GH = np.polynomial.hermite_e.hermegauss(80)
_GH = (_GH[0], _GH[1] / _GH[1].sum())


def _intercept(w: np.ndarray, prevalence: float) -> float:
    """Intercept b with E[sigmoid(b + w.z)] = prevalence for z ~ N(0, I) (Gauss-Hermite)."""
    nodes, weights = _GH
    sd = float(np.linalg.norm(w))
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        p = float((weights / (1 + np.exp(-(mid + sd * nodes)))).sum())
        lo, hi = (mid, hi) if p < prevalence else (lo, mid)
    return (lo + hi) / 2


PHENO_INTERCEPTS = np.array([_intercept(w, p) for w, p in zip(PHENO_WEIGHTS, PHENO_PREVALENCE)])


def _factors(seed: int, n: int) -> np.ndarray:
    return _rng(seed, _S_FACTORS).standard_normal((n, N_FACTORS))


# ============================================================================================
# time series: raw charted events, then the discretiser's semantics

_DISC = default_discretizer()
_CH = {c: j for j, c in enumerate(_DISC.channels)}
CRR, DBP, FIO2 = _CH["Capillary refill rate"], _CH["Diastolic blood pressure"], \
    _CH["Fraction inspired oxygen"]
GCS_E, GCS_M = _CH["Glascow coma scale eye opening"], _CH["Glascow coma scale motor response"]
GCS_T, GCS_V = _CH["Glascow coma scale total"], _CH["Glascow coma scale verbal response"]
GLU, HR, HEIGHT, MBP = _CH["Glucose"], _CH["Heart Rate"], _CH["Height"], \
    _CH["Mean blood pressure"]
SPO2, RR, SBP = _CH["Oxygen saturation"], _CH["Respiratory rate"], \
    _CH["Systolic blood pressure"]
TEMP, WEIGHT, PH = _CH["Temperature"], _CH["Weight"], _CH["pH"]
N_CH = len(_DISC.channels)

# charting groups: channels charted together share an event time within an hour
G_VITALS, G_TEMP, G_NEURO, G_LABS, G_FIO2, G_BODY = range(6)
_GROUP = np.zeros(N_CH, dtype=np.int64)
for _c in (HR, SBP, DBP, MBP, RR, SPO2):
    _GROUP[_c] = G_VITALS
_GROUP[TEMP], _GROUP[FIO2], _GROUP[GLU], _GROUP[PH] = G_TEMP, G_FIO2, G_LABS, G_LABS
for _c in (CRR, GCS_E, GCS_M, GCS_T, GCS_V):
    _GROUP[_c] = G_NEURO
_GROUP[HEIGHT], _GROUP[WEIGHT] = G_BODY, G_BODY
# probability that a group is charted in an hour (body: see _simulate_ts)
_GROUP_RATE = {G_VITALS: 0.93, G_TEMP: 0.25, G_NEURO: 0.3, G_LABS: 0.2, G_FIO2: 0.12}
# channel: (mean, between-patient sd, within-patient AR(1) sd, measurement sd, decimals,
#           low, high, daily-cycle amplitude)
_CONT = {
    HR: (86.0, 11.0, 5.0, 2.0, 0, 30.0, 220.0, 3.0),
    SBP: (118.0, 14.0, 7.0, 4.0, 0, 50.0, 250.0, 4.0),
    DBP: (59.0, 8.0, 5.0, 3.0, 0, 20.0, 150.0, 2.0),
    RR: (19.0, 3.0, 2.0, 1.0, 0, 5.0, 60.0, 0.8),
    SPO2: (97.5, 1.0, 0.8, 0.6, 0, 50.0, 100.0, 0.0),
    TEMP: (36.9, 0.35, 0.25, 0.1, 1, 33.0, 42.0, 0.2),
    GLU: (135.0, 25.0, 15.0, 4.0, 0, 40.0, 700.0, 0.0),
    PH: (7.39, 0.035, 0.025, 0.01, 2, 6.8, 7.7, 0.0),
    HEIGHT: (170.0, 10.0, 0.0, 1.0, 0, 140.0, 210.0, 0.0),
    WEIGHT: (81.0, 18.0, 0.4, 0.5, 1, 35.0, 250.0, 0.0),
}
# factor effects (clinical units per unit factor, times informative_ts): level shifts and the
# change over the 48 h (a linear trend centred on the window)
_LEVEL = {
    HR: {S0: 8.0, S1: 3.0}, SBP: {S0: -10.0}, DBP: {S0: -6.0}, RR: {S1: 2.5, S0: 1.2},
    SPO2: {S1: -1.3}, TEMP: {S0: 0.35}, GLU: {T1: 15.0}, PH: {T1: -0.035, S0: -0.015},
}
_TREND = {
    HR: {T2: 14.0}, SBP: {T2: -14.0}, DBP: {T2: -7.0}, RR: {T2: 3.0}, SPO2: {T2: -1.0},
    GLU: {T1: 30.0},
}


def _value_index(channel: int, values: list[str]) -> list[int]:
    pv = _DISC.possible_values[_DISC.channels[channel]]
    return [pv.index(v) for v in values]


# GCS score -> index in the channel's possible values, per spelling (0 numbered, 1 text);
# verbal score 0 means intubated (ETT)
_GCS_CODES = {
    GCS_E: np.array([
        [-1, *_value_index(GCS_E, ["1 No Response", "2 To pain", "3 To speech",
                                   "4 Spontaneously"])],
        [-1, *_value_index(GCS_E, ["None", "To Pain", "To Speech", "Spontaneously"])],
    ]),
    GCS_M: np.array([
        [-1, *_value_index(GCS_M, ["1 No Response", "2 Abnorm extensn", "3 Abnorm flexion",
                                   "4 Flex-withdraws", "5 Localizes Pain", "6 Obeys Commands"])],
        [-1, *_value_index(GCS_M, ["No response", "Abnormal extension", "Abnormal Flexion",
                                   "Flex-withdraws", "Localizes Pain", "Obeys Commands"])],
    ]),
    GCS_V: np.array([
        _value_index(GCS_V, ["1.0 ET/Trach", "1 No Response", "2 Incomp sounds",
                             "3 Inapprop words", "4 Confused", "5 Oriented"]),
        _value_index(GCS_V, ["No Response-ETT", "No Response", "Incomprehensible sounds",
                             "Inappropriate Words", "Confused", "Oriented"]),
    ]),
}
_GCS_TOTAL_CODES = np.array([-1, -1, -1, *_value_index(GCS_T, [str(v) for v in range(3, 16)])])


class RawTS:
    """Simulated charted events of ``n`` patients over 48 h, one cell per (patient, hour bin,
    channel): ``obs`` (the bin holds a measurement), ``val`` (the *last* value in the bin:
    clinical units, or the index into the channel's possible values for categoricals),
    ``dup``/``dup_val`` (an earlier event in the same bin, overwritten by the last one) and the
    event times ``t_last``/``t_first`` (hours since admission) per charting group."""

    def __init__(self, obs, val, dup, dup_val, t_last, t_first):
        self.obs, self.val, self.dup, self.dup_val = obs, val, dup, dup_val
        self.t_last, self.t_first = t_last, t_first

    def events(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Patient ``i``'s events as :meth:`mindkit.data.mimic.Discretizer.transform` takes them:
        ``(hours, columns)``, one row per event time, ``""`` where a channel was not charted.
        A copy of the first hour's vitals charted 30 minutes before admission is included (the
        discretiser drops it, as it drops pre-admission events in real stays)."""
        rows: dict[float, dict[int, str]] = {}
        for c in range(N_CH):
            g = _GROUP[c]
            for k in np.flatnonzero(self.obs[i, :, c]):
                rows.setdefault(float(self.t_last[i, k, g]), {})[c] = self._fmt(
                    c, self.val[i, k, c])
            for k in np.flatnonzero(self.dup[i, :, c]):
                rows.setdefault(float(self.t_first[i, k, g]), {})[c] = self._fmt(
                    c, self.dup_val[i, k, c])
            if _GROUP[c] == G_VITALS and self.obs[i, 0, c]:
                rows.setdefault(-0.5, {})[c] = self._fmt(c, self.val[i, 0, c])
        hours = np.array(sorted(rows), dtype=np.float64)
        columns = [np.array([rows[t].get(c, "") for t in hours], dtype=object).astype(str)
                   for c in range(N_CH)]
        return hours, columns

    @staticmethod
    def _fmt(c: int, v: float) -> str:
        if _DISC.is_categorical[c]:
            return _DISC.possible_values[_DISC.channels[c]][int(v)]
        return repr(float(v))


def _ar1(rng, n: int, k: int, phi: float = 0.8) -> np.ndarray:
    """Stationary AR(1) noise with unit variance, ``[n, T, k]``."""
    e = rng.standard_normal((T_STEPS, n, k))
    e[1:] *= np.sqrt(1 - phi**2)
    for step in range(1, T_STEPS):
        e[step] += phi * e[step - 1]
    return e.transpose(1, 0, 2)


def _simulate_ts(z: np.ndarray, info: float, noise: float, missing_info: float, rng) -> RawTS:
    n, T = z.shape[0], T_STEPS
    # --- schedule (which bins hold events, and when within the hour) ---
    sick = np.exp(0.5 * missing_info * z[:, S0])  # 1 unless informative_missingness > 0
    group_on = np.zeros((n, T, 6), dtype=bool)
    for g, p in _GROUP_RATE.items():
        p_g = np.full(n, p) if g in (G_VITALS, G_FIO2) else np.minimum(0.95, p * sick)
        group_on[:, :, g] = rng.random((n, T)) < p_g[:, None]
    # height once for 45% of patients in the first 12 h; weight at admission for 75%, and a
    # daily weight on day 2 for 40%
    h_at = np.where(rng.random(n) < 0.45, rng.integers(0, 12, n), -1)
    w_at = np.where(rng.random(n) < 0.75, rng.integers(0, 4, n), -1)
    w2_at = np.where(rng.random(n) < 0.4, rng.integers(24, 30, n), -1)
    per_channel = {HR: 0.99, SBP: 0.93, RR: 0.95, SPO2: 0.95, GCS_E: 0.97, GCS_M: 0.97,
                   GCS_V: 0.97, GCS_T: 0.97, CRR: 0.35, GLU: 0.85, PH: 0.4, TEMP: 1.0,
                   FIO2: 1.0}
    obs = np.zeros((n, T, N_CH), dtype=bool)
    for c, p in per_channel.items():
        obs[:, :, c] = group_on[:, :, _GROUP[c]] & (rng.random((n, T)) < p)
    obs[:, :, DBP] = obs[:, :, MBP] = obs[:, :, SBP]  # blood pressures come together
    spelling = (rng.random(n) < 0.5).astype(np.int64)  # 0 numbered, 1 text (charts the total)
    obs[:, :, GCS_T] &= (spelling == 1)[:, None]
    hours = np.arange(T)
    obs[:, :, HEIGHT] = hours[None] == h_at[:, None]
    obs[:, :, WEIGHT] = (hours[None] == w_at[:, None]) | (hours[None] == w2_at[:, None])
    # an earlier event in the same hour (overwritten): some vitals and glucose
    dup = np.zeros_like(obs)
    dup_v = rng.random((n, T)) < 0.2
    for c in (HR, SBP, DBP, MBP, RR, SPO2):
        dup[:, :, c] = obs[:, :, c] & dup_v
    dup[:, :, GLU] = obs[:, :, GLU] & (rng.random((n, T)) < 0.1)
    minute = rng.integers(2, 61, (n, T, 6))
    first = (rng.random((n, T, 6)) * (minute - 1)).astype(np.int64) + 1  # 1 .. minute - 1
    t_last = hours[None, :, None] + minute / 60.0
    t_first = hours[None, :, None] + first / 60.0

    # --- physiology (clinical units) ---
    tc = (hours / (T - 1) - 0.5)[None, :]  # -0.5 .. 0.5
    cont = list(_CONT)
    between = rng.standard_normal((n, len(cont)))
    within = _ar1(rng, n, len(cont))
    phase = rng.uniform(-2, 2, n)[:, None]
    cycle = np.sin(2 * np.pi * (hours[None] + phase) / 24)
    state = np.zeros((n, T, N_CH))
    for i, c in enumerate(cont):
        mean, sd_b, sd_w, _, _, _, _, amp = _CONT[c]
        x = mean + noise * (sd_b * between[:, i, None] + sd_w * within[:, :, i]) + amp * cycle
        for f, w in _LEVEL.get(c, {}).items():
            x = x + info * w * z[:, f, None]
        for f, w in _TREND.get(c, {}).items():
            x = x + info * w * z[:, f, None] * tc
        state[:, :, c] = x
    # SpO2 dips (with a faster heart and breathing) at a rate set by the respiratory and
    # deterioration factors
    p_dip = _sigmoid(-3.2 + info * (0.9 * z[:, S1] + 0.5 * z[:, T2]))
    dip = (rng.random((n, T)) < p_dip[:, None]) * rng.uniform(4, 10, (n, T))
    state[:, :, SPO2] -= dip
    state[:, :, HR] += 0.6 * dip
    state[:, :, RR] += 0.4 * dip
    state[:, :, MBP] = (state[:, :, SBP] + 2 * state[:, :, DBP]) / 3
    need = -1.8 + info * (1.1 * z[:, S1, None] + 1.0 * z[:, T2, None] * tc) + noise * (
        0.7 * rng.standard_normal(n)[:, None] + 0.4 * _ar1(rng, n, 1)[:, :, 0])
    state[:, :, FIO2] = 0.21 + 0.79 * _sigmoid(need)

    val = np.zeros((n, T, N_CH))
    dup_val = np.zeros((n, T, N_CH))
    meas = {**{c: _CONT[c][3] for c in _CONT}, MBP: 2.0, FIO2: 0.02}
    lims = {**{c: (_CONT[c][4], _CONT[c][5], _CONT[c][6]) for c in _CONT},
            MBP: (0, 30.0, 200.0), FIO2: (2, 0.21, 1.0)}
    for c, sd in meas.items():
        dec, lo, hi = lims[c]
        for out in (val, dup_val):
            v = state[:, :, c] + noise * sd * rng.standard_normal((n, T))
            out[:, :, c] = np.round(np.clip(v, lo, hi), dec)

    # neuro checks: GCS components from a neurological severity (intubated patients are sedated
    # and chart the ETT verbal value); capillary refill delayed with circulatory failure
    intubated = rng.random(n) < _sigmoid(-1.6 + info * 1.4 * z[:, S1])
    g = -1.4 + info * (1.1 * z[:, T0, None] + 0.3 * z[:, S0, None]) + noise * (
        0.6 * rng.standard_normal(n)[:, None] + 0.45 * _ar1(rng, n, 1)[:, :, 0])
    sev = np.logaddexp(0.0, g) + 0.9 * intubated[:, None]
    jit = noise * 0.3 * rng.standard_normal((3, n, T))
    eye = np.clip(np.rint(4 - 0.9 * sev + jit[0]), 1, 4).astype(np.int64)
    motor = np.clip(np.rint(6 - 1.3 * sev + jit[1]), 1, 6).astype(np.int64)
    verbal = np.clip(np.rint(5 - 1.2 * sev + jit[2]), 1, 5).astype(np.int64)
    verbal = np.where(intubated[:, None], 0, verbal)
    sp = spelling[:, None]
    val[:, :, GCS_E] = _GCS_CODES[GCS_E][sp, eye]
    val[:, :, GCS_M] = _GCS_CODES[GCS_M][sp, motor]
    val[:, :, GCS_V] = _GCS_CODES[GCS_V][sp, verbal]
    val[:, :, GCS_T] = _GCS_TOTAL_CODES[eye + motor + np.maximum(verbal, 1)]
    p_crr = _sigmoid(-2.4 + info * 1.3 * z[:, S0])
    val[:, :, CRR] = rng.random((n, T)) < p_crr[:, None]
    val[~obs] = 0.0
    dup_val[~dup] = 0.0
    return RawTS(obs, val, dup, dup_val, t_last, t_first)


def _discretise(raw: RawTS) -> np.ndarray:
    """The discretiser's output ``[n, 48, 76]`` (unstandardised) for simulated events,
    vectorised over patients (same semantics as :meth:`Discretizer.transform`)."""
    obs, val = raw.obs, raw.val
    n, T, _ = obs.shape
    idx = np.where(obs, np.arange(T)[None, :, None], -1)
    idx = np.maximum.accumulate(idx, axis=1)
    filled = np.take_along_axis(val, np.maximum(idx, 0), axis=1)
    filled = np.where(idx >= 0, filled, _DISC.normal_codes[None, None, :])
    x = np.zeros((n, T, N_FEATURES), dtype=_F32)
    for j, c in enumerate(_DISC.channels):
        b = int(_DISC.begin[j])
        if _DISC.is_categorical[j]:
            k = len(_DISC.possible_values[c])
            x[:, :, b : b + k] = filled[:, :, j, None] == np.arange(k)
        else:
            x[:, :, b] = filled[:, :, j]
    x[:, :, _DISC.n_value_columns :] = obs
    return x


# ============================================================================================
# chest X-ray-like images

N_BLOBS = 5
CY, AX, AY = 15.0, 5.6, 10.8  # lung centre row and semi-axes on the 32-pixel reference grid


def _soft_step(v, width):
    return _sigmoid(v / width)


def _make_cxr(z: np.ndarray, info: float, noise: float, rng, size: int) -> np.ndarray:
    n = z.shape[0]
    u = lambda *s: rng.random(s)  # noqa: E731
    g = lambda *s: rng.standard_normal(s)  # noqa: E731
    # per-image draws, all up front (results do not depend on the chunking below)
    dx, dy = 0.8 * noise * g(n), 0.6 * noise * g(n)
    scale = 1 + 0.04 * noise * g(n)
    contrast = 1 + 0.12 * noise * g(n)
    exposure = 0.05 * noise * g(n)
    rib_phase = u(n) * 2 * np.pi
    heart_w = 4.6 * np.exp(0.11 * info * z[:, S1])
    haze = 0.16 * _sigmoid(1.6 * info * z[:, S0] - 1.0)
    # opacities (consolidation): count, size and intensity grow with C0
    lam = np.exp(-0.1 + info * (0.9 * z[:, C0] + 0.2 * z[:, S0]))
    count = np.minimum(rng.poisson(lam), N_BLOBS)
    # positions: uniform over a lung field, 3 in 4 in its lower half (lobar consolidation)
    b_side, b_rad = rng.integers(0, 2, (n, N_BLOBS)), np.sqrt(u(n, N_BLOBS))
    b_ang = u(n, N_BLOBS) * np.pi + np.pi * (u(n, N_BLOBS) < 0.25)
    b_r0 = np.clip(1.5 * np.exp(0.3 * info * z[:, C0, None] + 0.2 * g(n, N_BLOBS)), 0.8, 4.5)
    b_amp = (0.08 + 0.24 * _sigmoid(1.6 * info * z[:, C0] - 0.5))[:, None] * (
        0.8 + 0.4 * u(n, N_BLOBS))
    b_harm, b_phase = 0.3 * u(n, N_BLOBS, 2), u(n, N_BLOBS, 2) * 2 * np.pi
    # nodule / mass: probability and size grow with C1; sharp, lobulated edge; upper zones
    has_mass = u(n) < _sigmoid(-0.6 + 2.0 * info * z[:, C1])
    m_r = np.clip(1.2 * np.exp(0.4 * info * z[:, C1] + 0.15 * g(n)), 0.8, 4.5)
    m_side, m_x, m_y = rng.integers(0, 2, n), u(n) * 2 - 1, -0.2 - 0.5 * u(n)
    m_harm, m_phase = 0.12 * u(n, 2), u(n, 2) * 2 * np.pi
    # effusion: fluid height grows with C2 (and the respiratory factor); side(s) random
    eff_h = np.clip(0.5 + 2.5 * info * (z[:, C2] + 0.25 * z[:, S1]) + 0.6 * noise * g(n),
                    0.0, 11.0)
    side_u = u(n)
    # [left, right] image sides: both 60%, left only 20%, right only 20%
    eff_side = np.stack([side_u < 0.8, (side_u < 0.6) | (side_u >= 0.8)], axis=1)

    out = np.empty((n, 1, size, size), dtype=_F32)
    chunk = max(1, (1 << 20) // (size * size))
    chunk_seeds = rng.integers(0, 2**62, size=(n + chunk - 1) // chunk)
    grid = ((np.arange(size) + 0.5) * IMG / size - 0.5).astype(_F32)
    for ci, start in enumerate(range(0, n, chunk)):
        sl = slice(start, min(n, start + chunk))
        crng = np.random.default_rng(int(chunk_seeds[ci]))
        m = sl.stop - sl.start
        col = lambda v: np.asarray(v[sl], dtype=_F32)[:, None, None]  # noqa: E731
        yy, xx = grid[None, :, None], grid[None, None, :]
        cx0, cy, sc = 15.5 + col(dx), CY + col(dy), col(scale)
        ax, ay = AX * sc, AY * sc
        # torso: a rounded square (super-ellipse) with shoulders at the top corners
        body = _soft_step(1 - ((xx - cx0) / (15.0 * sc)) ** 4 - ((yy - cy - 4.0) / (19 * sc)) ** 4,
                          0.1)
        img = 0.06 + 0.52 * body
        img = img + 0.06 * np.exp(-(((xx - cx0) / 1.6) ** 2)) * body  # spine
        lungs_side = []
        for s, off in enumerate((-6.2, 6.2)):
            cx = cx0 + off * sc
            ell = _soft_step(1 - ((xx - cx) / ax) ** 2 - ((yy - cy) / ay) ** 2, 0.12)
            dome = cy + 0.6 * ay + 0.09 * (xx - cx) ** 2 / sc
            lungs_side.append((cx, ell, ell * _soft_step(dome - yy, 0.6)))
        lungs = np.maximum(lungs_side[0][2], lungs_side[1][2])
        img = img - 0.38 * lungs
        ribs = np.maximum(np.cos(2 * np.pi * (yy - 0.05 * (xx - cx0) ** 2) / 3.4
                                 + col(rib_phase)), 0) ** 2
        img = img + 0.05 * ribs * lungs
        heart = _soft_step(1 - ((xx - cx0 - 1.8) / (col(heart_w) * sc)) ** 2
                           - ((yy - cy - 5.5) / (4.8 * sc)) ** 2, 0.1)
        img = img + (0.5 - img) * heart
        # smooth opacity texture (shared by the findings of one image)
        low = torch.from_numpy(crng.standard_normal((m, 1, 8, 8)).astype(_F32))
        tex = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic")[:, 0]
        tex = tex.numpy()
        fine = torch.from_numpy(crng.standard_normal((m, 1, 16, 16)).astype(_F32))
        ftex = torch.nn.functional.interpolate(fine, size=(size, size), mode="bicubic")[:, 0]
        ftex = ftex.numpy()
        hil = np.exp(-((np.abs(xx - cx0) - 4.5 * sc) ** 2) / (2 * 3.5**2)
                     - (yy - cy) ** 2 / (2 * 5.0**2))
        finding = col(haze) * hil * (1 + 0.3 * ftex)
        for k in range(N_BLOBS):
            act = np.flatnonzero(count[sl] > k)  # only the images with a k-th opacity
            if len(act) == 0:
                break
            i = act + sl.start
            c = lambda v: np.asarray(v, dtype=_F32)[:, None, None]  # noqa: E731
            sca = c(scale[i])
            cx = 15.5 + c(dx[i]) + c(np.where(b_side[i, k] == 0, -6.2, 6.2)) * sca
            bx = cx + 0.8 * AX * sca * c(b_rad[i, k] * np.cos(b_ang[i, k]))
            by = CY + c(dy[i]) + 0.75 * AY * sca * c(b_rad[i, k] * np.sin(b_ang[i, k]))
            d = np.hypot(xx - bx, yy - by)
            th = np.arctan2(yy - by, xx - bx)
            r = c(b_r0[i, k]) * sca * (1 + c(b_harm[i, k, 0]) * np.cos(2 * th + c(
                b_phase[i, k, 0])) + c(b_harm[i, k, 1]) * np.cos(3 * th + c(b_phase[i, k, 1])))
            blob = _soft_step(r - d, 0.7) * (0.7 + 0.3 * ftex[act])
            finding[act] += c(b_amp[i, k]) * blob
        mx = cx0 + col(np.where(m_side == 0, -6.2, 6.2)) * sc + col(m_x) * 0.5 * ax
        my = cy + col(m_y) * 0.8 * ay
        d = np.hypot(xx - mx, yy - my)
        th = np.arctan2(yy - my, xx - mx)
        r = col(m_r) * sc * (1 + col(m_harm[:, 0]) * np.cos(4 * th + col(m_phase[:, 0]))
                             + col(m_harm[:, 1]) * np.cos(5 * th + col(m_phase[:, 1])))
        finding = finding + 0.35 * col(has_mass) * _soft_step(r - d, 0.25)
        img = img + finding * lungs
        for s, (cx, ell, _) in enumerate(lungs_side):
            lat = np.clip((xx - cx) * (1 if s else -1) / ax, 0, 1)
            top = cy + 0.7 * ay - col(eff_h) - 1.5 * np.sqrt(col(eff_h)) * lat
            fluid = _soft_step(yy - top, 0.6) * ell * col(eff_side[:, s] & (eff_h > 0.3))
            img = img + (0.5 - img) * 0.8 * fluid
        img = (img - 0.4) * col(contrast) + 0.4 + col(exposure)
        img = img + 0.05 * noise * tex
        img = img + 0.03 * noise * crng.standard_normal((m, size, size)).astype(_F32)
        out[sl, 0] = np.clip(img, 0.0, 1.0)
    return out


# ============================================================================================
# demographics (tabular)

DEMO_FEATURES = [
    "age", "female", "bmi", "comorbidity_count", "prior_admissions_1y",
    "admission_emergency", "admission_urgent", "admission_elective",
    "unit_MICU", "unit_SICU", "unit_CCU", "unit_CSRU",
]
DEMO_CONTINUOUS = [0, 2, 3, 4]  # standardised with train statistics; the rest stay 0/1


def _gumbel_choice(logits: np.ndarray, noise: float, rng) -> np.ndarray:
    """Categorical draws (softmax of ``logits``) via Gumbel-max; ``noise=0``: the argmax."""
    gum = -np.log(-np.log(rng.random(logits.shape).clip(1e-12, 1 - 1e-12)))
    return np.argmax(logits + noise * gum, axis=1)


def _make_demo(z: np.ndarray, info: float, noise: float, rng) -> np.ndarray:
    n = z.shape[0]
    e = rng.standard_normal((n, 4))
    age = np.round(np.clip(64 + 16 * (info * (0.8 * z[:, D0] + 0.15 * z[:, S0])
                                      + noise * 0.55 * e[:, 0]), 18, 91))
    female = (rng.random(n) < 0.44).astype(float)
    bmi = np.round(np.clip(28.5 + 6 * (info * 0.7 * z[:, D1] + noise * 0.6 * e[:, 1]), 15, 60), 1)
    comorb = rng.poisson(np.exp(1.0 + info * (0.45 * z[:, D1] + 0.2 * z[:, D0])
                                + noise * 0.2 * e[:, 2]))
    prior = rng.poisson(np.exp(-0.6 + info * (0.55 * z[:, D1] + 0.25 * z[:, D0])
                               + noise * 0.3 * e[:, 3]))
    adm_logits = np.stack([1.6 + 0.5 * info * z[:, S0], np.zeros(n),
                           -0.2 - info * (0.8 * z[:, S0] + 0.4 * z[:, D0])], axis=1)
    adm = _gumbel_choice(adm_logits, noise, rng)
    elective = (adm == 2).astype(float)
    unit_logits = np.stack([0.8 + 0.4 * info * z[:, S0], 0.3 + 1.2 * elective,
                            -0.2 + 0.8 * info * z[:, S1], -0.6 + elective + 0.3 * info * z[:, S1]],
                           axis=1)
    unit = _gumbel_choice(unit_logits, noise, rng)
    x = np.zeros((n, len(DEMO_FEATURES)), dtype=_F32)
    x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4] = age, female, bmi, comorb, prior
    x[np.arange(n), 5 + adm] = 1.0
    x[np.arange(n), 8 + unit] = 1.0
    return x


# ============================================================================================
# clinical-note tokens

NOTES_MAX_LEN = 64
# slots in note order: (inclusion: None = always, or (base, {factor: w})),
#                      options: [(phrase, base logit, {factor: w})]
# (_NOTE_AFTER: the "also ..." slot follows only a history slot that named a condition, and
# the second plan item differs from the first)
_NOTE_SLOTS = [
    (None, [("pt admitted with", 0, {}), ("patient presented with", 0, {}),
            ("admitted to icu for", 0, {}), ("transferred from ed with", 0, {})]),
    (None, [("sepsis .", -0.2, {S0: 1.1}), ("septic shock .", -1.2, {S0: 1.6}),
            ("hypotension .", -0.3, {S0: 1.0}), ("shortness of breath .", 0, {S1: 1.0}),
            ("respiratory distress .", -0.5, {S1: 1.4}), ("chest pain .", -0.2, {S1: 0.5}),
            ("gi bleed .", -0.2, {}), ("fall at home .", -0.2, {S0: -0.6}),
            ("overdose .", -0.8, {S0: -0.3}), ("post op monitoring .", 0.3, {S0: -0.8, S1: -0.4}),
            ("weakness .", -0.3, {})]),
    ((1.5, {}), [("no significant pmh .", 0.5, {N1: -1.4}), ("pmh htn .", 0.6, {N1: -0.4}),
                 ("pmh htn , hld .", 0.4, {N1: -0.2}), ("pmh dm2 .", 0, {N1: 0.4}),
                 ("pmh chf , ef 25 % .", -0.8, {N1: 1.1}),
                 ("pmh copd on home o2 .", -0.8, {N1: 1.1}), ("pmh cirrhosis .", -1.0, {N1: 1.3}),
                 ("pmh esrd on hd .", -1.2, {N1: 1.4}),
                 ("pmh metastatic cancer .", -1.2, {N1: 1.2, N0: 0.6}),
                 ("pmh cad s/p cabg .", -0.6, {N1: 0.8}),
                 ("pmh afib on coumadin .", -0.5, {N1: 0.7})]),
    ((-0.5, {N1: 1.2}), [("also ckd .", 0, {N1: 0.5}), ("also etoh abuse .", 0, {N1: 0.8}),
                         ("also dementia .", 0, {N0: 0.8}), ("also prior stroke .", 0, {}),
                         ("also osa .", 0, {}), ("also hypothyroidism .", 0, {})]),
    (None, [("hemodynamically stable .", 0.8, {S0: -1.2}), ("bp soft .", 0, {S0: 0.6}),
            ("remains hypotensive .", -0.8, {S0: 1.3}), ("on levophed .", -1.0, {S0: 1.6}),
            ("on pressors , lactate trending up .", -1.8, {S0: 1.9}),
            ("s/p fluid bolus .", -0.2, {S0: 0.7}), ("weaned off pressors .", -0.8, {S0: 0.6})]),
    (None, [("on room air .", 0.8, {S1: -1.3}), ("on 2l nc .", 0.5, {}),
            ("on high flow .", -0.7, {S1: 1.0}), ("on bipap .", -1.0, {S1: 1.2}),
            ("intubated , on vent .", -1.2, {S1: 1.7}), ("extubated today .", -1.0, {S1: 0.5})]),
    ((1.7, {}), [("full code .", 1.5, {N0: -1.3}),
                 ("full code , confirmed with family .", 0.3, {N0: -0.6}),
                 ("dnr .", -1.0, {N0: 1.0}), ("dnr / dni .", -1.4, {N0: 1.5}),
                 ("dnr / dni , cmo being discussed .", -2.4, {N0: 2.0}),
                 ("code status pending .", -0.6, {N0: 0.4})]),
    ((0.3, {}), [("lives with wife .", 0.5, {N0: -0.5}), ("lives with family .", 0.5, {N0: -0.3}),
                 ("lives alone .", 0, {N1: 0.2}), ("from nursing home .", -0.8, {N0: 1.0, N1: 0.4}),
                 ("from rehab .", -0.5, {N0: 0.3}), ("homeless .", -1.5, {N1: 0.6})]),
]
_PLAN = [("continue abx .", 0, {S0: 0.5}), ("f/u cultures .", 0, {S0: 0.3}),
         ("trend labs .", 0.3, {}), ("diuresis as tolerated .", -0.3, {S1: 0.4}),
         ("pt / ot .", 0, {N0: -0.3}), ("wean sedation .", -0.6, {S1: 0.7}),
         ("family meeting tomorrow .", -1.0, {N0: 1.3}),
         ("palliative care consult .", -1.5, {N0: 1.7}),
         ("dispo to floor when stable .", 0.2, {N0: -0.5, S0: -0.5})]
_NOTE_SLOTS += [
    (None, _PLAN),
    ((0.0, {}), _PLAN),
    ((-0.3, {}), [("will continue to monitor .", 0, {}), ("see flowsheet for details .", 0, {}),
                  ("discussed with attending .", 0, {}), ("nursing aware .", 0, {}),
                  ("labs pending .", 0, {})]),
]


# slot -> (earlier slot that must be included, its lowest allowed option, must differ from it)
_NOTE_AFTER = {3: (2, 1, False), 9: (8, 0, True)}


def _note_vocab() -> list[str]:
    vocab = ["<pad>"]
    for _, options in _NOTE_SLOTS:
        for phrase, _, _ in options:
            for w in phrase.split():
                if w not in vocab:
                    vocab.append(w)
    return vocab


NOTE_VOCAB: list[str] = _note_vocab()
"""Token id -> word for the ``notes`` modality (id 0 is ``"<pad>"``)."""
_WORD_ID = {w: i for i, w in enumerate(NOTE_VOCAB)}


def _loading_matrix(loads: list[dict]) -> np.ndarray:
    w = np.zeros((len(loads), N_FACTORS))
    for i, d in enumerate(loads):
        for f, v in d.items():
            w[i, f] = v
    return w


def _make_notes(z: np.ndarray, info: float, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    n = z.shape[0]
    parts, picks, kept = [], [], []
    for j, (incl, options) in enumerate(_NOTE_SLOTS):
        words = [p.split() for p, _, _ in options]
        width = max(len(w) for w in words)
        table = np.zeros((len(options), width), dtype=np.int64)
        for i, ws in enumerate(words):
            table[i, : len(ws)] = [_WORD_ID[w] for w in ws]
        base = np.array([b for _, b, _ in options])
        logits = base[None] + info * z @ _loading_matrix([d for _, _, d in options]).T
        pick = _gumbel_choice(logits, noise, rng)
        keep = np.ones(n, dtype=bool)
        if incl is not None:
            b, d = incl
            lin = b + info * z @ _loading_matrix([d])[0]
            uu = rng.random(n).clip(1e-12, 1 - 1e-12)
            keep = lin + noise * np.log(uu / (1 - uu)) > 0
        if j in _NOTE_AFTER:
            prev, min_option, distinct = _NOTE_AFTER[j]
            keep &= kept[prev] & (picks[prev] >= min_option)
            if distinct:
                keep &= pick != picks[prev]
        picks.append(pick)
        kept.append(keep)
        parts.append(table[pick] * keep[:, None])
    tok = np.concatenate(parts, axis=1)
    order = np.argsort(tok == 0, axis=1, kind="stable")  # real tokens first, in order
    tok = np.take_along_axis(tok, order, axis=1)[:, :NOTES_MAX_LEN]
    lengths = (tok != 0).sum(1).astype(np.int64)
    out = np.zeros((n, NOTES_MAX_LEN), dtype=np.int64)
    out[:, : tok.shape[1]] = tok
    return out, lengths


def decode_note(ids) -> str:
    """The words of a ``notes`` token sequence (padding dropped)."""
    return " ".join(NOTE_VOCAB[int(i)] for i in ids if int(i) != 0)


# ============================================================================================
# assembly


def _share(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _modalities(value) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    mods = list(value)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown or not mods or len(set(mods)) != len(mods):
        raise ValueError(
            f"modalities must be distinct names from {MODALITIES} (at least one), got {value!r}")
    return [m for m in MODALITIES if m in mods]


def _ts_options(options: dict) -> tuple[float, float, float]:
    return (float(options.get("informative_ts", 1.0)), float(options.get("noise", 1.0)),
            float(options.get("informative_missingness", 0.0)))


def raw_events(dataset_or_options, patient: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The simulated charted events behind patient ``patient``'s ``ts`` (the patient id, as in
    ``split.ids``), as :meth:`mindkit.data.mimic.Discretizer.transform` takes them:
    ``(hours, columns)``. ``dataset_or_options`` is a synthetic dataset or its ``options``.
    ``Discretizer().transform(hours, columns, 48)`` gives the unstandardised 76 columns."""
    opts = getattr(dataset_or_options, "options", dataset_or_options)
    n, seed = int(opts["n_samples"]), int(opts["seed"])
    if not 0 <= int(patient) < n:
        raise IndexError(f"patient {patient} is not one of the {n} synthetic patients")
    info, noise, miss = _ts_options(opts)
    raw = _simulate_ts(_factors(seed, n), info, noise, miss, _rng(seed, _S_TS))
    return raw.events(int(patient))


def _standardise(x: np.ndarray, train_rows: np.ndarray, cols: list[int]) -> dict:
    """Standardise ``cols`` of ``x [N, F]`` with the mean / std (ddof 1) of ``train_rows``."""
    vals = x[train_rows][:, cols].astype(np.float64)
    mean = vals.mean(0) if len(vals) else np.zeros(len(cols))
    std = vals.std(0, ddof=1) if len(vals) > 1 else np.ones(len(cols))
    std = np.where(std < 1e-7, 1.0, std)
    x[:, cols] = ((x[:, cols] - mean) / std).astype(_F32)
    return {"columns": cols, "names": [DEMO_FEATURES[c] for c in cols],
            "mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "fitted_on": {"patients": int(train_rows.sum())}}


def _generate(task: str, *, n_samples, modalities, unpaired_ts, unpaired_cxr, unpaired_demo,
              unpaired_notes, informative_ts, informative_cxr, informative_demo,
              informative_notes, informative_missingness, noise, image_size, seed,
              val_fraction, test_fraction, prevalence=None) -> MultimodalDataset:
    n = int(n_samples)
    if n < 20:
        raise ValueError(f"n_samples must be >= 20, got {n_samples}")
    mods = _modalities(modalities)
    unpaired = {m: _share(f"unpaired_{m}", v) for m, v in (
        ("ts", unpaired_ts), ("cxr", unpaired_cxr), ("demo", unpaired_demo),
        ("notes", unpaired_notes))}
    for m in MODALITIES:
        if m not in mods and m in ("demo", "notes") and unpaired[m] > 0:
            raise ValueError(f"unpaired_{m}={unpaired[m]} but {m!r} is not in modalities {mods}")
    if len(mods) == 1:
        unpaired = {m: 0.0 for m in MODALITIES}
    total = sum(unpaired[m] for m in mods)
    if total > 1:
        raise ValueError(" + ".join(f"unpaired_{m}" for m in mods)
                         + f" must be <= 1, got {total:g}")
    info = {"ts": float(informative_ts), "cxr": float(informative_cxr),
            "demo": float(informative_demo), "notes": float(informative_notes)}
    if min(*info.values(), float(noise), float(informative_missingness)) < 0:
        raise ValueError("informative_* options, informative_missingness and noise must be >= 0")
    noise = float(noise)
    size = int(image_size)
    if size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    fr = (1.0 - val_fraction - test_fraction, float(val_fraction), float(test_fraction))
    if min(fr) < 0 or fr[0] <= 0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {fr[1]} + {fr[2]}")
    seed = int(seed)

    z = _factors(seed, n)
    label_rng = _rng(seed, _S_LABEL)
    if task == "binary":
        p = _share("prevalence", prevalence)
        if not 0 < p < 1:
            raise ValueError("prevalence must be strictly between 0 and 1")
        logit = _intercept(IHM_WEIGHTS, p) + z @ IHM_WEIGHTS
        y = (label_rng.random(n) < _sigmoid(logit)).astype(np.float32)[:, None]
        class_names = ["mortality"]
    else:
        logit = PHENO_INTERCEPTS[None] + z @ PHENO_WEIGHTS.T
        y = (label_rng.random(logit.shape) < _sigmoid(logit)).astype(np.float32)
        class_names = list(PHENOTYPES)

    # presence pattern: 0 every modality, k >= 1 modality mods[k - 1] alone (exact counts)
    pattern = np.zeros(n, dtype=np.int64)
    perm = _rng(seed, _S_PRESENCE).permutation(n)
    start = 0
    for k, m in enumerate(mods, start=1):
        cnt = int(round(unpaired[m] * n))
        pattern[perm[start : start + cnt]] = k
        start += cnt
    present = {m: (pattern == 0) | (pattern == k) for k, m in enumerate(mods, start=1)}
    strata = pattern * 2 + (y[:, 0] > 0) if task == "binary" else pattern
    split_of = stratified_split_index(strata, fr, _rng(seed, _S_SPLIT))
    train = split_of == 0

    data: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    prep: dict = {}
    if "ts" in mods:
        raw = _simulate_ts(z, info["ts"], noise, float(informative_missingness),
                           _rng(seed, _S_TS))
        x = _discretise(raw)
        x[~present["ts"]] = 0.0
        fit_rows = train & present["ts"]
        stats = fit_normalizer(x[fit_rows], np.full(int(fit_rows.sum()), T_STEPS))
        apply_normalizer(x, np.where(present["ts"], T_STEPS, 0), stats)
        data["ts"] = x
        prep["ts_standardization"] = stats
    if "cxr" in mods:
        img = _make_cxr(z, info["cxr"], noise, _rng(seed, _S_CXR), size)
        img[~present["cxr"]] = 0.0
        data["cxr"] = img
    if "demo" in mods:
        d = _make_demo(z, info["demo"], noise, _rng(seed, _S_DEMO))
        prep["demo_standardization"] = _standardise(d, train & present["demo"], DEMO_CONTINUOUS)
        d[~present["demo"]] = 0.0
        data["demo"] = d
    if "notes" in mods:
        tok, lens = _make_notes(z, info["notes"], noise, _rng(seed, _S_NOTES))
        tok[~present["notes"]] = 0
        lens[~present["notes"]] = 0
        data["notes"], lengths["notes"] = tok, lens
    patient = np.arange(n, dtype=np.int64)

    splits, items, counts = {}, {}, {}
    for s, sname in enumerate(SPLITS):
        idx = np.flatnonzero(split_of == s)
        splits[sname] = Split(
            inputs={m: torch.from_numpy(np.ascontiguousarray(data[m][idx])) for m in mods},
            present={m: torch.from_numpy(present[m][idx]) for m in mods},
            y=torch.from_numpy(y[idx]),
            ids=torch.from_numpy(patient[idx]),
            lengths={m: torch.from_numpy(v[idx]) for m, v in lengths.items()},
            name=sname,
        )
        items[sname] = {m: [int(i) for i in idx[present[m][idx]]] for m in mods}
        counts[sname] = {
            "samples": int(len(idx)),
            "paired": int((pattern[idx] == 0).sum()),
            **{f"{m}_only": int((pattern[idx] == k).sum()) for k, m in enumerate(mods, 1)},
            "positives": [int(v) for v in y[idx].sum(0)],
        }

    specs = {
        "ts": ModalitySpec("ts", "timeseries", (T_STEPS, N_FEATURES), description=(
            "SYNTHETIC 48 hourly steps x 76 MIMIC discretiser columns (values, one-hots, masks; "
            "12 continuous columns standardised with train statistics)")),
        "cxr": ModalitySpec("cxr", "image", (1, size, size), description=(
            f"SYNTHETIC chest-X-ray-like {size} x {size} image with lesion-like findings, "
            "values in [0, 1]")),
        "demo": ModalitySpec("demo", "tabular", (len(DEMO_FEATURES),), description=(
            "SYNTHETIC demographics / admission features (4 standardised, 8 binary)")),
        "notes": ModalitySpec("notes", "tokens", (NOTES_MAX_LEN,), variable_length=True,
                              vocab_size=len(NOTE_VOCAB), description=(
                                  "SYNTHETIC pseudo-clinical note, token ids (0 = padding)")),
    }
    name = "synthetic_ihm" if task == "binary" else "synthetic_pheno"
    what = "in-hospital mortality" if task == "binary" else "25 phenotype labels"
    features = {}
    if "ts" in mods:
        features["ts"] = list(FEATURE_NAMES)
    if "demo" in mods:
        features["demo"] = list(DEMO_FEATURES)
    card = {
        "source": "SYNTHETIC: generated by mindkit.data.synthetic (no real patient data)",
        "licence": "generated data; same licence as mindkit (MIT)",
        "synthetic": True,
        "modalities": mods,
        "counts": {"patients": n, "per_split": counts},
        "prevalence": [float(v) for v in y.mean(0)],
        "features": features,
        "preprocessing": prep,
        "generator": {
            "factors": list(FACTORS),
            "factor_groups": {k: [FACTORS[i] for i in v] for k, v in FACTOR_GROUPS.items()},
            "label_weights": ([float(v) for v in IHM_WEIGHTS] if task == "binary"
                              else [[float(v) for v in row] for row in PHENO_WEIGHTS]),
            "world_seed": WORLD_SEED,
            "ts_layout": {"continuous_columns": list(CONTINUOUS_COLUMNS),
                          "mask_columns": list(MASK_COLUMNS)},
        },
        "measured": {"script": MEASURED["script"], "setting": MEASURED["setting"],
                     "auroc": MEASURED[name]},
        "caveats": [
            "Synthetic data: laid out like MIMIC-IV + MIMIC-CXR (MedFuse), but every value is "
            "generated; results say nothing about clinical performance.",
            "Missingness is completely at random (modalities, and charting unless "
            "informative_missingness > 0), unlike real ICU data where having a chest X-ray or "
            "a lab is itself informative.",
            "Phenotype names are borrowed from the MIMIC benchmark for familiarity; the labels "
            "are draws from a logistic model of latent factors with only loose clinical meaning.",
            "Every stay lasts the full 48 h (no variable-length stays as in mimic_pheno).",
        ],
    }
    if "notes" in mods:
        card["vocab"] = list(NOTE_VOCAB)
    options = dict(
        n_samples=n, modalities=mods, unpaired_ts=unpaired["ts"],
        unpaired_cxr=unpaired["cxr"], unpaired_demo=unpaired["demo"],
        unpaired_notes=unpaired["notes"], informative_ts=info["ts"],
        informative_cxr=info["cxr"], informative_demo=info["demo"],
        informative_notes=info["notes"], informative_missingness=float(informative_missingness),
        noise=noise, image_size=size, seed=seed, val_fraction=fr[1], test_fraction=fr[2],
    )
    if task == "binary":
        options["prevalence"] = float(prevalence)
    alone = ", ".join(f"{unpaired[m]:.0%} have {m} alone" for m in mods if len(mods) > 1)
    return MultimodalDataset(
        name=name,
        task="binary" if task == "binary" else "multilabel",
        class_names=class_names,
        modalities={m: specs[m] for m in mods},
        splits=splits,
        synthetic=True,
        description=(
            f"SYNTHETIC ICU data ({what}): {n} generated patients with modalities "
            f"{', '.join(mods)} (48 h x 76 MIMIC-layout series, {size} x {size} chest-X-ray-like "
            f"image, demographics, note tokens, as requested){'; ' + alone if alone else ''}. "
            "Not real patient data."
        ),
        options=options,
        card=card,
        items=items,
    )


MEASURED = {
    "script": "/tmp/measure_synth.py (throwaway tuning script, not a benchmark): logistic "
              "regression on simple summaries per modality; late fusion = sum of unimodal logits, "
              "concat = one model on all summaries trained on paired train samples",
    "setting": "all four modalities, other options at defaults; AUROC (pheno: macro over 25 "
               "labels) on paired test samples",
    "synthetic_ihm": {
        "n_samples=3000, mean of seeds 0-2": {"ts": 0.70, "cxr": 0.62, "demo": 0.65,
                                               "notes": 0.62, "late": 0.74, "concat": 0.73},
        "n_samples=20000, seed 0": {"ts": 0.71, "cxr": 0.70, "demo": 0.70, "notes": 0.70,
                                    "late": 0.82, "concat": 0.85},
    },
    "synthetic_pheno": {
        "n_samples=3000, mean of seeds 0-2": {"ts": 0.67, "cxr": 0.59, "demo": 0.61,
                                               "notes": 0.62, "late": 0.72, "concat": 0.70},
        "n_samples=20000, seed 0": {"ts": 0.69, "cxr": 0.63, "demo": 0.64, "notes": 0.64,
                                    "late": 0.76, "concat": 0.76},
    },
}

_OPTIONS_DOC = """
    Options:
        n_samples: number of synthetic patients (one sample each), default 3000.
        modalities: which modalities to build, from "ts", "cxr", "demo", "notes" (a list, or a
            comma-separated string); default ("ts", "cxr").
        unpaired_ts: share of patients with the time series alone (default 0.4).
        unpaired_cxr: share of patients with the image alone (default 0.1).
        unpaired_demo, unpaired_notes: shares with demographics / notes alone (default 0; only
            with that modality requested). The other patients have every requested modality;
            shares of modalities not requested (and all shares with a single modality) are
            ignored.
        informative_ts, informative_cxr, informative_demo, informative_notes: strength of the
            factor signal in each modality (0: none; default 1).
        informative_missingness: how much sicker patients are charted more often (neuro checks,
            labs, temperature); default 0 (missingness uninformative).
        noise: scale of the nuisance variation and noise in every modality (default 1).
        image_size: side of the square image (default 32).
        seed: fixes the patients, presence pattern, noise and split (default 0).
        val_fraction, test_fraction: patient shares of val and test (default 0.15 each).
"""


@DATASETS.register("synthetic_ihm")
@strict_options
def build_ihm(
    *,
    n_samples: int = 3000,
    modalities=("ts", "cxr"),
    unpaired_ts: float = 0.4,
    unpaired_cxr: float = 0.1,
    unpaired_demo: float = 0.0,
    unpaired_notes: float = 0.0,
    informative_ts: float = 1.0,
    informative_cxr: float = 1.0,
    informative_demo: float = 1.0,
    informative_notes: float = 1.0,
    informative_missingness: float = 0.0,
    noise: float = 1.0,
    image_size: int = IMG,
    prevalence: float = 0.12,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> MultimodalDataset:
    return _generate("binary", **{k: v for k, v in locals().items()})


build_ihm.__doc__ = (
    "SYNTHETIC in-hospital mortality (binary, class ``mortality``, y float [B, 1]).\n"
    + _OPTIONS_DOC
    + "        prevalence: expected share of deaths (default 0.12).\n"
)


@DATASETS.register("synthetic_pheno")
@strict_options
def build_pheno(
    *,
    n_samples: int = 3000,
    modalities=("ts", "cxr"),
    unpaired_ts: float = 0.4,
    unpaired_cxr: float = 0.1,
    unpaired_demo: float = 0.0,
    unpaired_notes: float = 0.0,
    informative_ts: float = 1.0,
    informative_cxr: float = 1.0,
    informative_demo: float = 1.0,
    informative_notes: float = 1.0,
    informative_missingness: float = 0.0,
    noise: float = 1.0,
    image_size: int = IMG,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> MultimodalDataset:
    return _generate("multilabel", **{k: v for k, v in locals().items()})


build_pheno.__doc__ = (
    "SYNTHETIC phenotyping (multilabel, 25 labels named after the MIMIC benchmark phenotypes, "
    "y float [B, 25]).\n" + _OPTIONS_DOC
)
