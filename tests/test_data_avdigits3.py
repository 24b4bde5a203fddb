"""AV-Digits-3: the optical modality, its splits, attachment, ids, degradation and options."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

import mindkit.data as md
from mindkit.data import avdigits, avdigits3

pytest.importorskip("pandas")
pytest.importorskip("sklearn")
try:  # the data wheels are optional; skip (not fail) where they are not installed
    avdigits.load_mnist()
    avdigits._load_fsdd()
except (ModuleNotFoundError, FileNotFoundError) as err:  # pragma: no cover
    pytest.skip(f"AV-Digits data wheels missing: {err}", allow_module_level=True)

SPLITS = ("train", "val", "test")
MODS = ("image", "audio", "optical")


@pytest.fixture(scope="module")
def ds():
    return md.load("avdigits3")


@pytest.fixture(scope="module")
def clean():
    return md.load("avdigits3", difficulty="clean")


def _decode(ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """image row, clip (-1: none), optical row (-1: none)."""
    ids = ids.numpy()
    rest = ids % avdigits3.ID_OPTICAL
    return rest % 10000, rest // 10000 - 1, ids // avdigits3.ID_OPTICAL - 1


def test_contract_and_shapes(ds):
    assert ds.name == "avdigits3" and "avdigits3" in md.available()
    assert ds.task == "multiclass" and not ds.synthetic
    assert ds.modality_names == sorted(MODS)
    spec = ds.modalities["optical"]
    assert spec.kind == "image" and spec.shape == (1, 8, 8)
    assert sum(int(ds[s].present["optical"].sum()) for s in SPLITS) == 1797
    for s in SPLITS:
        sp = ds[s]
        x, has = sp.inputs["optical"], sp.present["optical"]
        assert x.shape == (len(sp), 1, 8, 8) and x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1
        assert (x[~has] == 0).all()  # absent: zeros, and marked absent
        assert len(set(sp.ids.tolist())) == len(sp)
    json.dumps(ds.options)
    json.dumps(ds.card)


def test_deterministic(ds):
    again = md.load("avdigits3")
    for s in SPLITS:
        assert torch.equal(ds[s].ids, again[s].ids)
        assert torch.equal(ds[s].y, again[s].y)
        for m in MODS:
            assert torch.equal(ds[s].inputs[m], again[s].inputs[m])
            assert torch.equal(ds[s].present[m], again[s].present[m])
    assert ds.items == again.items and ds.card == again.card
    other = md.load("avdigits3", seed=1, difficulty="clean")
    assert ds.items["test"]["optical"] != other.items["test"]["optical"]


def test_items_disjoint_and_each_optical_row_used_once(ds):
    ds.check_disjoint()
    for m in MODS:
        sets = [set(ds.items[s][m]) for s in SPLITS]
        assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sorted(sum((ds.items[s]["optical"] for s in SPLITS), [])) == list(range(1797))
    sizes = [len(ds.items[s]["optical"]) for s in SPLITS]
    assert sizes == [1259, 269, 269]  # 70/15/15 per label, rounded per label
    used = []
    for s in SPLITS:
        rows, clips, opt = _decode(ds[s].ids)
        has = ds[s].present["optical"].numpy()
        assert ((opt >= 0) == has).all()
        assert sorted(opt[has].tolist()) == ds.items[s]["optical"]  # ids decode to the items
        assert sorted(rows.tolist()) == ds.items[s]["image"]
        assert sorted(clips[clips >= 0].tolist()) == ds.items[s]["audio"]
        used += opt[has].tolist()
    assert len(used) == len(set(used)) == 1797


def test_labels_agree_across_present_modalities(ds):
    _, img_y = avdigits.load_mnist()
    _, clip_y, _ = avdigits._load_fsdd()
    _, opt_y = avdigits3._load_optical()
    for s in SPLITS:
        sp = ds[s]
        rows, clips, opt = _decode(sp.ids)
        y = sp.y.numpy()
        audio, optical = sp.present["audio"].numpy(), sp.present["optical"].numpy()
        assert (img_y[rows] == y).all()
        assert (clip_y[clips[audio]] == y[audio]).all()
        assert (opt_y[opt[optical]] == y[optical]).all()


def test_presence_counts_add_up(ds):
    total = {"image_audio_optical": 0, "image_audio": 0, "image_optical": 0, "image_only": 0}
    for s in SPLITS:
        sp, c = ds[s], ds.card["counts"]["per_split"][s]
        a, o = sp.present["audio"], sp.present["optical"]
        assert sp.present["image"].all()
        assert c["samples"] == len(sp) == sum(c[k] for k in total)
        assert c["image_audio_optical"] == int((a & o).sum())
        assert c["image_audio"] == int((a & ~o).sum())
        assert c["image_only"] == int((~a & ~o).sum())
        assert c["image_optical"] == 0  # every optical digit found an image+audio sample
        assert int(o.sum()) == len(ds.items[s]["optical"])
        assert int(sp.groups()["paired"].sum()) == c["image_audio_optical"]
        for k in total:
            total[k] += c[k]
    assert total == {"image_audio_optical": 1797, "image_audio": 1203, "image_optical": 0,
                     "image_only": 2000}


@pytest.mark.parametrize("options", [{}, {"seed": 1, "difficulty": "hard"}])
def test_image_and_audio_are_exactly_avdigits(ds, options):
    three = ds if not options else md.load("avdigits3", **options)
    two = md.load("avdigits", **options)
    for s in SPLITS:
        assert torch.equal(three[s].ids % avdigits3.ID_OPTICAL, two[s].ids)
        assert torch.equal(three[s].y, two[s].y)
        for m in ("image", "audio"):
            assert torch.equal(three[s].inputs[m], two[s].inputs[m])
            assert torch.equal(three[s].present[m], two[s].present[m])
        assert torch.equal(three[s].lengths["audio"], two[s].lengths["audio"])
        for m in ("image", "audio"):
            assert three.items[s][m] == two.items[s][m]
    assert {k: v for k, v in three.options.items() if k in two.options} == two.options


def test_optical_attachment_does_not_depend_on_unpaired(ds):
    none = md.load("avdigits3", unpaired="none")
    for s in SPLITS:
        with_opt = ds[s].present["optical"]
        keep = ds[s].present["audio"]
        assert torch.equal(none[s].ids, ds[s].ids[keep])
        assert torch.equal(none[s].inputs["optical"], ds[s].inputs["optical"][keep])
        assert int(none[s].present["optical"].sum()) == int(with_opt.sum())


def test_degradation_levels_and_overrides(ds, clean):
    x, _ = avdigits3._load_optical()
    for s in SPLITS:
        sp = clean[s]
        has = sp.present["optical"]
        _, _, opt = _decode(sp.ids[has])
        assert torch.equal(sp.inputs["optical"][has].reshape(-1, 64), torch.from_numpy(x[opt]))
        assert not torch.allclose(ds[s].inputs["optical"], sp.inputs["optical"])
    for k, v in avdigits3.LEVELS["default"].items():
        assert ds.options[k] == v
    assert ds.card["difficulty"]["optical_pca_components"] < 64
    mixed = md.load("avdigits3", difficulty="clean", optical_noise=0.3)
    assert mixed.options["optical_noise"] == 0.3 and mixed.options["optical_pca_energy"] == 1.0
    assert torch.equal(mixed["test"].inputs["image"], clean["test"].inputs["image"])
    assert not torch.equal(mixed["test"].inputs["optical"], clean["test"].inputs["optical"])


def test_unknown_or_bad_options_raise_clear_errors():
    with pytest.raises(TypeError) as err:
        md.load("avdigits3", bogus=1)
    assert "bogus" in str(err.value)
    for name in ("difficulty", "optical_noise", "optical_occlusion", "optical_pca_energy",
                 "unpaired", "seed"):
        assert name in str(err.value) and name in avdigits3.build.__doc__
    with pytest.raises(ValueError, match="difficulty"):
        md.load("avdigits3", difficulty="impossible")
    with pytest.raises(ValueError, match="optical_occlusion"):
        md.load("avdigits3", optical_occlusion=9)
    with pytest.raises(ValueError, match="optical_pca_energy"):
        md.load("avdigits3", optical_pca_energy=0)


def test_options_are_avdigits_options_with_the_optical_ones_after_frame_mask():
    """The signature is derived from avdigits.build's (registry.extends_options): same names,
    defaults and annotations, the three optical options inserted after frame_mask."""
    base = inspect.signature(avdigits.build).parameters
    params = inspect.signature(md.DATASETS.get("avdigits3")).parameters
    names = list(base)
    at = names.index("frame_mask") + 1
    optical = ["optical_pca_energy", "optical_noise", "optical_occlusion"]
    assert list(params) == names[:at] + optical + names[at:]
    assert all(params[n] == base[n] for n in names)
    assert all(params[n].default is None and params[n].kind is params[n].KEYWORD_ONLY
               for n in optical)


def test_attach_prefers_image_audio_then_image_only_then_raises():
    y = np.array([0, 0, 0, 1])
    has_audio = np.array([False, True, False, True])
    priority = np.array([0.1, 0.9, 0.5, 0.3])
    out = avdigits3._attach(np.array([7]), np.array([0]), y, has_audio, priority, "train")
    assert out.tolist() == [-1, 7, -1, -1]  # the image+audio sample, despite its priority
    out = avdigits3._attach(np.array([7, 3]), np.array([0, 0]), y, has_audio, priority, "train")
    assert out.tolist() == [7, 3, -1, -1]  # then the image-only sample of lowest priority
    with pytest.raises(ValueError, match="digit 1"):
        avdigits3._attach(np.array([1, 2]), np.array([1, 1]), y, has_audio, priority, "train")


def test_card_states_source_licence_and_caveats(ds):
    text = json.dumps(ds.card).lower()
    for phrase in ("load_digits", "alpaydin", "cc by 4.0", "bsd-3", "writer", "speaker",
                   "conditionally independent"):
        assert phrase in text


def test_small_model_on_optical_alone_beats_chance(ds):
    def xy(s):
        has = ds[s].present["optical"]
        return ds[s].inputs["optical"][has].reshape(-1, 64), ds[s].y[has]

    (xtr, ytr), (xte, yte) = xy("train"), xy("test")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):  # full batch: about a second
        loss = torch.nn.functional.cross_entropy(model(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.4  # chance is 0.1; the default level keeps it well below the ceiling
    assert acc < 0.95
