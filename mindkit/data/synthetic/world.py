"""The synthetic world: sizes, the 13 latent factors, the label model (mortality weights,
phenotype loadings and intercepts) and the seeded random streams. Hand-set constants: ``seed``
redraws only the patients, never these."""

from __future__ import annotations

import numpy as np

from mindkit.common import SPLITS as SPLITS  # the one definition, re-exported here
from mindkit.common import rng_stream
from mindkit.data.mimic import FEATURE_NAMES

T_STEPS, IMG = 48, 32
N_FEATURES = len(FEATURE_NAMES)
MODALITIES = ("ts", "cxr", "demo", "notes")
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

# independent random streams, one per purpose (rng_stream(seed, STREAMS, S_TS), ...), so that
# e.g. requesting another modality never moves the labels, the split or another modality
STREAMS = 104729
_S_FACTORS, S_PRESENCE, S_SPLIT, S_TS, S_CXR, S_LABEL, S_DEMO, S_NOTES = range(8)
F32 = np.float32


def sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x))


_GH = np.polynomial.hermite_e.hermegauss(80)
_GH = (_GH[0], _GH[1] / _GH[1].sum())


def intercept(w: np.ndarray, prevalence: float) -> float:
    """Intercept b with E[sigmoid(b + w.z)] = prevalence for z ~ N(0, I) (Gauss-Hermite)."""
    nodes, weights = _GH
    sd = float(np.linalg.norm(w))
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        p = float((weights / (1 + np.exp(-(mid + sd * nodes)))).sum())
        lo, hi = (mid, hi) if p < prevalence else (lo, mid)
    return (lo + hi) / 2


PHENO_INTERCEPTS = np.array([intercept(w, p) for w, p in zip(PHENO_WEIGHTS, PHENO_PREVALENCE)])


def draw_factors(seed: int, n: int) -> np.ndarray:
    """The latent factors ``[n, 13]`` of patients ``0 .. n - 1`` (i.i.d. N(0, 1))."""
    return rng_stream(seed, STREAMS, _S_FACTORS).standard_normal((n, N_FACTORS))
