"""Checkpoints record where they came from; teachers from another dataset/split are refused."""

import json

import pytest
import torch

from mindkit.distill.recipes import load_teacher_nets, load_teachers, train_teachers
from mindkit.provenance import StaleStateError, dataset_provenance, split_hash
from mindkit.studies.models import ReuseWarning, teachers_for
from mindkit.train import TrainConfig, load_model

CFG = TrainConfig(epochs=1, batch_size=32)


@pytest.fixture
def trained(toy_dataset, tmp_path):
    train_teachers(toy_dataset, ["xs"], config=CFG, out_dir=tmp_path, progress=False)
    return tmp_path


def test_checkpoint_json_records_provenance(toy_dataset, trained):
    meta = json.loads((trained / "image_xs.json").read_text())
    prov = meta["provenance"]
    assert prov["dataset"] == "toy" and prov["task"] == "multiclass"
    assert prov["num_outputs"] == 3 and prov["split_hash"] == split_hash(toy_dataset)
    assert prov["modalities"]["image"]["shape"] == [1, 8, 8] and "mindkit_version" in prov
    assert meta["train"]["epochs"] == 1 and meta["method"] == "supervised"


def test_split_hash_changes_with_the_split(toy_dataset):
    assert split_hash(toy_dataset) == split_hash(toy_dataset)
    assert split_hash(toy_dataset.subsample(40, seed=0)) != split_hash(toy_dataset)


def test_teachers_of_another_split_or_task_are_refused(toy_dataset, trained):
    assert set(load_teachers(trained, toy_dataset, sizes=["xs"])) == {"audio", "image"}
    small = toy_dataset.subsample(40, seed=1)
    with pytest.raises(StaleStateError, match="split_hash.*01_teachers"):
        load_teachers(trained, small, sizes=["xs"])
    other = type(toy_dataset)("toy2", "multiclass", ["a", "b", "c"], toy_dataset.modalities,
                              toy_dataset.splits, synthetic=True)
    with pytest.raises(StaleStateError, match="dataset: saved 'toy', now 'toy2'"):
        load_model(trained / "image_xs", dataset=other)


def test_only_the_sizes_asked_for_are_loaded(toy_dataset, trained):
    with pytest.raises(FileNotFoundError,
                       match=r"audio_s\.safetensors.*has \['audio_xs.safetensors'"):
        load_teacher_nets(trained, toy_dataset, ["xs", "s"])
    (trained / "image_m.safetensors").write_bytes(b"junk")  # a stray file is never read
    nets, scores = load_teacher_nets(trained, toy_dataset, ["xs"])
    assert [n.size for n in nets["image"]] == ["xs"] and len(scores["audio"]) == 1


def test_compare_retrains_stale_teachers_and_reuses_matching_ones(toy_dataset, trained):
    before = (trained / "image_xs.safetensors").stat().st_mtime_ns
    *_, source = teachers_for(toy_dataset, ["xs"], CFG, [trained], trained, progress=False)
    assert (trained / "image_xs.safetensors").stat().st_mtime_ns == before  # reused
    assert source == trained
    small = toy_dataset.subsample(40, seed=1)
    with pytest.warns(ReuseWarning, match="not reusing the teachers.*split_hash"):
        teachers_for(small, ["xs"], CFG, [trained], trained, progress=False)
    meta = json.loads((trained / "image_xs.json").read_text())
    assert meta["provenance"]["split_hash"] == split_hash(small)


def test_reloaded_early_fusion_student_keeps_its_encoders_frozen(toy_dataset, tmp_path):
    from mindkit.fusion import freeze_encoders
    from mindkit.models import MultiHeadStudent, UnimodalNet
    from mindkit.train import save_model

    ds = toy_dataset
    teacher = UnimodalNet(ds.modalities["image"], 3, "xs")
    st = freeze_encoders(MultiHeadStudent(ds.modalities, 3, "xs", fusion="early"),
                         {"image": teacher})
    save_model(st, tmp_path / "st", extra={"provenance": dataset_provenance(ds)})
    back = load_model(tmp_path / "st", dataset=ds)
    assert not any(p.requires_grad for p in back.encoders["image"].parameters())
    assert any(p.requires_grad for p in back.encoders["audio"].parameters())
    for k, v in st.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
