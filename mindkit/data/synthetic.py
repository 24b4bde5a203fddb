"""Synthetic ICU data shaped like MIMIC-IV + MIMIC-CXR in the MedFuse setup. SYNTHETIC.

Two datasets share one generator: ``synthetic_ihm`` (binary in-hospital mortality) and
``synthetic_pheno`` (25 phenotype labels, named after the 25 MIMIC benchmark phenotypes). Every
sample is one synthetic patient with a 48-hour x 76-feature time series (``ts``) and/or a
single-channel 32 x 32 chest-X-ray-like image (``cxr``). Nothing here is real patient data and
no figure computed on it says anything about medicine; the datasets are flagged ``synthetic``.

**Generative model.** Each patient has 9 latent risk factors drawn i.i.d. N(0, 1): 2 *shared*
factors visible in both modalities, 3 visible only in the time series, 3 visible only in the
image and 1 never observed (irreducible label noise). Labels follow a logistic model of all
factors (intercepts set so mortality prevalence is ``prevalence``, default 0.12, and phenotype
prevalences spread over 4-35%), so each modality carries signal the other lacks and fusion
should beat either alone.

- ``ts``: 76 channels = a per-patient, per-channel baseline (nuisance, N(0, ``noise``)) + a
  level shift loading on the visible factors (scaled by ``informative_ts``) + for 12 "trend"
  channels a linear trend over the 48 h whose slope loads on the factors (one ts-only factor is
  visible *only* through these trends, i.e. deterioration) + a daily cycle in 6 vital-like
  channels + AR(1) noise (phi 0.8) scaled by ``noise``.
- ``cxr``: a fixed chest layout (bright body, two dark lung fields, a heart silhouette) with
  patient-level exposure/contrast jitter and smooth texture noise; factor-driven findings: heart
  width ("cardiomegaly"), a focal opacity in the left lung whose intensity grows with one factor,
  a right-lung opacity whose size grows with another, and a basal band ("effusion") whose height
  grows with a third; all scaled by ``informative_cxr``. Values are clipped to [0, 1].

The label weights and channel loadings (the "world") are fixed by a constant, so ``seed`` only
redraws the patients, the presence pattern, the noise and the split.

Missingness is completely at random: ``unpaired_ts`` of the patients lack the image,
``unpaired_cxr`` lack the time series, the rest have both. Splits are patient-level (each
patient is one sample) and stratified by presence pattern (and by label for mortality).

**Measured at the defaults** (from the throwaway tuning script the generator was tuned with,
not a benchmark): logistic regression on simple summaries (per-channel mean / last-6-h mean / std
/ slope for ``ts``; 4x4-pooled means, row profile and intensity quantiles for ``cxr``), each
unimodal model trained on every train sample that has its modality, late fusion = sum of the two
unimodal logits, evaluated on the *paired* test samples (225 at n_samples=3000). Mean over seeds
0-2 at n_samples=3000: ``synthetic_ihm`` AUROC ts 0.74, cxr 0.68, late fusion 0.79 (a concat
model trained on the paired train samples only: 0.79); ``synthetic_pheno`` macro AUROC ts 0.68,
cxr 0.64, late fusion 0.72. With n_samples=20000 (seed 0, 1,500 paired test samples):
ihm 0.75 / 0.71 / 0.81, pheno 0.74 / 0.68 / 0.78. With 225 paired test samples (~27 deaths)
the ihm figures move by several points from seed to seed. The ceiling (a logistic model of the
true factors) is ~0.79 for the factors either modality shows and ~0.88 for both (ihm), so there
is headroom for better encoders than these summaries.
"""

from __future__ import annotations

import numpy as np
import torch

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.registry import DATASETS, strict_options

T_STEPS, N_FEATURES, IMG = 48, 76, 32
N_SHARED, N_TS, N_CXR, N_HIDDEN = 2, 3, 3, 1
N_FACTORS = N_SHARED + N_TS + N_CXR + N_HIDDEN
SH = slice(0, N_SHARED)
TS = slice(N_SHARED, N_SHARED + N_TS)
CX = slice(N_SHARED + N_TS, N_SHARED + N_TS + N_CXR)
WORLD_SEED = 20240611
SPLITS = ("train", "val", "test")

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
    "Pneumonia (except that caused by tuberculosis)",
    "Respiratory failure; insufficiency; arrest (adult)",
    "Septicemia (except in labor)",
    "Shock",
]

# label weights on the 9 factors: [shared x2 | ts-only x3 | cxr-only x3 | hidden]
IHM_WEIGHTS = np.array([0.5, 0.5, 0.9, 0.8, 0.8, 0.9, 0.8, 0.8, 0.6])

_S_FACTORS, _S_PRESENCE, _S_SPLIT, _S_TS, _S_CXR, _S_LABEL = range(6)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 104729, stream])


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


class _World:
    """Fixed structure of the generator (loadings, label weights); independent of ``seed``."""

    def __init__(self) -> None:
        g = np.random.default_rng(WORLD_SEED)
        n_vis = N_SHARED + N_TS
        # level loadings: 48 informative channels, each on 1-2 visible ts factors; the last
        # ts-only factor has no level loading (it shows only through the trends)
        self.level = np.zeros((n_vis, N_FEATURES))
        for j in range(48):
            for f in g.choice(n_vis - 1, size=g.integers(1, 3), replace=False):
                self.level[f, j] = g.choice([-1, 1]) * g.uniform(0.4, 0.8)
        # trend loadings: channels 0..11; slope loads on the hidden-in-level factor + a shared one
        self.trend = np.zeros((n_vis, N_FEATURES))
        for j in range(12):
            self.trend[n_vis - 1, j] = g.choice([-1, 1]) * g.uniform(0.8, 1.2)
            self.trend[g.integers(0, N_SHARED), j] += g.choice([-1, 1]) * g.uniform(0.2, 0.4)
        self.cycle_channels = np.arange(12, 18)
        self.cycle_phase = g.uniform(0, 2 * np.pi, size=6)
        # phenotypes: each loads on 3-4 factors, intercept for prevalence in [0.04, 0.35]
        self.pheno_w = np.zeros((len(PHENOTYPES), N_FACTORS))
        for k in range(len(PHENOTYPES)):
            groups = [SH, TS, CX]
            for grp in groups:
                f = g.integers(grp.start, grp.stop)
                self.pheno_w[k, f] = g.choice([-1, 1]) * g.uniform(0.7, 1.3)
            self.pheno_w[k, N_FACTORS - 1] = g.uniform(0.4, 0.8)
            if g.random() < 0.5:
                self.pheno_w[k, g.integers(0, N_FACTORS - 1)] += g.uniform(-0.8, 0.8)
        prev = g.uniform(0.04, 0.35, size=len(PHENOTYPES))
        self.pheno_b = np.array([_intercept(w, p) for w, p in zip(self.pheno_w, prev)])
        self.pheno_prevalence = prev
        # image layout (fixed anatomy on a 32 x 32 grid)
        yy, xx = np.mgrid[0:IMG, 0:IMG].astype(np.float64)
        self.yy, self.xx = yy, xx
        lungs = np.zeros((IMG, IMG))
        for cx in (9.5, 22.5):
            lungs = np.maximum(lungs, _soft((((xx - cx) / 6.5) ** 2 + ((yy - 15) / 11) ** 2)))
        self.lungs = lungs


def _soft(r2: np.ndarray, edge: float = 0.15) -> np.ndarray:
    """Soft indicator of ``r2 < 1``."""
    return 0.5 - 0.5 * np.tanh((r2 - 1.0) / (2 * edge))


_WORLD: _World | None = None


def _world() -> _World:
    global _WORLD
    if _WORLD is None:
        _WORLD = _World()
    return _WORLD


def _make_ts(z: np.ndarray, info: float, noise: float, rng) -> np.ndarray:
    w = _world()
    n = z.shape[0]
    f32 = np.float32
    vis = z[:, : N_SHARED + N_TS]
    t = np.linspace(-1.0, 1.0, T_STEPS, dtype=f32)[None, :, None]
    base = noise * rng.standard_normal((n, 1, N_FEATURES), dtype=f32)
    level = (info * (vis @ w.level)).astype(f32)[:, None, :]
    slope = (info * (vis @ w.trend)).astype(f32)[:, None, :]
    jitter = rng.standard_normal((n, 1, N_FEATURES), dtype=f32)
    slope = slope + f32(0.3 * noise) * jitter * (w.trend != 0).any(0).astype(f32)
    # AR(1) noise (phi 0.8, stationary std 0.6 * noise), then the signal added in place
    phi, sd = 0.8, 0.6 * noise
    e = rng.standard_normal((T_STEPS, n, N_FEATURES), dtype=f32)  # time-major: contiguous steps
    e[1:] *= f32(sd * np.sqrt(1 - phi**2))
    e[0] *= f32(sd)
    for step in range(1, T_STEPS):
        e[step] += f32(phi) * e[step - 1]
    x = np.ascontiguousarray(e.transpose(1, 0, 2))
    x += base
    x += level
    x += slope * t
    hours = np.arange(T_STEPS)
    cyc = np.sin(2 * np.pi * hours[:, None] / 24 + w.cycle_phase[None, :]).astype(f32)
    x[:, :, w.cycle_channels] += 0.5 * cyc[None]
    return x


def _gauss_blob(pos: np.ndarray, radius, grid: np.ndarray) -> np.ndarray:
    """Separable Gaussian blobs [n, IMG, IMG] centred at ``pos`` (row, col) with ``radius``."""
    radius = np.broadcast_to(np.asarray(radius, dtype=np.float32), (pos.shape[0],))[:, None]
    gy = np.exp(-((grid[None] - pos[:, :1]) ** 2) / (2 * radius**2))
    gx = np.exp(-((grid[None] - pos[:, 1:]) ** 2) / (2 * radius**2))
    return gy[:, :, None] * gx[:, None, :]


def _make_cxr(z: np.ndarray, info: float, noise: float, rng) -> np.ndarray:
    w = _world()
    n = z.shape[0]
    f32 = np.float32
    z = z.astype(f32)
    grid = np.arange(IMG, dtype=f32)
    yy, xx = grid[None, :, None], grid[None, None, :]
    lungs = w.lungs.astype(f32)[None]
    s0, s1 = z[:, 0], z[:, 1]
    c0, c1, c2 = z[:, CX.start], z[:, CX.start + 1], z[:, CX.start + 2]
    col = lambda v: v[:, None, None]  # noqa: E731
    # anatomy: body 0.65, lung fields 0.2, heart silhouette (width grows with s1: cardiomegaly)
    img = 0.65 - 0.45 * lungs
    heart_w = col(4.5 * np.exp(0.12 * info * s1))
    heart = _soft(((xx - 17.5) / heart_w) ** 2 + ((yy - 21) / f32(5.5)) ** 2)
    img = img + (0.55 - img) * heart
    # left-lung focal opacity: intensity grows with c0 (and s0)
    pos1 = np.stack([rng.uniform(11, 22, n), rng.uniform(6, 12, n)], axis=1).astype(f32)
    amp1 = 0.6 / (1 + np.exp(-(info * (1.5 * c0 + 0.4 * s0) - 0.5)))
    img = img + col(amp1) * _gauss_blob(pos1, 2.5, grid) * lungs
    # right-lung opacity: size grows with c1
    pos2 = np.stack([rng.uniform(9, 20, n), rng.uniform(20, 26, n)], axis=1).astype(f32)
    r2 = 2.0 * np.exp(0.4 * info * c1)
    img = img + 0.35 * _gauss_blob(pos2, r2, grid) * lungs
    # basal band ("effusion"): height grows with c2 (and s0); depends on the row only
    h = np.clip(3.0 + 2.0 * info * (c2 + 0.3 * s0), 0.0, 14.0)[:, None]
    band = 1.0 / (1.0 + np.exp(-(grid[None] - (26.5 - h)) / 0.7))
    img = img + 0.35 * band[:, :, None] * lungs
    # nuisance: exposure/contrast per patient, smooth texture and pixel noise
    contrast = col(1.0 + 0.12 * noise * rng.standard_normal(n, dtype=f32))
    exposure = col(0.06 * noise * rng.standard_normal(n, dtype=f32))
    low = torch.from_numpy(rng.standard_normal((n, 1, 8, 8), dtype=f32))
    tex = torch.nn.functional.interpolate(low, size=(IMG, IMG), mode="bicubic")[:, 0].numpy()
    img = (img - 0.4) * contrast + 0.4 + exposure
    img += f32(0.06 * noise) * tex
    img += f32(0.04 * noise) * rng.standard_normal((n, IMG, IMG), dtype=f32)
    return np.clip(img, 0.0, 1.0).astype(f32)[:, None]


def _split_index(strata: np.ndarray, fr: tuple[float, float, float], rng) -> np.ndarray:
    out = np.empty(len(strata), dtype=np.int64)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        n_val, n_test = int(round(fr[1] * len(idx))), int(round(fr[2] * len(idx)))
        n_train = len(idx) - n_val - n_test
        out[idx[:n_train]] = 0
        out[idx[n_train : n_train + n_val]] = 1
        out[idx[n_train + n_val :]] = 2
    return out


def _share(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _generate(
    task: str,
    n_samples: int,
    unpaired_ts: float,
    unpaired_cxr: float,
    informative_ts: float,
    informative_cxr: float,
    noise: float,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    prevalence: float | None = None,
) -> MultimodalDataset:
    n = int(n_samples)
    if n < 20:
        raise ValueError(f"n_samples must be >= 20, got {n_samples}")
    u_ts, u_cxr = _share("unpaired_ts", unpaired_ts), _share("unpaired_cxr", unpaired_cxr)
    if u_ts + u_cxr > 1:
        raise ValueError(f"unpaired_ts + unpaired_cxr must be <= 1, got {u_ts} + {u_cxr}")
    if min(informative_ts, informative_cxr, noise) < 0:
        raise ValueError("informative_ts, informative_cxr and noise must be >= 0")
    fr = (1.0 - val_fraction - test_fraction, float(val_fraction), float(test_fraction))
    if min(fr) < 0 or fr[0] <= 0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {fr[1]} + {fr[2]}")
    seed = int(seed)
    w = _world()

    z = _rng(seed, _S_FACTORS).standard_normal((n, N_FACTORS))
    label_rng = _rng(seed, _S_LABEL)
    if task == "binary":
        p = _share("prevalence", prevalence)
        if not 0 < p < 1:
            raise ValueError("prevalence must be strictly between 0 and 1")
        logit = _intercept(IHM_WEIGHTS, p) + z @ IHM_WEIGHTS
        y = (label_rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)[:, None]
        class_names = ["mortality"]
    else:
        logit = w.pheno_b[None] + z @ w.pheno_w.T
        y = (label_rng.random(logit.shape) < 1 / (1 + np.exp(-logit))).astype(np.float32)
        class_names = list(PHENOTYPES)

    # presence pattern: 0 paired, 1 ts only, 2 cxr only (exact counts, seeded assignment)
    n_ts_only, n_cxr_only = int(round(u_ts * n)), int(round(u_cxr * n))
    pattern = np.zeros(n, dtype=np.int64)
    perm = _rng(seed, _S_PRESENCE).permutation(n)
    pattern[perm[:n_ts_only]] = 1
    pattern[perm[n_ts_only : n_ts_only + n_cxr_only]] = 2
    has_ts, has_cxr = pattern != 2, pattern != 1

    ts = _make_ts(z, float(informative_ts), float(noise), _rng(seed, _S_TS))
    cxr = _make_cxr(z, float(informative_cxr), float(noise), _rng(seed, _S_CXR))
    ts[~has_ts] = 0.0
    cxr[~has_cxr] = 0.0

    strata = pattern * 2 + (y[:, 0] > 0) if task == "binary" else pattern
    split_of = _split_index(strata, fr, _rng(seed, _S_SPLIT))
    patient = np.arange(n, dtype=np.int64)

    splits, items, counts = {}, {}, {}
    for s, sname in enumerate(SPLITS):
        idx = np.flatnonzero(split_of == s)
        splits[sname] = Split(
            inputs={"ts": torch.from_numpy(ts[idx]), "cxr": torch.from_numpy(cxr[idx])},
            present={"ts": torch.from_numpy(has_ts[idx]), "cxr": torch.from_numpy(has_cxr[idx])},
            y=torch.from_numpy(y[idx]),
            ids=torch.from_numpy(patient[idx]),
            name=sname,
        )
        items[sname] = {
            "ts": [int(i) for i in idx[has_ts[idx]]],
            "cxr": [int(i) for i in idx[has_cxr[idx]]],
        }
        counts[sname] = {
            "samples": int(len(idx)),
            "paired": int((pattern[idx] == 0).sum()),
            "ts_only": int((pattern[idx] == 1).sum()),
            "cxr_only": int((pattern[idx] == 2).sum()),
            "positives": [int(v) for v in y[idx].sum(0)],
        }

    modalities = {
        "ts": ModalitySpec(
            "ts",
            "timeseries",
            (T_STEPS, N_FEATURES),
            description="SYNTHETIC 48 hourly steps x 76 features (MIMIC-IV-like shape)",
        ),
        "cxr": ModalitySpec(
            "cxr",
            "image",
            (1, IMG, IMG),
            description="SYNTHETIC chest-X-ray-like 32 x 32 image, values in [0, 1]",
        ),
    }
    name = "synthetic_ihm" if task == "binary" else "synthetic_pheno"
    what = "in-hospital mortality" if task == "binary" else "25 phenotype labels"
    card = {
        "source": "SYNTHETIC: generated by mindkit.data.synthetic (no real patient data)",
        "licence": "generated data; same licence as mindkit (MIT)",
        "synthetic": True,
        "counts": {"patients": n, "per_split": counts},
        "prevalence": [float(v) for v in y.mean(0)],
        "generator": {
            "factors": {"shared": N_SHARED, "ts_only": N_TS, "cxr_only": N_CXR, "hidden": N_HIDDEN},
            "world_seed": WORLD_SEED,
        },
        "caveats": [
            "Synthetic data: shaped like MIMIC-IV + MIMIC-CXR (MedFuse), but every value is "
            "generated; results say nothing about clinical performance.",
            "Missingness is completely at random, unlike real ICU data where having a chest "
            "X-ray is itself informative.",
            "Phenotype names are borrowed from the MIMIC benchmark for familiarity; the labels "
            "are draws from a logistic model of latent factors with no clinical meaning.",
        ],
    }
    options = dict(
        n_samples=n,
        unpaired_ts=u_ts,
        unpaired_cxr=u_cxr,
        informative_ts=float(informative_ts),
        informative_cxr=float(informative_cxr),
        noise=float(noise),
        seed=seed,
        val_fraction=fr[1],
        test_fraction=fr[2],
    )
    if task == "binary":
        options["prevalence"] = float(prevalence)
    return MultimodalDataset(
        name=name,
        task="binary" if task == "binary" else "multilabel",
        class_names=class_names,
        modalities=modalities,
        splits=splits,
        synthetic=True,
        description=(
            f"SYNTHETIC ICU data ({what}): {n} generated patients with a 48 h x 76 time series "
            f"and/or a 32 x 32 chest-X-ray-like image; {u_ts:.0%} lack the image, {u_cxr:.0%} "
            "lack the time series. Not real patient data."
        ),
        options=options,
        card=card,
        items=items,
    )


_OPTIONS_DOC = """
    Options:
        n_samples: number of synthetic patients (one sample each), default 3000.
        unpaired_ts: share of patients with the time series but no image (default 0.4).
        unpaired_cxr: share of patients with the image but no time series (default 0.1).
        informative_ts: strength of the factor signal in the time series (0: none; default 1).
        informative_cxr: strength of the factor signal in the image (0: none; default 1).
        noise: scale of the nuisance variation and noise in both modalities (default 1).
        seed: fixes the patients, presence pattern, noise and split (default 0).
        val_fraction, test_fraction: patient shares of val and test (default 0.15 each).
"""


@DATASETS.register("synthetic_ihm")
@strict_options
def build_ihm(
    *,
    n_samples: int = 3000,
    unpaired_ts: float = 0.4,
    unpaired_cxr: float = 0.1,
    informative_ts: float = 1.0,
    informative_cxr: float = 1.0,
    noise: float = 1.0,
    prevalence: float = 0.12,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> MultimodalDataset:
    return _generate(
        "binary",
        n_samples,
        unpaired_ts,
        unpaired_cxr,
        informative_ts,
        informative_cxr,
        noise,
        seed,
        val_fraction,
        test_fraction,
        prevalence=prevalence,
    )


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
    unpaired_ts: float = 0.4,
    unpaired_cxr: float = 0.1,
    informative_ts: float = 1.0,
    informative_cxr: float = 1.0,
    noise: float = 1.0,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> MultimodalDataset:
    return _generate(
        "multilabel",
        n_samples,
        unpaired_ts,
        unpaired_cxr,
        informative_ts,
        informative_cxr,
        noise,
        seed,
        val_fraction,
        test_fraction,
    )


build_pheno.__doc__ = (
    "SYNTHETIC phenotyping (multilabel, 25 labels named after the MIMIC benchmark phenotypes, "
    "y float [B, 25]).\n" + _OPTIONS_DOC
)
