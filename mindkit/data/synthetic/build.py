"""Assembling a synthetic ICU dataset: :func:`build_synthetic` draws the patients' factors and
labels, the presence pattern and the split, generates the requested modalities, standardises
them with train statistics and writes the card; ``synthetic_ihm`` and ``synthetic_pheno`` are
registered here as views of it (see :mod:`mindkit.data.synthetic` for the design)."""

from __future__ import annotations

import numpy as np
import torch

from mindkit.common import check_number, check_share, rng_stream
from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.mimic import (
    CONTINUOUS_COLUMNS,
    FEATURE_NAMES,
    MASK_COLUMNS,
    PHENOTYPES,
    apply_normalizer,
    fit_normalizer,
)
from mindkit.data.registry import register_variant
from mindkit.data.splits import check_seed, split_fractions, stratified_split_index
from mindkit.data.synthetic.demo import DEMO_CONTINUOUS, DEMO_FEATURES, make_demo, standardise
from mindkit.data.synthetic.images import make_cxr
from mindkit.data.synthetic.measured import MEASURED
from mindkit.data.synthetic.notes import NOTE_VOCAB, NOTES_MAX_LEN, make_notes
from mindkit.data.synthetic.timeseries import discretise, simulate_ts
from mindkit.data.synthetic.world import (
    FACTOR_GROUPS,
    FACTORS,
    IHM_WEIGHTS,
    IMG,
    MODALITIES,
    N_FEATURES,
    PHENO_INTERCEPTS,
    PHENO_WEIGHTS,
    S_CXR,
    S_DEMO,
    S_LABEL,
    S_NOTES,
    S_PRESENCE,
    S_SPLIT,
    S_TS,
    SPLITS,
    STREAMS,
    T_STEPS,
    WORLD_SEED,
    draw_factors,
    intercept,
    sigmoid,
)

MAX_SCALE = 10.0
"""Upper bound of the ``informative_*`` and ``noise`` options (1 is the default strength):
far above it the generator's Poisson draws overflow (``informative_cxr`` near 16, ``noise``
near 50 already fail at a few hundred patients)."""
MAX_IMAGE_SIZE = 512
_SCALE_HINT = "1 is the default strength; far above 10 the generator's count draws overflow"


def _modalities(value) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    mods = list(value)
    unknown = [m for m in mods if m not in MODALITIES]
    if unknown or not mods or len(set(mods)) != len(mods):
        raise ValueError(
            f"modalities must be distinct names from {MODALITIES} (at least one), got {value!r}")
    return [m for m in MODALITIES if m in mods]


def build_synthetic(
    task: str,
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
    """Generate ``synthetic_ihm`` (``task="binary"``) or ``synthetic_pheno``
    (``"multilabel"``; ``prevalence`` is not used); options as in :func:`build_ihm`."""
    n = check_number("n_samples", n_samples, 20, integer=True)
    mods = _modalities(modalities)
    unpaired = {m: check_share(f"unpaired_{m}", v) for m, v in (
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
    info = {m: check_number(f"informative_{m}", v, 0.0, MAX_SCALE, hint=_SCALE_HINT)
            for m, v in (("ts", informative_ts), ("cxr", informative_cxr),
                         ("demo", informative_demo), ("notes", informative_notes))}
    info_missing = check_number("informative_missingness", informative_missingness, 0.0,
                                MAX_SCALE, hint=_SCALE_HINT)
    noise = check_number("noise", noise, 0.0, MAX_SCALE, hint=_SCALE_HINT)
    size = check_number("image_size", image_size, 8, MAX_IMAGE_SIZE, integer=True,
                        hint="the side in pixels of the image drawn for every patient")
    fr = split_fractions(val_fraction, test_fraction)
    seed = check_seed(seed)

    z = draw_factors(seed, n)
    label_rng = rng_stream(seed, STREAMS, S_LABEL)
    if task == "binary":
        p = check_number("prevalence", prevalence, 0.0, 1.0, low_open=True, high_open=True)
        logit = intercept(IHM_WEIGHTS, p) + z @ IHM_WEIGHTS
        y = (label_rng.random(n) < sigmoid(logit)).astype(np.float32)[:, None]
        class_names = ["mortality"]
    else:
        logit = PHENO_INTERCEPTS[None] + z @ PHENO_WEIGHTS.T
        y = (label_rng.random(logit.shape) < sigmoid(logit)).astype(np.float32)
        class_names = list(PHENOTYPES)

    # presence pattern: 0 every modality, k >= 1 modality mods[k - 1] alone (exact counts)
    pattern = np.zeros(n, dtype=np.int64)
    perm = rng_stream(seed, STREAMS, S_PRESENCE).permutation(n)
    start = 0
    for k, m in enumerate(mods, start=1):
        cnt = int(round(unpaired[m] * n))
        pattern[perm[start : start + cnt]] = k
        start += cnt
    present = {m: (pattern == 0) | (pattern == k) for k, m in enumerate(mods, start=1)}
    strata = pattern * 2 + (y[:, 0] > 0) if task == "binary" else pattern
    split_of = stratified_split_index(strata, fr, rng_stream(seed, STREAMS, S_SPLIT))
    train = split_of == 0

    data: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    prep: dict = {}
    if "ts" in mods:
        raw = simulate_ts(z, info["ts"], noise, info_missing,
                           rng_stream(seed, STREAMS, S_TS))
        x = discretise(raw)
        x[~present["ts"]] = 0.0
        fit_rows = train & present["ts"]
        stats = fit_normalizer(x[fit_rows], np.full(int(fit_rows.sum()), T_STEPS))
        apply_normalizer(x, np.where(present["ts"], T_STEPS, 0), stats)
        data["ts"] = x
        prep["ts_standardization"] = stats
    # patients grouped by split (ascending within each): the images, by far the largest
    # modality, are generated straight into this order so that every split's images are a
    # slice (a view) of one array instead of a second copy of all of them
    by_split = np.argsort(split_of, kind="stable")
    in_split_order = {"cxr"}
    if "cxr" in mods:
        rows = np.empty(n, dtype=np.int64)
        rows[by_split] = np.arange(n)
        img = make_cxr(z, info["cxr"], noise, rng_stream(seed, STREAMS, S_CXR), size, rows)
        img[~present["cxr"][by_split]] = 0.0
        data["cxr"] = img
    if "demo" in mods:
        d = make_demo(z, info["demo"], noise, rng_stream(seed, STREAMS, S_DEMO))
        prep["demo_standardization"] = standardise(d, train & present["demo"], DEMO_CONTINUOUS)
        d[~present["demo"]] = 0.0
        data["demo"] = d
    if "notes" in mods:
        tok, lens = make_notes(z, info["notes"], noise, rng_stream(seed, STREAMS, S_NOTES))
        tok[~present["notes"]] = 0
        lens[~present["notes"]] = 0
        data["notes"], lengths["notes"] = tok, lens
    patient = np.arange(n, dtype=np.int64)

    splits, items, counts = {}, {}, {}
    start = 0
    for s, sname in enumerate(SPLITS):
        idx = np.flatnonzero(split_of == s)
        rows_s = slice(start, start + len(idx))  # this split's rows of by_split-ordered data
        start += len(idx)
        splits[sname] = Split(
            inputs={m: torch.from_numpy(np.ascontiguousarray(
                data[m][rows_s] if m in in_split_order else data[m][idx])) for m in mods},
            present={m: torch.from_numpy(present[m][idx]) for m in mods},
            y=torch.from_numpy(y[idx]),
            ids=torch.from_numpy(patient[idx]),
            lengths={m: torch.from_numpy(v[idx]) for m, v in lengths.items()},
            name=sname,
            item_ids={m: torch.from_numpy(np.where(present[m][idx], patient[idx], -1))
                      for m in mods},
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
        "measured": {"how": MEASURED["how"], "setting": MEASURED["setting"],
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
        informative_notes=info["notes"], informative_missingness=info_missing,
        noise=noise, image_size=size, seed=seed, val_fraction=fr[1], test_fraction=fr[2],
    )
    if task == "binary":
        options["prevalence"] = p
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


_OPTIONS_DOC = """
    Options:
        n_samples: number of synthetic patients (one sample each, at least 20), default 3000.
        modalities: which modalities to build, from "ts", "cxr", "demo", "notes" (a list, or a
            comma-separated string); default ("ts", "cxr").
        unpaired_ts: share of patients with the time series alone (default 0.4).
        unpaired_cxr: share of patients with the image alone (default 0.1).
        unpaired_demo, unpaired_notes: shares with demographics / notes alone (default 0; only
            with that modality requested). The other patients have every requested modality;
            shares of modalities not requested (and all shares with a single modality) are
            ignored.
        informative_ts, informative_cxr, informative_demo, informative_notes: strength of the
            factor signal in each modality (0: none; default 1; at most 10).
        informative_missingness: how much sicker patients are charted more often (neuro checks,
            labs, temperature); default 0 (missingness uninformative); at most 10.
        noise: scale of the nuisance variation and noise in every modality (default 1; in
            [0, 10]).
        image_size: side of the square image (default 32; 8 to 512).
        seed: fixes the patients, presence pattern, noise and split (default 0).
        val_fraction, test_fraction: patient shares of val and test (default 0.15 each).
"""


# the options each dataset takes, in this order (their defaults: build_synthetic's signature)
PHENO_OPTIONS = ("n_samples", "modalities", "unpaired_ts", "unpaired_cxr", "unpaired_demo",
                 "unpaired_notes", "informative_ts", "informative_cxr", "informative_demo",
                 "informative_notes", "informative_missingness", "noise", "image_size", "seed",
                 "val_fraction", "test_fraction")
IHM_OPTIONS = (*PHENO_OPTIONS[:13], "prevalence", *PHENO_OPTIONS[13:])

build_ihm = register_variant(
    "synthetic_ihm", build_synthetic, "binary", IHM_OPTIONS,
    "SYNTHETIC in-hospital mortality (binary, class ``mortality``, y float [B, 1]).\n"
    + _OPTIONS_DOC + "        prevalence: expected share of deaths (default 0.12).\n",
    "build_ihm",
)
build_pheno = register_variant(
    "synthetic_pheno", build_synthetic, "multilabel", PHENO_OPTIONS,
    "SYNTHETIC phenotyping (multilabel, 25 labels named after the MIMIC benchmark phenotypes, "
    "y float [B, 25]).\n" + _OPTIONS_DOC,
    "build_pheno",
)
