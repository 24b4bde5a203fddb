"""The ``ts`` modality: raw hourly charted events of the 17 MIMIC channels, simulated in
clinical units from the latent factors (:class:`RawTS`), and their discretisation to the 76
MIMIC columns with the :class:`mindkit.data.mimic.Discretizer` semantics, vectorised over
patients."""

from __future__ import annotations

import numpy as np

from mindkit.common import rng_stream
from mindkit.data.mimic import default_discretizer
from mindkit.data.synthetic.world import (
    F32,
    N_FEATURES,
    S0,
    S1,
    S_TS,
    STREAMS,
    T0,
    T1,
    T2,
    T_STEPS,
    draw_factors,
    sigmoid,
)

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
# probability that a group is charted in an hour (body: see simulate_ts)
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


def simulate_ts(z: np.ndarray, info: float, noise: float, missing_info: float, rng) -> RawTS:
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
    p_dip = sigmoid(-3.2 + info * (0.9 * z[:, S1] + 0.5 * z[:, T2]))
    dip = (rng.random((n, T)) < p_dip[:, None]) * rng.uniform(4, 10, (n, T))
    state[:, :, SPO2] -= dip
    state[:, :, HR] += 0.6 * dip
    state[:, :, RR] += 0.4 * dip
    state[:, :, MBP] = (state[:, :, SBP] + 2 * state[:, :, DBP]) / 3
    need = -1.8 + info * (1.1 * z[:, S1, None] + 1.0 * z[:, T2, None] * tc) + noise * (
        0.7 * rng.standard_normal(n)[:, None] + 0.4 * _ar1(rng, n, 1)[:, :, 0])
    state[:, :, FIO2] = 0.21 + 0.79 * sigmoid(need)

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
    intubated = rng.random(n) < sigmoid(-1.6 + info * 1.4 * z[:, S1])
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
    p_crr = sigmoid(-2.4 + info * 1.3 * z[:, S0])
    val[:, :, CRR] = rng.random((n, T)) < p_crr[:, None]
    val[~obs] = 0.0
    dup_val[~dup] = 0.0
    return RawTS(obs, val, dup, dup_val, t_last, t_first)


def discretise(raw: RawTS) -> np.ndarray:
    """The discretiser's output ``[n, 48, 76]`` (unstandardised) for simulated events,
    vectorised over patients (same semantics as :meth:`Discretizer.transform`)."""
    obs, val = raw.obs, raw.val
    n, T, _ = obs.shape
    idx = np.where(obs, np.arange(T)[None, :, None], -1)
    idx = np.maximum.accumulate(idx, axis=1)
    filled = np.take_along_axis(val, np.maximum(idx, 0), axis=1)
    filled = np.where(idx >= 0, filled, _DISC.normal_codes[None, None, :])
    x = np.zeros((n, T, N_FEATURES), dtype=F32)
    for j, c in enumerate(_DISC.channels):
        b = int(_DISC.begin[j])
        if _DISC.is_categorical[j]:
            k = len(_DISC.possible_values[c])
            x[:, :, b : b + k] = filled[:, :, j, None] == np.arange(k)
        else:
            x[:, :, b] = filled[:, :, j]
    x[:, :, _DISC.n_value_columns :] = obs
    return x


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
    raw = simulate_ts(draw_factors(seed, n), info, noise, miss, rng_stream(seed, STREAMS, S_TS))
    return raw.events(int(patient))
