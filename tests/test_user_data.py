"""A researcher's own data (issue 23): ``mindkit.data.from_arrays`` and dataset folders read by
``mindkit.data.load(path)``; every contract violation is refused with a message naming the input
(argument or file), the modality or column, the rows and the fix (docs/your-data.md).

The arrays and folders here are small random data made by the tests (not a real cohort)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mindkit.data import DataError, from_arrays, load
from mindkit.distill.methods import MethodContext, run_method
from mindkit.provenance import check_provenance, dataset_fingerprint, dataset_provenance
from mindkit.train.trainer import TrainConfig

N = 60
CFG = TrainConfig(epochs=1, batch_size=16, device="cpu")


def arrays(n: int = N, seed: int = 0) -> dict:
    """Image + tabular inputs, binary-readable labels, patients of two samples each, a split
    per patient and an image missing for every fourth sample."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    img = (rng.random((n, 1, 8, 8)) * 0.5 + y[:, None, None, None] * 0.2).astype(np.float32)
    tab = rng.normal(size=(n, 5)) + y[:, None]
    groups = np.arange(n) // 2
    splits = np.asarray(["train", "train", "train", "val", "test"])[groups % 5]
    present = {"image": np.arange(n) % 4 != 3}
    return dict(modalities={"image": img, "tab": tab}, y=y, task="multiclass", present=present,
                ids=np.arange(n) + 1000, splits=splits, groups=groups)


def train_one_epoch(ds) -> None:
    student, info = run_method("no_kd", MethodContext(ds, config=CFG))
    assert info.epochs_run == 1
    assert sum(p.numel() for p in student.parameters()) > 0


# ------------------------------------------------------------------------------ from_arrays


def test_arrays_with_partial_presence_given_splits_and_groups_train():
    a = arrays()
    ds = from_arrays(**a, label_names=["low", "mid", "high"], name="my_cohort")
    assert not ds.synthetic and ds.display_name == "my_cohort"
    assert ds.class_names == ["low", "mid", "high"] and ds.task == "multiclass"
    assert ds.modalities["image"].kind == "image" and ds.modalities["image"].shape == (1, 8, 8)
    assert ds.modalities["tab"].kind == "tabular" and ds.modalities["tab"].shape == (5,)
    ds.validate()
    ds.check_disjoint()
    assert {s: len(ds[s]) for s in ds.splits} == {"train": 36, "val": 12, "test": 12}
    assert ds["train"].ids.tolist()[:3] == [1000, 1001, 1002]  # integer ids are kept
    # absent rows are zeros and marked absent
    tr = ds["train"]
    absent = ~tr.present["image"]
    assert absent.any() and tr.inputs["image"][absent].abs().sum() == 0
    card = ds.card
    assert card["source"] == "user arrays" and card["synthetic"] is False
    assert card["counts"]["per_split"]["train"] == {"samples": 36, "with_image": 27,
                                                    "with_tab": 36, "groups": 18}
    assert card["availability"]["train"] == {"image+tab": 27, "tab": 9}
    assert sum(card["label_balance"]["test"].values()) == 12
    assert card["split"] == "given with the data" and card["groups"]["groups"] == N // 2
    assert len(ds.options["data_hash"]) == 16
    train_one_epoch(ds)


def test_multilabel_with_a_drawn_group_split_sequences_and_tokens():
    rng = np.random.default_rng(1)
    n = 90
    y = (rng.random((n, 3)) < 0.4).astype(int)
    seq = rng.normal(size=(n, 7, 4)).astype(np.float32)
    lengths = rng.integers(1, 8, n)
    tokens = rng.integers(1, 20, (n, 6))
    groups = np.repeat([f"patient{i}" for i in range(30)], 3)
    ds = from_arrays({"labs": seq, "notes": tokens}, y, "multilabel", groups=groups,
                     kinds={"labs": "timeseries", "notes": "tokens"}, lengths={"labs": lengths},
                     present={"notes": np.arange(n) % 3 != 0}, label_names=["a", "b", "c"],
                     seed=3)
    assert ds.modalities["labs"].variable_length and ds.modalities["labs"].kind == "timeseries"
    assert ds.modalities["notes"].vocab_size == int(tokens.max()) + 1
    assert ds["train"].y.dtype == torch.float32 and ds["train"].y.shape[1] == 3
    # the split is drawn per patient: no patient in two splits
    where = {}
    for s in ds.splits:
        for i in ds[s].ids.tolist():
            where.setdefault(groups[i], set()).add(s)
    assert all(len(v) == 1 for v in where.values())
    assert ds.card["split"].startswith("drawn per patient (group)")
    # the seed fixes the split; another seed draws another
    again = from_arrays({"labs": seq, "notes": tokens}, y, "multilabel", groups=groups,
                        kinds={"labs": "timeseries", "notes": "tokens"},
                        lengths={"labs": lengths}, present={"notes": np.arange(n) % 3 != 0},
                        label_names=["a", "b", "c"], seed=3)
    assert dataset_fingerprint(again) == dataset_fingerprint(ds)
    train_one_epoch(ds)


def test_binary_labels_string_ids_uint8_images_and_torch_inputs():
    rng = np.random.default_rng(2)
    n = 50
    img = torch.from_numpy(rng.integers(0, 256, (n, 3, 6, 6), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 2, n))
    ds = from_arrays({"img": img}, y, "binary", ids=[f"P{i}" for i in range(n)])
    assert ds["train"].inputs["img"].max() <= 1.0 and ds["train"].y.shape[1] == 1
    assert ds.card["id_names"][:2] == ["P0", "P1"]
    assert any("uint8" in r for r in ds.card["read"])
    # the fingerprint covers the data itself: one changed pixel changes it
    img2 = img.clone()
    img2[0, 0, 0, 0] = 255 - img2[0, 0, 0, 0]
    other = from_arrays({"img": img2}, y, "binary", ids=[f"P{i}" for i in range(n)])
    assert dataset_fingerprint(other) != dataset_fingerprint(ds)


def _bad(**changes):
    a = arrays()
    for k, v in changes.items():
        if callable(v):
            v(a)
        else:
            a[k] = v
    return a


def _nan(a):
    a["modalities"]["tab"][[4, 9], 2] = np.nan


def _nan_absent(a):
    a["modalities"]["image"][3, 0, 0, 0] = np.nan  # row 3 has no image: never read


BAD_ARRAYS = {
    "wrong rows": (lambda a: a["modalities"].__setitem__("tab", a["modalities"]["tab"][:50]),
                   ["modalities['tab']: 50 rows", "60 labels", "Fix: give one row per sample"]),
    "wrong dims": (lambda a: a.update(kinds={"image": "image"}, modalities={
        "image": a["modalities"]["image"][:, 0], "tab": a["modalities"]["tab"]}),
        ["modalities['image']: 3 dimension(s) (shape (60, 8, 8))", "[N, C, H, W]", "x[:, None]"]),
    "one-dimensional": (lambda a: a["modalities"].__setitem__("tab", a["modalities"]["tab"][:, 0]),
                        ["modalities['tab']: 1 dimension(s)", "x.reshape(-1, 1)",
                         "declare the kind"]),
    "channels last": (lambda a: a["modalities"].__setitem__(
        "image", np.zeros((N, 8, 8, 1), np.float32)), ["channels-last", "transpose(0, 3, 1, 2)"]),
    "nan": (_nan, ["modalities['tab']: NaN or infinite values (2 NaN)", "rows [4, 9]",
                   "ids [1004, 1009]", "impute or drop"]),
    "labels out of range": (lambda a: a.update(label_names=["low", "mid", "high"], y=np.where(
        np.arange(N) == 7, 5, a["y"])), ["y: class indices outside [0, 3) (found 5..5)",
                                         "rows [7]", "ids [1007]", "Fix: map the labels to 0..2",
                                         "['low', 'mid', 'high']"]),
    "negative label": (lambda a: a["y"].__setitem__(2, -1),
                       ["y: class indices outside [0, 3) (found -1..-1)", "rows [2]"]),
    "label dtype": (lambda a: a.__setitem__("y", a["y"] + 0.5),
                    ["y: class indices that are not whole numbers"]),
    "binary not 0/1": (lambda a: a.__setitem__("task", "binary"),
                       ["y: labels that are not 0 or 1 (found [2])", "binarise them"]),
    "no modality": (lambda a: a.__setitem__("present", {
        "image": np.zeros(N, bool), "tab": np.arange(N) != 5}),
        ["present: no modality present", "rows [5]", "drop those samples"]),
    "split value": (lambda a: a["splits"].__setitem__(slice(0, 2), "valid"),
                    ["splits: values ['valid'] that are not ['train', 'val', 'test']",
                     "rows [0, 1]", "'valid' -> 'val'"]),
    "empty split": (lambda a: a.__setitem__("splits", np.where(a["splits"] == "val", "train",
                                                                a["splits"])),
                    ["split 'val' has no sample (train 48, val 0, test 12; given)"]),
    "present shape": (lambda a: a.__setitem__("present", {"image": np.ones(N - 1, bool)}),
                      ["present['image']: shape (59,)", "shape [60]"]),
    "present dtype": (lambda a: a.__setitem__("present", {"image": np.full(N, 0.5)}),
                      ["present['image']: values of dtype float64", "bool mask"]),
    "duplicate ids": (lambda a: a["ids"].__setitem__(1, 1000),
                      ["ids: 1 id(s) used more than once (['1000'])", "rows [0, 1]",
                       "one row per sample"]),
    "leakage": (lambda a: a["splits"].__setitem__(1, "test"),
                ["splits: leakage: 1 patient group(s) (groups) have samples in more than one split",
                 "group '0' in train", "rows [0]", "test", "rows [1]",
                 "put every sample of a patient in the same split", "pass splits=None"]),
    "unknown task": (lambda a: a.__setitem__("task", "regression"),
                     ["task 'regression' is not one of"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_are_refused_naming_what_and_the_fix(case):
    change, expected = BAD_ARRAYS[case]
    a = arrays()
    change(a)
    with pytest.raises(DataError) as err:
        from_arrays(**a)
    msg = str(err.value)
    for part in expected:
        assert part in msg, f"{case}: {part!r} not in {msg!r}"


def test_nan_on_absent_rows_is_never_read():
    a = arrays()
    _nan_absent(a)
    ds = from_arrays(**a)
    assert all(bool(torch.isfinite(ds[s].inputs["image"]).all()) for s in ds.splits)


# ------------------------------------------------------------------------------ folders


def make_folder(root: Path, n: int = N, seed: int = 0) -> Path:
    """An example folder: tab.npy (every sample), labs.npz (some samples, with lengths), a
    folder of PNGs (missing for every fourth sample), labels.csv with split and group."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    ids = [f"s{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    groups = [f"p{i // 2}" for i in range(n)]
    splits = [("train", "train", "train", "val", "test")[(i // 2) % 5] for i in range(n)]
    pd.DataFrame({"id": ids, "label": y, "split": splits, "group": groups}).to_csv(
        root / "labels.csv", index=False)
    (root / "dataset.json").write_text(json.dumps(
        {"task": "binary", "label_names": ["event"],
         "modalities": {"labs": {"kind": "timeseries"}}}))
    np.save(root / "tab.npy", (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32))
    has_labs = np.arange(n) % 3 != 0
    np.savez(root / "labs.npz", x=rng.normal(size=(int(has_labs.sum()), 5, 2)),
             ids=np.asarray(ids)[has_labs], lengths=rng.integers(1, 6, int(has_labs.sum())))
    (root / "cxr").mkdir()
    for i in range(n):
        if i % 4 != 3:
            px = (rng.random((10, 10)) * (128 + 127 * y[i])).astype(np.uint8)
            Image.fromarray(px).save(root / "cxr" / f"{ids[i]}.png")
    (root / "README.md").write_text("my cohort\n")
    return root


def test_a_folder_loads_through_load_and_trains(tmp_path):
    root = make_folder(tmp_path / "my_cohort")
    ds = load(str(root))
    assert ds.name == "my_cohort" and ds.display_name == "my_cohort" and not ds.synthetic
    assert ds.task == "binary" and ds.class_names == ["event"]
    assert sorted(ds.modalities) == ["cxr", "labs", "tab"]
    assert ds.modalities["cxr"].shape == (1, 10, 10)
    assert ds.modalities["labs"].kind == "timeseries" and ds.modalities["labs"].variable_length
    ds.validate()
    c = ds.card
    assert c["source"] == "user folder my_cohort/" and c["ignored_files"] == ["README.md"]
    assert c["files"]["cxr/"] == "45 PNG images"
    assert c["modalities"]["cxr"]["present"] == 45 and c["modalities"]["labs"]["present"] == 40
    assert c["split"] == "given with the data"
    # lines of labels.csv are sample ids s000..; sample ids are row numbers
    assert c["id_names"][:2] == ["s000", "s001"]
    assert load(root).options == ds.options  # a Path works too
    assert ds.options["folder"] == str(root.resolve())
    train_one_epoch(ds)


def test_the_fingerprint_follows_the_folder_content_not_its_place(tmp_path):
    root = make_folder(tmp_path / "a" / "cohort")
    ds = load(str(root))
    copy = tmp_path / "b" / "cohort"
    shutil.copytree(root, copy)
    moved = load(str(copy))
    assert dataset_fingerprint(moved) == dataset_fingerprint(ds)
    saved = dataset_provenance(ds)
    check_provenance(saved, moved, "teacher x", "retrain")  # same data elsewhere: accepted
    tab = np.load(copy / "tab.npy")
    tab[0, 0] += 1
    np.save(copy / "tab.npy", tab)
    changed = load(str(copy))
    assert changed.options["content_hash"] != ds.options["content_hash"]
    assert dataset_fingerprint(changed) != dataset_fingerprint(ds)
    with pytest.raises(ValueError, match="option content_hash"):
        check_provenance(saved, changed, "teacher x", "retrain")


def test_a_multilabel_folder_with_parquet_labels_and_present_csv(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "ml"
    root.mkdir()
    n = 40
    ids = np.arange(100, 100 + n)
    labels = pd.DataFrame({"id": ids, "label_fever": rng.integers(0, 2, n),
                           "label_cough": rng.integers(0, 2, n)})
    labels.to_parquet(root / "labels.parquet")
    (root / "dataset.json").write_text(json.dumps({"task": "multilabel",
                                                   "description": "a test cohort"}))
    np.save(root / "vitals.npy", rng.normal(size=(n, 6, 3)))
    np.savez(root / "demo.npz", x=rng.normal(size=(n, 4)))  # no ids: the labels' order
    present = pd.DataFrame({"id": ids, "demo": ["yes", "no"] * (n // 2)})
    present.to_csv(root / "present.csv", index=False)
    ds = load(str(root), seed=1)
    assert ds.task == "multilabel" and ds.class_names == ["fever", "cough"]
    assert ds.modalities["vitals"].kind == "sequence" and ds.description == "a test cohort"
    assert ds.card["modalities"]["demo"]["present"] == n // 2 and "id_names" not in ds.card
    assert sorted(torch.cat([ds[s].ids for s in ds.splits]).tolist()) == ids.tolist()
    ds.validate()
    train_one_epoch(ds)


def test_without_a_split_column_the_split_is_drawn_per_group(tmp_path):
    root = make_folder(tmp_path / "c")
    df = pd.read_csv(root / "labels.csv").drop(columns="split")
    df.to_csv(root / "labels.csv", index=False)
    ds = load(str(root), seed=4, val_fraction=0.25, test_fraction=0.25)
    ids = ds.card["id_names"]
    groups = dict(zip(df["id"], df["group"]))
    where = {}
    for s in ds.splits:
        for i in ds[s].ids.tolist():
            where.setdefault(groups[ids[i]], set()).add(s)
    assert all(len(v) == 1 for v in where.values()) and len(where) == N // 2
    assert ds.options["split"] == "drawn" and ds.options["seed"] == 4


def _edit_labels(col, rows, value):
    def edit(root):
        df = pd.read_csv(root / "labels.csv", dtype={"id": str})
        df[col] = df[col].astype(object) if col in df else None
        df.loc[rows, col] = value
        df.to_csv(root / "labels.csv", index=False)
    return edit


def _rm(name):
    return lambda root: (root / name).unlink()


def _npy_rows(root):
    np.save(root / "tab.npy", np.load(root / "tab.npy")[:-3])


def _npy_nan(root):
    x = np.load(root / "tab.npy")
    x[[2, 5]] = np.nan
    np.save(root / "tab.npy", x)


def _npy_shape(root):
    np.save(root / "tab.npy", np.load(root / "tab.npy")[:, 0])


def _present_csv_says_present(root):
    df = pd.read_csv(root / "labels.csv", dtype={"id": str})[["id"]]
    df["cxr"] = True  # but s003, s007, ... have no PNG
    df.to_csv(root / "present.csv", index=False)


def _present_csv_unknown_id(root):
    df = pd.read_csv(root / "labels.csv", dtype={"id": str})[["id"]]
    df["tab"] = True
    df.loc[len(df)] = ["s999", True]
    df.to_csv(root / "present.csv", index=False)


def _bad_png(root):
    (root / "cxr" / "s000.png").write_bytes(b"not a png")


def _png_size(root):
    from PIL import Image

    Image.fromarray(np.zeros((12, 10), np.uint8)).save(root / "cxr" / "s001.png")


def _png_unknown_id(root):
    shutil.copy(root / "cxr" / "s000.png", root / "cxr" / "x42.png")


BAD_FOLDERS = {
    "missing labels": (_rm("labels.csv"), ["neither of labels.csv and labels.parquet",
                                           "columns id, label"]),
    "missing dataset.json": (_rm("dataset.json"), ["dataset.json: missing",
                                                   '{"task": "binary"}']),
    "duplicate id": (_edit_labels("id", [4], "s003"),
                     ["labels.csv: 1 id(s) given more than once, e.g. ['s003']",
                      "lines [6] of labels.csv", "one row per sample"]),
    "task": (lambda root: (root / "dataset.json").write_text('{"task": "survival"}'),
             ["dataset.json: task 'survival'", "use one of ['binary', 'multilabel', "]),
    "npz ids": (lambda root: np.savez(root / "labs.npz", x=np.zeros((2, 5, 2)),
                                      ids=np.asarray(["s001", "nobody"])),
                ["labs.npz: 1 id(s) not in the labels file, e.g. ['nobody']"]),
    "npy rows": (_npy_rows, ["tab.npy: 57 rows (shape (57, 4)) but labels.csv has 60 ids",
                             "write tab.npz with arrays 'ids' and 'x'"]),
    "npy shape": (_npy_shape, ["tab.npy: 1 dimension(s) (shape (60,))", "x.reshape(-1, 1)"]),
    "present.csv without a file": (_present_csv_says_present, [
        "present.csv: column 'cxr' marks present 15 sample(s), e.g. ids ['s003', 's007'",
        "that cxr/ does not hold", "write False there"]),
    "npy NaN": (_npy_nan, ["tab.npy: NaN or infinite values (8 NaN) in 2 sample(s)",
                           "ids ['s002', 's005']", "lines [4, 7] of labels.csv"]),
    "label NaN": (_edit_labels("label", [3], np.nan),
                  ["labels.csv column 'label': missing labels (NaN)", "ids ['s003']",
                   "lines [5] of labels.csv"]),
    "label out of range": (_edit_labels("label", [6, 8], 2),
                           ["labels.csv column 'label': labels that are not 0 or 1 (found [2])",
                            "ids ['s006', 's008']", "lines [8, 10]"]),
    "present.csv unknown id": (_present_csv_unknown_id,
                               ["present.csv: 1 id(s) not in the labels file, e.g. ['s999']"]),
    "unreadable png": (_bad_png, ["cxr/s000.png: cannot be read as an image",
                                  "re-save it as a PNG, or delete it"]),
    "png size": (_png_size, ["cxr/s001.png: 1 channel(s), 10x12 pixels, but cxr/s000.png has "
                             "1, 10x10", "same size"]),
    "png id": (_png_unknown_id, ["cxr/: 1 id(s) not in the labels file, e.g. ['x42']",
                                 "remove those files"]),
    "leakage": (_edit_labels("split", [1], "test"),
                ["labels.csv column 'split': leakage: 1 patient group(s) (labels.csv column "
                 "'group')",
                 "group 'p0' in train", "ids ['s000']", "test", "ids ['s001']",
                 "drop the 'split' column of labels.csv"]),
    "split value": (_edit_labels("split", [0], "validation"),
                    ["labels.csv column 'split': values ['validation']", "lines [2]"]),
    "unknown column": (_edit_labels("spilt", [0], "x"),
                       ["labels.csv: columns", "unknown ['spilt']", "remove or rename"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_folders_are_refused_naming_the_file(case, tmp_path):
    change, expected = BAD_FOLDERS[case]
    root = make_folder(tmp_path / "cohort")
    change(root)
    with pytest.raises(DataError) as err:
        load(str(root))
    msg = str(err.value)
    for part in expected:
        assert part in msg, f"{case}: {part!r} not in {msg!r}"


def test_load_keeps_names_and_refuses_a_missing_folder_or_unknown_option(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset folder"):
        load(str(tmp_path / "nowhere"))
    with pytest.raises(KeyError, match="valid names: .*avdigits.*or the path of a dataset"):
        load("no_such_dataset")
    root = make_folder(tmp_path / "d")
    with pytest.raises(TypeError, match="unknown option.*difficulty.*seed, val_fraction"):
        load(str(root), difficulty="hard")


def test_cli_gives_the_notebooks_a_folder_as_an_absolute_path(tmp_path, monkeypatch):
    from mindkit.cli import dataset_arg

    make_folder(tmp_path / "cohort")
    monkeypatch.chdir(tmp_path)
    assert dataset_arg("cohort") == str((tmp_path / "cohort").resolve())
    assert dataset_arg("./cohort") == str((tmp_path / "cohort").resolve())
    assert dataset_arg("avdigits") == "avdigits"


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_00_tours_a_dataset_folder(tmp_path):
    from mindkit.notebook import execute_notebook

    root = make_folder(tmp_path / "my_cohort")
    run = tmp_path / "run"
    out = execute_notebook("00_data_tour", run, {"dataset": str(root), "seed": 0,
                                                 "quick": True, "run_dir": str(run)})
    text = out.read_text()
    assert "my_cohort" in text and "user folder my_cohort/" in text
    marker = json.loads((run / "quick" / "dataset.json").read_text()) if (
        run / "quick" / "dataset.json").exists() else json.loads((run / "dataset.json").read_text())
    assert marker["dataset"] == "my_cohort"
