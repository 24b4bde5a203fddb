"""MIMIC reader on a small FAKE tree in the MedFuse layout: features, discretisation, pairing,
labels, splits, leakage guard, errors, cache."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import mindkit.data.mimic as mm
from mindkit.data.mimic_fake import (
    add_fake_image,
    add_fake_note,
    make_fake_mimic_tree,
    remove_fake_images,
    write_fake_timeseries,
)
from mindkit.data.registry import DATASETS, load

# the hand-made stay below holds one event before admission: every load of the shared tree
# warns about it (checked in test_hand_made_stay_in_dataset_and_standardisation)
pytestmark = pytest.mark.filterwarnings("ignore:.*1 events_before_time_zero:UserWarning")

SPLITS = ("train", "val", "test")
HR = mm.FEATURE_NAMES.index("Heart Rate")
GLU = mm.FEATURE_NAMES.index("Glucose")
DBP = mm.FEATURE_NAMES.index("Diastolic blood pressure")
EYE = "Glascow coma scale eye opening"
TOT = "Glascow coma scale total"


def col(name: str) -> int:
    return mm.FEATURE_NAMES.index(name)


def mask(channel: str) -> int:
    return mm.FEATURE_NAMES.index(f"mask->{channel}")


HAND_ROWS = [
    {"Hours": "-0.5", "Heart Rate": "300"},  # before admission: dropped, counted
    {"Hours": "0", "Heart Rate": "80"},
    {"Hours": "0.5", "Heart Rate": "90"},  # same bin: the last value wins
    {"Hours": "1.0", "Glucose": "150"},  # (0, 1] is bin 0
    {"Hours": "2.5", "Heart Rate": "100", EYE: "2 To pain"},
    {"Hours": "3.2", TOT: "9.0"},  # numeric categorical written as a float
    {"Hours": "49", "Heart Rate": "10"},  # after the 48 h window
]


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tr = make_fake_mimic_tree(tmp_path_factory.mktemp("mimic") / "tree", n_stays=30, seed=1)
    # a train stay for the pairing tests: its subject's images replaced by hand-made ones
    s = next(s for s in tr.stays if s["split"] == "train" and s["hours"] >= 60)
    remove_fake_images(tr, s["subject_id"])
    t0 = s["intime"]
    tr.special = {
        "stay": s,
        "early": add_fake_image(tr, s["subject_id"], t0 + timedelta(hours=5)),
        "latest": add_fake_image(tr, s["subject_id"], t0 + timedelta(hours=30), brightness=1),
        "pa": add_fake_image(tr, s["subject_id"], t0 + timedelta(hours=40), view="PA"),
        "late": add_fake_image(tr, s["subject_id"], t0 + timedelta(hours=50)),
        "before": add_fake_image(tr, s["subject_id"], t0 - timedelta(hours=2)),
        "after": add_fake_image(tr, s["subject_id"], s["outtime"] + timedelta(hours=1)),
    }
    # a val stay with hand-made values
    h = next(s for s in tr.stays if s["split"] == "val" and s["in_ihm"])
    write_fake_timeseries(tr.ehr_root / h["files"]["ihm"], HAND_ROWS)
    tr.hand = h
    return tr


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _load(name, tree, cache, **kw):
    return load(name, **tree.options, cache_dir=str(cache), progress=False, **kw)


@pytest.fixture(scope="module")
def ihm(tree, cache):
    return _load("mimic_ihm", tree, cache)


@pytest.fixture(scope="module")
def ihm_raw(tree, cache):
    return _load("mimic_ihm", tree, cache, standardize=False)


@pytest.fixture(scope="module")
def pheno(tree, cache):
    return _load("mimic_pheno", tree, cache)


def _row(ds, stay_id):
    for s in SPLITS:
        hit = (ds[s].ids == stay_id).nonzero().flatten()
        if len(hit):
            return s, int(hit[0])
    raise KeyError(stay_id)


def _small_tree(tmp_path, **kw):
    return make_fake_mimic_tree(tmp_path / "t", n_stays=kw.pop("n_stays", 12),
                                seed=kw.pop("seed", 3), **kw)


# --------------------------------------------------------------------------------------------
# features and discretisation


def test_registered():
    for name in ("mimic_ihm", "mimic_pheno", "mimic_cxr_findings"):
        assert name in DATASETS


def test_76_features_in_documented_order(ihm):
    names = mm.FEATURE_NAMES
    assert len(names) == 76 == ihm.modalities["ts"].shape[1]
    assert ihm.card["features"]["ts"] == names
    assert names[:3] == ["Capillary refill rate->0.0", "Capillary refill rate->1.0",
                         "Diastolic blood pressure"]
    assert names[4] == "Glascow coma scale eye opening->To Pain"  # config value order
    assert names[58] == "pH"
    assert names[59:] == [f"mask->{c}" for c in mm.default_discretizer().channels]
    assert sum("->" in n and not n.startswith("mask->") for n in names) == 47
    assert mm.CONTINUOUS_COLUMNS == [2, 3, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58]
    assert [names[c] for c in mm.CONTINUOUS_COLUMNS][:2] == ["Diastolic blood pressure",
                                                               "Fraction inspired oxygen"]
    assert mm.MASK_COLUMNS == list(range(59, 76))
    # the package data file (mindkit/data/resources/medfuse_discretizer.json) is the
    # mimic3-benchmarks discretiser configuration; the assertions above pin the order it gives


def test_forward_fill_and_masks_on_hand_made_values(tmp_path):
    path = write_fake_timeseries(tmp_path / "x_timeseries.csv", HAND_ROWS)
    x, counts = mm.default_discretizer().transform_file(path, 6.0)
    assert x.shape == (6, 76)
    np.testing.assert_allclose(x[:, HR], [90, 90, 100, 100, 100, 100])
    np.testing.assert_array_equal(x[:, mask("Heart Rate")], [1, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(x[:, GLU], [150] * 6)
    np.testing.assert_array_equal(x[:, mask("Glucose")], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(x[:, DBP], [59.0] * 6)  # never measured: normal value
    assert x[:, mask("Diastolic blood pressure")].sum() == 0
    # categorical: normal one-hot until the first measurement, then forward filled
    assert (x[:2, col(f"{EYE}->4 Spontaneously")] == 1).all()
    assert (x[2:, col(f"{EYE}->2 To pain")] == 1).all()
    assert (x[:3, col(f"{TOT}->15")] == 1).all() and (x[3:, col(f"{TOT}->9")] == 1).all()
    np.testing.assert_array_equal(x[:, mask(TOT)], [0, 0, 0, 1, 0, 0])
    eye_cols = [i for i, n in enumerate(mm.FEATURE_NAMES) if n.startswith(f"{EYE}->")]
    assert len(eye_cols) == 8 and (x[:, eye_cols].sum(1) == 1).all()
    assert counts["before_time_zero"] == 1 and counts["after_window"] == 1
    assert counts["overwritten_in_bin"] == 1 and counts["used"] == 6


def test_hand_made_stay_in_dataset_and_standardisation(tree, cache, ihm, ihm_raw):
    with pytest.warns(mm.MimicDataWarning, match="left out 1 events_before_time_zero"):
        _load("mimic_ihm", tree, cache)
    sid = tree.hand["stay_id"]
    s, i = _row(ihm_raw, sid)
    assert s == "val"
    x = ihm_raw[s].inputs["ts"][i].numpy()
    assert x.shape == (48, 76)
    np.testing.assert_allclose(x[:4, HR], [90, 90, 100, 100])
    np.testing.assert_allclose(x[47, HR], 100)  # the 49 h value is outside the window
    assert x[:, mask("Heart Rate")].sum() == 2
    assert ihm_raw.card["dropped"]["events_before_time_zero"] == 1
    # standardisation: train mean/std, continuous columns only, same stats reused
    norm = ihm.card["preprocessing"]["ts_standardization"]
    assert norm["columns"] == mm.CONTINUOUS_COLUMNS
    k = norm["columns"].index(HR)
    z = ihm[s].inputs["ts"][i].numpy()
    np.testing.assert_allclose(z[:4, HR], (x[:4, HR] - norm["mean"][k]) / norm["std"][k],
                               rtol=1e-5)
    other = [c for c in range(76) if c not in mm.CONTINUOUS_COLUMNS]
    np.testing.assert_array_equal(z[:, other], x[:, other])
    tr = ihm["train"].inputs["ts"][:, :, mm.CONTINUOUS_COLUMNS].reshape(-1, 12).double()
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(tr.std(0)[tr.std(0) > 0], 1, atol=1e-3)


# --------------------------------------------------------------------------------------------
# pairing


def test_latest_eligible_image_and_48h_window(tree, ihm, pheno):
    sp, sid = tree.special, tree.special["stay"]["stay_id"]
    dicom = {i: d for i, d in {**ihm.card["cxr_dicoms"], **pheno.card["cxr_dicoms"]}.items()}
    # mortality: the 50 h image would leak the label; PA and pre-admission images are not used
    assert dicom[ihm.card["pairs"][sid]] == sp["latest"]
    # phenotyping: the window is the whole stay, so the 50 h image is the latest
    assert dicom[pheno.card["pairs"][sid]] == sp["late"]
    s, i = _row(ihm, sid)
    assert ihm[s].present["cxr"][i]
    img = next(im for im in tree.images if im["dicom_id"] == sp["latest"])["path"]
    expect = torch.from_numpy(mm.load_cxr_image(img, 64).astype(np.float32) / 255)
    torch.testing.assert_close(ihm[s].inputs["cxr"][i, 0], expect)
    assert ihm.card["pairs"][sid] in ihm.items[s]["cxr"]


def test_pair_images_rule():
    t0 = pd.Timestamp("2150-01-01 08:00")
    stays = pd.DataFrame({"stay_id": [1], "subject_id": [7], "intime": [t0],
                          "outtime": [t0 + pd.Timedelta(hours=100)]})
    hours = [5, 30, 30, 40, 48, 50, -1]
    meta = pd.DataFrame({
        "index": range(7), "dicom_id": list("abcdefg"), "subject_id": 7, "study_id": 1,
        "view": ["AP", "AP", "AP", "PA", "AP", "AP", "AP"],
        "when": [t0 + pd.Timedelta(hours=h) for h in hours],
    })
    ihm = mm.pair_images(stays, meta, "ihm")
    assert ihm.iloc[0]["dicom_id"] == "e"  # 48 h exactly is inside the window
    assert set(ihm["dicom_id"]) == {"a", "b", "c", "e"}
    meta.loc[4, "when"] = t0 + pd.Timedelta(hours=48, seconds=1)
    ihm = mm.pair_images(stays, meta, "ihm")
    assert ihm.iloc[0]["dicom_id"] == "c"  # tie at 30 h: the later metadata row
    assert mm.pair_images(stays, meta, "stay").iloc[0]["dicom_id"] == "f"
    assert mm.pair_images(stays, meta, "ihm", views=None).iloc[0]["dicom_id"] == "d"


# --------------------------------------------------------------------------------------------
# labels, splits, modes


def test_label_columns(tree, ihm, pheno):
    assert ihm.task == "binary" and ihm.class_names == ["in-hospital mortality"]
    assert pheno.task == "multilabel" and pheno.class_names == mm.PHENOTYPES
    assert len(mm.PHENOTYPES) == 25
    for ds, n in ((ihm, 1), (pheno, 25)):
        for s in SPLITS:
            sp = ds[s]
            assert sp.y.dtype == torch.float32 and sp.y.shape == (len(sp), n)
            for sid, y in zip(sp.ids.tolist(), sp.y.tolist()):
                st = tree.stay(sid)
                assert y == ([float(st["mortality"])] if n == 1 else
                             [float(v) for v in st["phenotypes"]])


def test_splits_follow_listfiles_and_are_patient_level(tree, ihm, pheno, tmp_path):
    for ds, task in ((ihm, "ihm"), (pheno, "pheno")):
        expected = {s["stay_id"]: s["split"] for s in tree.stays if task in s["files"]}
        got = {int(i): s for s in SPLITS for i in ds[s].ids}
        assert got == expected
        subjects = {s: {tree.stay(int(i))["subject_id"] for i in ds[s].ids} for s in SPLITS}
        assert not subjects["train"] & (subjects["val"] | subjects["test"])
        assert not subjects["val"] & subjects["test"]
        for s in SPLITS:
            assert ds.items[s]["ts"] == [int(i) for i in ds[s].ids]
            assert len(ds.items[s]["cxr"]) == int(ds[s].present["cxr"].sum())
        ds.check_disjoint()
    # stays shorter than 48 h are not in the mortality task
    assert all(tree.stay(int(i))["hours"] >= 48 for s in SPLITS for i in ihm[s].ids)
    ihm.save_splits(tmp_path / "splits.json")
    saved = json.loads((tmp_path / "splits.json").read_text())
    assert saved["items"]["test"]["ts"] == ihm.items["test"]["ts"]


def test_modes(tree, cache, ihm):
    paired = _load("mimic_ihm", tree, cache, mode="paired")
    image = _load("mimic_ihm", tree, cache, mode="image")
    assert image.modality_names == ["cxr"]
    for s in SPLITS:
        n_img = int(ihm[s].present["cxr"].sum())
        assert len(paired[s]) == n_img == len(image[s])
        assert paired[s].present["cxr"].all() and paired[s].present["ts"].all()
        absent = ~ihm[s].present["cxr"]
        assert (ihm[s].inputs["cxr"][absent] == 0).all()
        torch.testing.assert_close(image[s].inputs["cxr"], paired[s].inputs["cxr"])
    assert (~ihm["train"].present["cxr"]).any()  # time-series-only samples are kept
    assert paired.card["dropped"]["stays_without_image"] == sum(
        int((~ihm[s].present["cxr"]).sum()) for s in SPLITS)
    with pytest.raises(ValueError, match="unknown mode"):
        _load("mimic_ihm", tree, cache, mode="both")


def test_pheno_lengths_and_max_hours(tree, cache, pheno):
    spec = pheno.modalities["ts"]
    assert spec.variable_length and spec.shape == (48, 76)
    for s in SPLITS:
        sp = pheno[s]
        for sid, n in zip(sp.ids.tolist(), sp.lengths["ts"].tolist()):
            assert n == min(math.ceil(tree.stay(sid)["hours"]), 48)
        pad = torch.arange(48)[None, :] >= sp.lengths["ts"][:, None]
        assert (sp.inputs["ts"][pad] == 0).all()
    whole = _load("mimic_pheno", tree, cache, max_hours=None)
    longest = max(math.ceil(s["hours"]) for s in tree.stays)
    assert whole.modalities["ts"].shape == (longest, 76)
    assert int(max(whole[s].lengths["ts"].max() for s in SPLITS)) == longest


def test_findings_dataset(tree, cache):
    ds = _load("mimic_cxr_findings", tree, cache)
    assert ds.task == "multilabel" and ds.class_names == mm.FINDINGS and len(mm.FINDINGS) == 14
    assert ds.modality_names == ["cxr"] and ds.synthetic
    meta = pd.read_csv(tree.cxr_root / mm.META_FILE, dtype=str)
    split = pd.read_csv(tree.cxr_root / mm.SPLIT_FILE, dtype=str).set_index("dicom_id")
    chex = pd.read_csv(tree.cxr_root / mm.CHEXPERT_FILE).set_index("study_id")
    n_ap = int((meta["ViewPosition"] == "AP").sum())
    assert sum(len(ds[s]) for s in SPLITS) == n_ap
    for s in SPLITS:
        for idx, y in zip(ds[s].ids.tolist()[:20], ds[s].y.tolist()[:20]):
            row = meta.iloc[idx]
            assert row["ViewPosition"] == "AP"
            assert split.loc[row["dicom_id"], "split"].replace("validate", "val") == s
            raw = chex.loc[int(row["study_id"]), mm.FINDINGS].to_numpy(dtype=float)
            assert y == [1.0 if v == 1 else 0.0 for v in raw]
    ones = _load("mimic_cxr_findings", tree, cache, uncertain="one")
    assert ones["train"].y.sum() > ds["train"].y.sum()
    assert "time-series" not in ds.card["pairing"].get("leakage_note", "")


# --------------------------------------------------------------------------------------------
# leakage guard


def test_leakage_guard_refuses_and_drop_counts(tmp_path):
    tr = _small_tree(tmp_path, n_stays=16)
    val = next(s for s in tr.stays if s["split"] == "val")
    leak = add_fake_image(tr, val["subject_id"], val["intime"] + timedelta(hours=3),
                          split="train")
    kw = dict(**tr.options, cache_dir=str(tmp_path / "c"), progress=False)
    for name in ("mimic_pheno", "mimic_cxr_findings"):
        with pytest.raises(ValueError, match="leak") as e:
            load(name, **kw)
        assert leak in str(e.value) and str(val["subject_id"]) in str(e.value)
    with pytest.warns(mm.MimicDataWarning, match="leakage"):
        ph = load("mimic_pheno", leakage="drop", **kw)
    s, i = _row(ph, val["stay_id"])
    assert not ph[s].present["cxr"][i]
    assert ph.card["dropped"]["val_test_stays_image_removed_for_leakage"] >= 1
    with pytest.warns(mm.MimicDataWarning):
        fi = load("mimic_cxr_findings", leakage="drop", **kw)
    assert fi.card["dropped"]["train_images_removed_for_leakage"] >= 1
    train_subjects = {int(pd.read_csv(tr.cxr_root / mm.META_FILE).iloc[i]["subject_id"])
                      for i in fi["train"].ids.tolist()}
    assert val["subject_id"] not in train_subjects


def test_listfiles_must_be_patient_level(tmp_path):
    tr = _small_tree(tmp_path)
    a = next(s for s in tr.stays if s["split"] == "train" and "ihm" in s["files"])
    b = next(s for s in tr.stays if s["split"] == "test" and "ihm" in s["files"])
    stays = pd.read_csv(tr.ehr_root / "root/all_stays.csv")
    stays.loc[stays["stay_id"] == b["stay_id"], "subject_id"] = a["subject_id"]
    stays.to_csv(tr.ehr_root / "root/all_stays.csv", index=False)
    with pytest.raises(ValueError, match="not patient-level"):
        load("mimic_ihm", **tr.options, use_cache=False, progress=False)


# --------------------------------------------------------------------------------------------
# errors


def test_missing_roots_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv(mm.ENV_EHR, raising=False)
    monkeypatch.delenv(mm.ENV_CXR, raising=False)
    with pytest.raises(FileNotFoundError, match="MINDKIT_MIMIC_EHR"):
        load("mimic_ihm", progress=False)
    with pytest.raises(FileNotFoundError, match="(?s)nope does not exist.*in-hospital-mort"):
        load("mimic_ihm", ehr_root=str(tmp_path / "nope"), cxr_root=str(tmp_path))
    tr = _small_tree(tmp_path)
    kw = dict(use_cache=False, progress=False)
    (tr.ehr_root / "phenotyping/val_listfile.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)val_listfile.csv does not exist.*ehr_"):
        load("mimic_pheno", **tr.options, **kw)
    (tr.cxr_root / mm.SPLIT_FILE).rename(tr.cxr_root / "x.csv")
    with pytest.raises(FileNotFoundError, match="mimic-cxr-ehr-split.csv"):
        load("mimic_ihm", **tr.options, **kw)
    (tr.cxr_root / "x.csv").rename(tr.cxr_root / mm.SPLIT_FILE)
    # environment variables work in place of the options
    monkeypatch.setenv(mm.ENV_EHR, str(tr.ehr_root))
    monkeypatch.setenv(mm.ENV_CXR, str(tr.cxr_root))
    assert len(load("mimic_ihm", **kw)["train"]) > 0
    # a listed time-series file that is missing
    s = next(s for s in tr.stays if "ihm" in s["files"])
    (tr.ehr_root / s["files"]["ihm"]).unlink()
    with pytest.raises(FileNotFoundError, match=Path(s["files"]["ihm"]).name):
        load("mimic_ihm", **kw)


def test_missing_column_and_malformed_rows(tmp_path):
    tr = _small_tree(tmp_path)
    kw = dict(**tr.options, use_cache=False, progress=False)
    s = next(s for s in tr.stays if "ihm" in s["files"])
    path = tr.ehr_root / s["files"]["ihm"]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.drop(columns="Glucose").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['Glucose'\]") as e:
        load("mimic_ihm", **kw)
    assert str(path) in str(e.value) and "Hours,Capillary refill rate" in str(e.value)
    write_fake_timeseries(path, [{"Hours": "1", "Heart Rate": "fast"}])
    with pytest.raises(ValueError, match="'Heart Rate' holds 'fast'"):
        load("mimic_ihm", **kw)
    with pytest.warns(mm.MimicDataWarning, match="1 bad_values_dropped"):
        ds = load("mimic_ihm", bad_values="drop", **kw)
    assert ds.card["dropped"]["bad_values_dropped"] == 1
    write_fake_timeseries(path, [{"Hours": "1", EYE: "Wide awake"}])
    with pytest.raises(ValueError, match="Wide awake.*4 Spontaneously"):
        load("mimic_ihm", **kw)
    write_fake_timeseries(path, [{"Hours": "soon", "Heart Rate": "80"}])
    with pytest.raises(ValueError, match="'Hours' holds 'soon'"):
        load("mimic_ihm", **kw)
    write_fake_timeseries(path, [{"Hours": "1", "Heart Rate": "80"}])
    lf = tr.ehr_root / "in-hospital-mortality/train_listfile.csv"
    text = lf.read_text().splitlines()
    text[1] = ",".join(text[1].split(",")[:-1] + ["yes"])
    lf.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match="train_listfile.csv, line 2: label column 'y_true'"):
        load("mimic_ihm", **kw)


def test_unknown_task_mode_and_option(tree):
    with pytest.raises(ValueError, match="unknown task 'los'"):
        mm.build_mimic("los", **tree.options)
    with pytest.raises(TypeError, match="unknown option"):
        load("mimic_ihm", **tree.options, max_hours=24)
    with pytest.raises(ValueError, match="unknown leakage"):
        load("mimic_ihm", **tree.options, leakage="ignore")


def test_missing_image_file_raise_or_skip(tmp_path):
    tr = _small_tree(tmp_path)
    kw = dict(**tr.options, use_cache=False, progress=False)
    ds = load("mimic_pheno", **kw)
    sid, idx = next(iter(ds.card["pairs"].items()))
    dicom = ds.card["cxr_dicoms"][idx]
    next(tr.cxr_root.rglob(f"{dicom}.jpg")).unlink()
    with pytest.raises(FileNotFoundError, match=f"(?s){dicom}.jpg.*missing_images='skip'"):
        load("mimic_pheno", **kw)
    with pytest.warns(mm.MimicDataWarning, match="images_missing_file"):
        ds2 = load("mimic_pheno", missing_images="skip", **kw)
    assert ds2.card["dropped"]["images_missing_file"] == 1
    assert ds2.card["pairs"].get(sid) != idx


# --------------------------------------------------------------------------------------------
# cache, augmentation, fake marking


def test_cache_hit_is_identical_and_invalidated(tmp_path, capsys):
    tr = _small_tree(tmp_path, n_stays=20)
    kw = dict(**tr.options, cache_dir=str(tmp_path / "cache"))
    t = time.perf_counter()
    cold = load("mimic_pheno", **kw)  # progress bars on
    t_cold = time.perf_counter() - t
    assert "discretising time series" in capsys.readouterr().err
    t = time.perf_counter()
    warm = load("mimic_pheno", **kw)
    t_warm = time.perf_counter() - t
    assert not cold.card["cache"]["hit"] and warm.card["cache"]["hit"]
    assert t_warm < t_cold
    for s in SPLITS:
        for m in ("ts", "cxr"):
            torch.testing.assert_close(warm[s].inputs[m], cold[s].inputs[m])
            assert torch.equal(warm[s].present[m], cold[s].present[m])
        assert torch.equal(warm[s].y, cold[s].y) and torch.equal(warm[s].ids, cold[s].ids)
        assert torch.equal(warm[s].lengths["ts"], cold[s].lengths["ts"])
    assert warm.card["preprocessing"] == cold.card["preprocessing"]
    assert warm.items == cold.items
    # a changed source file (size / mtime) invalidates the entry
    s = next(s for s in tr.stays if s["split"] == "test")
    p = tr.ehr_root / s["files"]["pheno"]
    p.write_text(p.read_text() + "1.5,,,,,,,,,99,,,,,,,,\n")
    again = load("mimic_pheno", **kw, progress=False)
    assert not again.card["cache"]["hit"]
    assert load("mimic_pheno", **kw, progress=False).card["cache"]["hit"]
    # a changed table gives a new key; the entry it replaces is removed
    lf = tr.ehr_root / "phenotyping/test_listfile.csv"
    os.utime(lf, ns=(lf.stat().st_atime_ns, lf.stat().st_mtime_ns + 10**9))
    newer = load("mimic_pheno", **kw, progress=False)
    assert newer.card["cache"]["key"] != again.card["cache"]["key"]
    assert not Path(again.card["cache"]["dir"]).exists()
    assert Path(newer.card["cache"]["dir"]).exists()
    assert load("mimic_pheno", **kw, image_size=32, progress=False).card["cache"]["key"] != \
        again.card["cache"]["key"]
    # $MINDKIT_CACHE is the default location
    os.environ[mm.ENV_CACHE] = str(tmp_path / "envcache")
    try:
        assert mm.default_cache_dir() == tmp_path / "envcache"
    finally:
        del os.environ[mm.ENV_CACHE]


def test_normalizer_saved_and_reused(tmp_path, tree, cache, ihm):
    path = mm.save_normalizer(ihm, tmp_path / "norm.json")
    other = _load("mimic_ihm", tree, cache, mode="paired", normalizer=str(path))
    stats = json.loads(path.read_text())
    got = other.card["preprocessing"]["ts_standardization"]
    assert got["mean"] == stats["mean"] and got["source"] == "given"
    fitted = _load("mimic_ihm", tree, cache, mode="paired")
    assert fitted.card["preprocessing"]["ts_standardization"]["mean"] != stats["mean"]


def test_max_samples(tree, cache):
    ds = _load("mimic_pheno", tree, cache, max_samples=3, seed=5)
    assert all(len(ds[s]) == 3 for s in SPLITS)
    assert ds.card["dropped"]["not_drawn_max_samples"] > 0
    again = _load("mimic_pheno", tree, cache, max_samples=3, seed=5)
    assert torch.equal(again["train"].ids, ds["train"].ids)


def test_augment_cxr(ihm):
    x = ihm["train"].inputs["cxr"][:8]
    present = ihm["train"].present["cxr"][:8]
    g = torch.Generator().manual_seed(0)
    a = mm.augment_cxr(x, generator=g, present=present)
    b = mm.augment_cxr(x, generator=torch.Generator().manual_seed(0), present=present)
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a[~present], x[~present])
    if present.any():
        assert not torch.equal(a[present], x[present])
    assert torch.equal(x, ihm["train"].inputs["cxr"][:8])  # input untouched


def test_fake_tree_is_labelled(tree, ihm):
    from PIL import Image

    assert ihm.synthetic and "synthetic" in ihm.display_name
    assert "FAKE" in ihm.card["source"] and "FAKE" in ihm.modalities["cxr"].description
    for root in (tree.root, tree.ehr_root, tree.cxr_root):
        assert json.loads((root / mm.FAKE_MARKER).read_text())["fake"] is True
    with Image.open(tree.images[0]["path"]) as im:
        assert b"FAKE" in im.info.get("comment", b"")


def test_no_warning_on_clean_tree(tmp_path):
    tr = _small_tree(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mm.MimicDataWarning)
        ds = load("mimic_ihm", **tr.options, use_cache=False, progress=False)
    assert set(ds.card["dropped"].values()) == {0}
    shutil.rmtree(tr.root)


# --------------------------------------------------------------------------------------------
# the optional modalities: tab (stay table + first values) and notes (HPI of discharge notes)

ALL4 = ("ts", "cxr", "tab", "notes")


def _expected_hpi(tree, stay) -> str | None:
    """The HPI the reader should use for ``stay``: its admission's first note (note_seq
    order) that has an HPI section."""
    notes = sorted((n for n in tree.notes if n["hadm_id"] == stay["hadm_id"]
                    and n["subject_id"] == stay["subject_id"]), key=lambda n: n["note_seq"])
    return next((n["hpi"] for n in notes if n["hpi"] is not None), None)


@pytest.fixture(scope="module")
def ihm4(tree, cache):
    return _load("mimic_ihm", tree, cache, modalities=ALL4, notes_root=str(tree.notes_root))


def test_tab_and_notes_specs_presence_and_values(tree, ihm, ihm4):
    tab, notes = ihm4.modalities["tab"], ihm4.modalities["notes"]
    names = ihm4.card["features"]["tab"]
    assert tab.kind == "tabular" and tab.shape == (len(names),) and "FAKE" in tab.description
    assert names[:2] == ["age", "age: missing"] and "gender->F" in names
    assert "ethnicity->(missing or unseen)" in names
    assert names[-2:] == ["first pH", "first pH: missing"]
    assert len(names) == 2 + 3 + len(ihm4.card["preprocessing"]["tab"]["categories"][
        "ethnicity"]) + 1 + 2 * 12
    assert notes.kind == "tokens" and notes.shape == (300,) and notes.variable_length
    assert notes.vocab_size == len(ihm4.card["vocab"]) and ihm4.card["vocab"][:2] == [
        "<pad>", "<unk>"]
    assert sorted(ihm4.modalities) == ["cxr", "notes", "tab", "ts"]
    assert "leaks future information" in " ".join(ihm4.card["caveats"])
    prep = ihm4.card["preprocessing"]["tab"]
    age = prep["numeric"]["age"]
    vocab = {w: i for i, w in enumerate(ihm4.card["vocab"])}
    n_notes = 0
    for s in SPLITS:
        sp, ref = ihm4[s], ihm[s]
        # ts and cxr exactly as without the new modalities
        assert torch.equal(sp.ids, ref.ids)
        for m in ("ts", "cxr"):
            assert torch.equal(sp.inputs[m], ref.inputs[m])
            assert torch.equal(sp.present[m], ref.present[m])
        assert sp.present["tab"].all()  # every fake stay has a stay-table row
        assert ihm4.items[s]["tab"] == [int(i) for i in sp.ids]
        for i, sid in enumerate(sp.ids.tolist()):
            st = tree.stay(sid)
            x = sp.inputs["tab"][i]
            assert float(x[0]) * age["std"] + age["mean"] == pytest.approx(st["age"], abs=1e-3)
            assert x[names.index(f"gender->{st['gender']}")] == 1
            eth = f"ethnicity->{st['ethnicity']}"
            assert x[names.index(eth if eth in names else "ethnicity->(missing or unseen)")] == 1
            hpi = _expected_hpi(tree, st)
            assert bool(sp.present["notes"][i]) == (hpi is not None)
            n = int(sp.lengths["notes"][i])
            if hpi is None:
                assert n == 0 and (sp.inputs["notes"][i] == 0).all()
                continue
            n_notes += 1
            toks = mm.tokenize(hpi)[:300]
            assert n == len(toks)
            assert sp.inputs["notes"][i, :n].tolist() == [vocab.get(t, 1) for t in toks]
            assert (sp.inputs["notes"][i, n:] == 0).all()
            assert sid in ihm4.items[s]["notes"]
            assert ihm4.card["notes"]["note_ids"][sid].startswith(f"{st['subject_id']}-DS-")
    counts = ihm4.card["notes"]["counts"]
    assert counts["stays_with_notes"] == n_notes > 0
    assert counts["stays_without_discharge_note"] > 0 and counts["stays_with_hpi"] == n_notes
    assert sum(len(ihm4[s]) for s in SPLITS) == (
        counts["stays_with_discharge_note"] + counts["stays_without_discharge_note"])
    # the hand-made val stay: first heart rate is bin 0's last value (90), glucose 150,
    # diastolic pressure never measured (train median, flagged)
    s, i = _row(ihm4, tree.hand["stay_id"])
    x = ihm4[s].inputs["tab"][i]
    hr, glu = prep["numeric"]["first Heart Rate"], prep["numeric"]["first Glucose"]
    assert float(x[names.index("first Heart Rate")]) * hr["std"] + hr["mean"] == \
        pytest.approx(90, abs=1e-3)
    assert float(x[names.index("first Glucose")]) * glu["std"] + glu["mean"] == \
        pytest.approx(150, abs=1e-3)
    assert x[names.index("first Heart Rate: missing")] == 0
    dbp = prep["numeric"]["first Diastolic blood pressure"]
    assert x[names.index("first Diastolic blood pressure: missing")] == 1
    assert float(x[names.index("first Diastolic blood pressure")]) == pytest.approx(
        (dbp["median"] - dbp["mean"]) / dbp["std"], abs=1e-5)


HAND_NOTE = """FAKE hand-written note
Name:  ___                     Unit No:   ___
Service: MEDICINE
Chief Complaint:
dyspnea
Major Surgical or Invasive Procedure:
None
History of Present Illness:
72 yo woman with CHF presents with dyspnea.
In the ED, initial vitals: HR 110, BP 90/50, T 38.5C.
Of note: she stopped her lasix ___.
1. CHF: see below
\x20
Past Medical History:
CHF, HTN
Social History:
___
"""


def test_hpi_extraction_and_tokenizer():
    assert mm.extract_hpi(HAND_NOTE) == (
        "72 yo woman with CHF presents with dyspnea.\n"
        "In the ED, initial vitals: HR 110, BP 90/50, T 38.5C.\n"
        "Of note: she stopped her lasix ___.\n1. CHF: see below")
    same_line = ("HISTORY OF PRESENT ILLNESS: Pt is a 50M with cough.\nFever x2 days.\n"
                 "PHYSICAL EXAM:\nVS: 98.6\n")
    assert mm.extract_hpi(same_line) == "Pt is a 50M with cough.\nFever x2 days."
    assert mm.extract_hpi("Chief Complaint:\nfall\nHPI:\nFell at home.\r\nAllergies: none") == \
        "Fell at home."
    assert mm.extract_hpi("History of Present Illness:\nto the end of the note") == \
        "to the end of the note"
    assert mm.extract_hpi("History of Present Illness:\n \nPast Medical History:\nCHF") is None
    assert mm.extract_hpi("Chief Complaint:\nfall\nBrief Hospital Course:\nok") is None
    assert mm.extract_hpi("the history of present illness: is not a header") is None
    assert mm.extract_hpi(None) is None and mm.extract_hpi("") is None
    assert mm.tokenize("Pt's BP 90/50, T 38.5C ___ O2-sat") == [
        "pt", "s", "bp", "90", "50", "t", "38.5", "c", "o", "2", "sat"]
    vocab = mm.fit_vocab([["b", "a", "b", "c"], ["a", "b", "d", "d"]], min_count=2)
    assert vocab == ["<pad>", "<unk>", "b", "a", "d"]  # by count, ties alphabetical
    assert mm.fit_vocab([["b", "a", "b", "c"]], max_size=1) == ["<pad>", "<unk>", "b"]
    ids, lens = mm.encode_tokens([["a", "zz", "b", "a"], []], vocab, 3)
    assert ids.tolist() == [[3, 1, 2], [0, 0, 0]] and lens.tolist() == [3, 0]


def _notes_tree(tmp_path, **kw):
    tr = _small_tree(tmp_path, **kw)
    return tr, dict(**tr.notes_options, use_cache=False, progress=False)


def test_vocabulary_fitted_on_train_only(tmp_path):
    tr, kw = _notes_tree(tmp_path, n_stays=16)
    test = next(s for s in tr.stays if s["split"] == "test" and "ihm" in s["files"])
    hpi = "Zyzzogeton zyzzogeton found with dyspnea."
    add_fake_note(tr, test["subject_id"], test["hadm_id"],
                  HAND_NOTE.replace("72 yo woman", hpi), note_seq=0, hpi=None)
    ds = load("mimic_ihm", modalities=ALL4, **kw)
    vocab = ds.card["vocab"]
    assert "zyzzogeton" not in vocab and "dyspnea" not in vocab
    s, i = _row(ds, test["stay_id"])
    assert s == "test" and ds[s].present["notes"][i]
    assert ds[s].inputs["notes"][i, :2].tolist() == [1, 1]  # unknown words
    # the vocabulary is exactly the one fitted on the train stays' notes
    train_toks = [mm.tokenize(h)[:300] for sid in ds["train"].ids.tolist()
                  if (h := _expected_hpi(tr, tr.stay(sid))) is not None]
    assert vocab == mm.fit_vocab(train_toks, 2, 20_000)
    assert ds.card["preprocessing"]["notes"]["fitted_on"]["train_notes"] == len(train_toks)
    small = load("mimic_ihm", modalities=ALL4, notes_max_tokens=5, notes_min_count=1,
                 notes_max_vocab=10, **kw)
    assert small.modalities["notes"].shape == (5,) and len(small.card["vocab"]) == 12
    assert int(small["train"].lengths["notes"].max()) == 5


def test_tab_missing_values_unseen_categories_and_no_standardisation(tmp_path):
    tr = _small_tree(tmp_path, n_stays=20)
    kw = dict(**tr.options, use_cache=False, progress=False)
    path = tr.ehr_root / "root/all_stays.csv"
    stays = pd.read_csv(path, dtype=str, keep_default_na=False)
    ihm_stays = [s for s in tr.stays if "ihm" in s["files"]]
    a = next(s for s in ihm_stays if s["split"] == "train")
    b = next(s for s in ihm_stays if s["split"] == "test")
    stays.loc[stays["stay_id"] == str(a["stay_id"]), ["age", "gender"]] = ""
    stays.loc[stays["stay_id"] == str(b["stay_id"]), "ethnicity"] = "MARTIAN"
    stays.to_csv(path, index=False)
    ds = load("mimic_ihm", modalities=("ts", "cxr", "tab"), **kw)
    names = ds.card["features"]["tab"]
    prep = ds.card["preprocessing"]["tab"]
    assert prep["kinds"] == {"age": "numeric", "gender": "categorical",
                             "ethnicity": "categorical"}
    train_eth = {s["ethnicity"] for s in ihm_stays if s["split"] == "train"}
    assert prep["categories"]["ethnicity"] == sorted(train_eth)  # fitted on train only
    assert "ethnicity->MARTIAN" not in names
    assert prep["missing_values"]["age"] == 1 and prep["missing_values"]["gender"] == 1
    s, i = _row(ds, a["stay_id"])
    x = ds[s].inputs["tab"][i]
    age = prep["numeric"]["age"]
    train_ages = [s_["age"] for s_ in ihm_stays if s_["split"] == "train" and s_ is not a]
    assert age["median"] == float(np.median(train_ages))
    assert x[names.index("age: missing")] == 1
    assert float(x[0]) == pytest.approx((age["median"] - age["mean"]) / age["std"], abs=1e-5)
    assert x[names.index("gender->(missing or unseen)")] == 1
    assert x[names.index("gender->F")] == 0 and x[names.index("gender->M")] == 0
    s, i = _row(ds, b["stay_id"])
    x = ds[s].inputs["tab"][i]
    assert x[names.index("ethnicity->(missing or unseen)")] == 1
    assert sum(float(x[names.index(f"ethnicity->{e}")]) for e in train_eth) == 0
    # standardisation: train rows of the observed numeric columns have mean 0
    tr_x = ds["train"].inputs["tab"][:, 0]
    observed = ds["train"].inputs["tab"][:, 1] == 0
    assert float(tr_x[observed].double().mean()) == pytest.approx(0, abs=1e-5)
    raw = load("mimic_ihm", modalities=("ts", "cxr", "tab"), standardize=False,
               tab_channels=["Heart Rate"], tab_columns="age,gender", **kw)
    assert raw.card["features"]["tab"] == [
        "age", "age: missing", "gender->F", "gender->M", "gender->(missing or unseen)",
        "first Heart Rate", "first Heart Rate: missing"]
    s, i = _row(raw, b["stay_id"])
    assert float(raw[s].inputs["tab"][i, 0]) == b["age"]
    assert np.isfinite(raw["train"].inputs["tab"].numpy()).all()


def test_missing_notes_files_columns_and_bad_options(tmp_path, monkeypatch):
    monkeypatch.delenv(mm.ENV_NOTE, raising=False)
    tr, kw = _notes_tree(tmp_path)
    base = dict(**tr.options, use_cache=False, progress=False)
    with pytest.raises(FileNotFoundError, match="(?s)notes_root=.*MINDKIT_MIMIC_NOTE"):
        load("mimic_ihm", modalities=ALL4, **base)
    gz = tr.notes_root / "note/discharge.csv.gz"
    gz.rename(tmp_path / "away.csv.gz")
    with pytest.raises(FileNotFoundError, match=r"(?s)no note/discharge.csv.gz.*notes_root=.*"
                                                r"drop 'notes' from modalities"):
        load("mimic_ihm", modalities=ALL4, **kw)
    # an uncompressed discharge.csv is read as well
    pd.read_csv(tmp_path / "away.csv.gz").to_csv(tr.notes_root / "note/discharge.csv",
                                                 index=False)
    ds = load("mimic_ihm", modalities=ALL4, **kw)
    assert ds.card["notes"]["counts"]["stays_with_notes"] > 0
    # notes_root may also be the note/ folder itself
    inner = load("mimic_ihm", modalities=ALL4, **{**kw, "notes_root": str(tr.notes_root / "note")})
    assert inner.card["vocab"] == ds.card["vocab"]
    pd.read_csv(tmp_path / "away.csv.gz").drop(columns="text").to_csv(
        tr.notes_root / "note/discharge.csv", index=False)
    with pytest.raises(ValueError, match=r"(?s)discharge.csv: missing column\(s\) \['text'\]"):
        load("mimic_ihm", modalities=("ts", "cxr", "notes"), **kw)
    # stay-table columns
    path = tr.ehr_root / "root/all_stays.csv"
    stays = pd.read_csv(path, dtype=str, keep_default_na=False)
    stays.drop(columns="hadm_id").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"(?s)all_stays.csv: missing column\(s\) \['hadm_id'\]"
                                         r".*drop 'notes' from modalities"):
        load("mimic_ihm", modalities=("ts", "cxr", "notes"), **kw)
    with pytest.raises(ValueError, match=r"(?s)all_stays.csv: missing column\(s\) \['race'\]"
                                         r".*tab_columns="):
        load("mimic_ihm", modalities=("ts", "cxr", "tab"), tab_columns=["age", "race"], **base)
    assert load("mimic_pheno", modalities="ts,cxr,tab", **base).modalities["tab"].shape[0] > 0
    # options that make no sense
    with pytest.raises(ValueError, match="leak the outcome"):
        load("mimic_ihm", modalities=("ts", "cxr", "tab"), tab_columns=["age", "los"], **base)
    with pytest.raises(ValueError, match="not continuous channels"):
        load("mimic_ihm", modalities=("ts", "cxr", "tab"), tab_channels=[TOT], **base)
    with pytest.raises(ValueError, match=r"\['notes_root'\] given but 'notes' is not in"):
        load("mimic_ihm", **kw)
    with pytest.raises(ValueError, match=r"\['tab_columns'\] given but 'tab'"):
        load("mimic_ihm", tab_columns=["age"], **base)
    with pytest.raises(ValueError, match="always builds 'ts' and 'cxr'"):
        load("mimic_ihm", modalities=("ts", "tab"), **base)
    with pytest.raises(ValueError, match="mode='image'"):
        load("mimic_ihm", modalities=("ts", "cxr", "tab"), mode="image", **base)
    with pytest.raises(ValueError, match="distinct names"):
        load("mimic_ihm", modalities=("ts", "cxr", "text"), **base)


def test_pheno_with_tab_and_notes_and_cache(tmp_path, monkeypatch):
    tr = _small_tree(tmp_path, n_stays=16)
    kw = dict(**tr.notes_options, cache_dir=str(tmp_path / "cache"), progress=False)
    kw_plain = dict(**tr.options, cache_dir=str(tmp_path / "cache"), progress=False)
    plain = load("mimic_pheno", **kw_plain)
    cold = load("mimic_pheno", modalities=ALL4, **kw)
    assert not cold.card["cache"]["hit"]
    assert cold.card["cache"]["key"] != plain.card["cache"]["key"]
    assert sum(int(cold[s].present["notes"].sum()) for s in SPLITS) > 0
    # a warm load reads no CSV at all
    def no_csv(*a, **k):
        raise AssertionError("read_csv on a warm load")
    monkeypatch.setattr(pd, "read_csv", no_csv)
    warm = load("mimic_pheno", modalities=ALL4, **kw)
    assert warm.card["cache"]["hit"]
    for s in SPLITS:
        for m in ALL4:
            assert torch.equal(warm[s].inputs[m], cold[s].inputs[m])
            assert torch.equal(warm[s].present[m], cold[s].present[m])
        assert torch.equal(warm[s].lengths["notes"], cold[s].lengths["notes"])
    assert warm.card["vocab"] == cold.card["vocab"]
    assert warm.card["preprocessing"] == cold.card["preprocessing"]
    # tokenisation and tab channels are redone from the cache: same key, other tensors
    short = load("mimic_pheno", modalities=ALL4, notes_max_tokens=8, tab_channels=(), **kw)
    assert short.card["cache"]["hit"] and short.card["cache"]["key"] == cold.card["cache"]["key"]
    assert short.modalities["notes"].shape == (8,)
    assert short.card["features"]["tab"][-1] == "ethnicity->(missing or unseen)"
    monkeypatch.undo()
    # a changed notes file gives a new key (a stale entry is never used)
    gz = tr.notes_root / "note/discharge.csv.gz"
    os.utime(gz, ns=(gz.stat().st_atime_ns, gz.stat().st_mtime_ns + 10**9))
    again = load("mimic_pheno", modalities=ALL4, **kw)
    assert not again.card["cache"]["hit"]
    assert again.card["cache"]["key"] != cold.card["cache"]["key"]
    # the plain dataset is untouched by all this
    assert load("mimic_pheno", **kw_plain).card["cache"]["hit"]


def test_defaults_unchanged_without_new_modalities(tree, cache, ihm, tmp_path):
    assert ihm.modality_names == ["cxr", "ts"]
    assert "vocab" not in ihm.card and "modalities" not in ihm.card
    assert "modalities" not in ihm.options and "notes_root" not in ihm.options
    same = _load("mimic_ihm", tree, cache, modalities=("cxr", "ts"))
    assert same.card["cache"]["hit"] and same.card["cache"]["key"] == ihm.card["cache"]["key"]
    assert same.description == ihm.description
    # the fake tree can be written without notes; its other files are the same
    assert tree.notes_root is not None and (tree.notes_root / mm.FAKE_MARKER).is_file()
    with gzip.open(tree.notes_root / "note/discharge.csv.gz", "rt") as f:
        assert "FAKE synthetic discharge note" in f.read()
    bare = make_fake_mimic_tree(tmp_path / "bare", n_stays=8, seed=4, notes=False)
    full = make_fake_mimic_tree(tmp_path / "full", n_stays=8, seed=4)
    assert bare.notes_root is None and not (tmp_path / "bare/FAKE-mimic-iv-note").exists()
    with pytest.raises(ValueError, match="notes=False"):
        bare.notes_options
    for a, b in zip(sorted(bare.ehr_root.rglob("*.csv")), sorted(full.ehr_root.rglob("*.csv"))):
        assert a.read_bytes() == b.read_bytes()
    assert [im["dicom_id"] for im in bare.images] == [im["dicom_id"] for im in full.images]
