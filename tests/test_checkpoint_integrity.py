"""Checkpoints vouch for themselves; artefacts made for other data are refused (issue 19)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mindkit.data import load
from mindkit.distill.recipes import TEACHER_FIX, load_teacher_nets, train_teachers
from mindkit.evaluate.heads import evaluate_unimodal
from mindkit.evaluate.predictions import compare_predictions, read_predictions
from mindkit.models import UnimodalNet
from mindkit.provenance import StaleStateError, dataset_provenance
from mindkit.train import TrainConfig, load_model, save_model
from mindkit.train.checkpoint import CheckpointError, read_meta, weights_sha256

CFG = TrainConfig(epochs=1, batch_size=32)


@pytest.fixture
def two_seeds(toy_dataset, tmp_path):
    """Teachers of the toy dataset trained with two seeds, in two folders."""
    a, b = tmp_path / "a", tmp_path / "b"
    train_teachers(toy_dataset, ["xs"], config=CFG, out_dir=a, progress=False)
    train_teachers(toy_dataset, ["xs"], config=TrainConfig(epochs=1, batch_size=32, seed=5),
                   out_dir=b, progress=False)
    return a, b


def test_the_provenance_and_weights_hash_travel_inside_the_weights_file(toy_dataset, two_seeds):
    a, _ = two_seeds
    path = a / "image_xs.safetensors"
    (a / "image_xs.json").unlink()  # the JSON is only a copy for people
    meta = read_meta(path)
    assert meta["provenance"]["fingerprint"] == dataset_provenance(toy_dataset)["fingerprint"]
    assert meta["method"] == "supervised" and meta["train"]["seed"] == 0
    net = load_model(path, dataset=toy_dataset)
    assert meta["weights_sha256"] == weights_sha256(net.state_dict())
    assert not path.read_bytes().startswith(b"PK")  # not a torch zip/pickle archive


def test_a_weights_file_swapped_in_from_another_seed_is_refused(toy_dataset, two_seeds):
    a, b = two_seeds
    shutil.copy(b / "image_xs.safetensors", a / "image_xs.safetensors")
    with pytest.raises(CheckpointError, match=r"image_xs.safetensors does not match the config "
                       r"beside it.*01_teachers"):
        load_teacher_nets(a, toy_dataset, ["xs"])


def test_a_teacher_under_another_name_is_refused(toy_dataset, two_seeds):
    a, _ = two_seeds
    for ext in (".safetensors", ".json"):
        shutil.copy(a / f"audio_xs{ext}", a / f"image_xs{ext}")
    with pytest.raises(CheckpointError, match="modality 'audio'.*not 'image'/'xs'"):
        load_teacher_nets(a, toy_dataset, ["xs"])


def test_altered_weights_are_refused(toy_dataset, two_seeds):
    a, _ = two_seeds
    path = a / "image_xs.safetensors"
    raw = bytearray(path.read_bytes())
    header = int.from_bytes(raw[:8], "little") + 8
    raw[header + 64: header + 64 + 1024] = bytes(1024)  # 1 KB of the weights overwritten
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=f"{path}: its weights were altered after saving "
                       r"\(SHA-256 recorded [0-9a-f]{64}, file holds [0-9a-f]{64}\).*01_teachers"):
        load_teacher_nets(a, toy_dataset, ["xs"])


def test_truncated_and_overwritten_files_are_refused_with_their_path(toy_dataset, two_seeds):
    a, _ = two_seeds
    path = a / "image_xs.safetensors"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=f"{path}.*cannot be read.*Rebuild it: rerun"):
        load_teacher_nets(a, toy_dataset, ["xs"])
    path.write_bytes(good[:8] + b"x" * 40 + good[48:])  # the header overwritten
    with pytest.raises(CheckpointError, match=f"{path}.*cannot be read"):
        load_model(path, fix=TEACHER_FIX)


def test_an_old_format_checkpoint_is_refused_with_the_rebuild_command(toy_dataset, tmp_path):
    net = UnimodalNet(toy_dataset.modalities["image"], 3, "xs")
    torch.save(net.state_dict(), tmp_path / "image_xs.pt")
    (tmp_path / "image_xs.json").write_text(json.dumps({"model": net.config}))
    with pytest.raises(CheckpointError, match=r"image_xs.pt is an old-format checkpoint.*"
                       r"Rebuild it: rerun notebooks/01_teachers"):
        load_teacher_nets(tmp_path, toy_dataset, ["xs"], modalities=["image"])


def test_a_checkpoint_for_other_data_options_is_refused_naming_the_option(tmp_path):
    """Teachers trained at difficulty='clean' are refused for a default run (same split)."""
    clean = load("avdigits", difficulty="clean").subsample(60, 0)
    default = load("avdigits").subsample(60, 0)
    net = UnimodalNet(clean.modalities["image"], 10, "xs")
    save_model(net, tmp_path / "image_xs", extra={"provenance": dataset_provenance(clean)})
    assert load_model(tmp_path / "image_xs", dataset=clean) is not None
    with pytest.raises(StaleStateError, match=r"option difficulty: saved 'clean', now 'default'"
                       r".*option pca_energy: saved 1.0, now 0.35"):
        load_model(tmp_path / "image_xs", dataset=default)


def test_paired_predictions_from_other_data_are_refused(toy_dataset, two_seeds, tmp_path):
    a, _ = two_seeds
    net = load_model(a / "image_xs", dataset=toy_dataset)
    other = type(toy_dataset)(**{**toy_dataset.__dict__, "options": {"noise": 0.5}})
    for name, ds in (("p1", toy_dataset), ("p2", other)):
        evaluate_unimodal(net, ds["test"], ds.task, 0, predictions_to=tmp_path / name,
                          provenance=dataset_provenance(ds))
    with pytest.raises(ValueError, match="different data.*option noise: saved None, now 0.5"):
        compare_predictions(read_predictions(tmp_path / "p1"), read_predictions(tmp_path / "p2"),
                            "multiclass", "a", "b", n_boot=0)
