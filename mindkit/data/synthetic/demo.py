"""The ``demo`` modality: 12 tabular demographic and admission features drawn from the
demographic and shared factors."""

from __future__ import annotations

import numpy as np

from mindkit.data.synthetic.world import D0, D1, F32, S0, S1

DEMO_FEATURES = [
    "age", "female", "bmi", "comorbidity_count", "prior_admissions_1y",
    "admission_emergency", "admission_urgent", "admission_elective",
    "unit_MICU", "unit_SICU", "unit_CCU", "unit_CSRU",
]
DEMO_CONTINUOUS = [0, 2, 3, 4]  # standardised with train statistics; the rest stay 0/1


def gumbel_choice(logits: np.ndarray, noise: float, rng) -> np.ndarray:
    """Categorical draws (softmax of ``logits``) via Gumbel-max; ``noise=0``: the argmax."""
    gum = -np.log(-np.log(rng.random(logits.shape).clip(1e-12, 1 - 1e-12)))
    return np.argmax(logits + noise * gum, axis=1)


def make_demo(z: np.ndarray, info: float, noise: float, rng) -> np.ndarray:
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
    adm = gumbel_choice(adm_logits, noise, rng)
    elective = (adm == 2).astype(float)
    unit_logits = np.stack([0.8 + 0.4 * info * z[:, S0], 0.3 + 1.2 * elective,
                            -0.2 + 0.8 * info * z[:, S1], -0.6 + elective + 0.3 * info * z[:, S1]],
                           axis=1)
    unit = gumbel_choice(unit_logits, noise, rng)
    x = np.zeros((n, len(DEMO_FEATURES)), dtype=F32)
    x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4] = age, female, bmi, comorb, prior
    x[np.arange(n), 5 + adm] = 1.0
    x[np.arange(n), 8 + unit] = 1.0
    return x


def standardise(x: np.ndarray, train_rows: np.ndarray, cols: list[int]) -> dict:
    """Standardise ``cols`` of ``x [N, F]`` with the mean / std (ddof 1) of ``train_rows``."""
    vals = x[train_rows][:, cols].astype(np.float64)
    mean = vals.mean(0) if len(vals) else np.zeros(len(cols))
    std = vals.std(0, ddof=1) if len(vals) > 1 else np.ones(len(cols))
    std = np.where(std < 1e-7, 1.0, std)
    x[:, cols] = ((x[:, cols] - mean) / std).astype(F32)
    return {"columns": cols, "names": [DEMO_FEATURES[c] for c in cols],
            "mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "fitted_on": {"patients": int(train_rows.sum())}}
