"""The data contract is checked: splits when a dataset is built, inputs when a model runs."""

from __future__ import annotations

import pytest
import torch

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split, validate_split
from mindkit.models.student import MultiHeadStudent, SingleHeadStudent
from mindkit.models.unimodal import UnimodalNet

N = 6
SPECS = {
    "image": ModalitySpec("image", "image", (1, 28, 28)),
    "audio": ModalitySpec("audio", "sequence", (5, 3), variable_length=True),
    "tab": ModalitySpec("tab", "tabular", (4,)),
    "notes": ModalitySpec("notes", "tokens", (7,), variable_length=True, vocab_size=20),
}


def parts(task: str = "multiclass") -> dict:
    """The keyword arguments of a valid split (each test breaks one thing)."""
    g = torch.Generator().manual_seed(0)
    present = {m: torch.ones(N, dtype=torch.bool) for m in SPECS}
    present["audio"] = torch.tensor([True, True, False, True, False, True])
    notes = torch.randint(1, 20, (N, 7), generator=g)
    notes[:, 4:] = 0
    y = {"multiclass": torch.tensor([0, 1, 2, 0, 1, 2]),
         "binary": torch.tensor([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]]),
         "multilabel": torch.randint(0, 2, (N, 3), generator=g).float()}[task]
    return {
        "inputs": {"image": torch.rand(N, 1, 28, 28, generator=g),
                   "audio": torch.randn(N, 5, 3, generator=g) * present["audio"].view(-1, 1, 1),
                   "tab": torch.randn(N, 4, generator=g), "notes": notes},
        "present": present,
        "y": y,
        "ids": torch.arange(N),
        "lengths": {"audio": torch.tensor([5, 3, 0, 1, 0, 2]), "notes": torch.full((N,), 4)},
        "name": "train",
    }


def build(task: str = "multiclass", **parts_):
    classes = {"multiclass": ["a", "b", "c"], "binary": ["event"],
               "multilabel": ["p", "q", "r"]}[task]
    return MultimodalDataset("toy", task, classes, SPECS, {"train": Split(**parts_)})


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_a_valid_split_builds(task):
    ds = build(task, **parts(task))
    validate_split(ds["train"], SPECS, task, ds.num_outputs)  # also callable on its own
    assert len(ds.subsample(3)["train"]) == 3


def test_nan_in_a_present_row_is_refused_naming_modality_and_count():
    p = parts()
    p["inputs"]["image"][1, 0, 3, 4] = float("nan")
    p["inputs"]["image"][4, 0, 0, 0] = float("inf")
    p["inputs"]["image"][4, 0, 0, 1] = float("nan")
    with pytest.raises(ValueError) as e:
        build(**p)
    msg = str(e.value)
    assert "split 'train'" in msg and "modality 'image'" in msg
    assert "3 NaN or infinite values (2 NaN, 1 infinite)" in msg and "2 present sample" in msg


def test_nan_in_an_absent_row_is_accepted():
    p = parts()
    p["inputs"]["audio"][2] = float("nan")  # row 2 has no audio: never read
    p["inputs"]["audio"][4, 0, 0] = float("inf")
    build(**p)
    p["inputs"]["audio"][3, 0, 1] = float("nan")  # row 3 has audio
    with pytest.raises(ValueError, match=r"modality 'audio'.*1 NaN or infinite values"):
        build(**p)


def test_image_of_the_wrong_size_is_refused():
    p = parts()
    p["inputs"]["image"] = torch.rand(N, 1, 20, 20)
    with pytest.raises(ValueError, match=r"split 'train'.*modality 'image'.*\(1, 20, 20\).*"
                                         r"\(1, 28, 28\).*20 x 20 where 28 x 28"):
        build(**p)


def test_image_with_the_wrong_channels_is_refused():
    p = parts()
    p["inputs"]["image"] = torch.rand(N, 3, 28, 28)
    with pytest.raises(ValueError, match=r"modality 'image'.*3 channel\(s\) where 1 are expected"):
        build(**p)


def test_sequence_features_and_padding_must_match_the_spec():
    p = parts()
    p["inputs"]["audio"] = torch.zeros(N, 5, 4)
    with pytest.raises(ValueError, match=r"modality 'audio'.*4 features per step where 3"):
        build(**p)
    p["inputs"]["audio"] = torch.zeros(N, 6, 3)
    with pytest.raises(ValueError, match=r"modality 'audio'.*6 padded steps where 5"):
        build(**p)


def test_integer_images_are_refused():
    p = parts()
    p["inputs"]["image"] = (p["inputs"]["image"] * 255).to(torch.uint8)
    with pytest.raises(ValueError, match=r"modality 'image'.*dtype torch.uint8.*\.float\(\)"):
        build(**p)


def test_token_ids_out_of_range_are_refused():
    p = parts()
    p["inputs"]["notes"][2, 1] = 20  # vocab_size is 20
    with pytest.raises(ValueError, match=r"modality 'notes'.*1 token ids outside \[0, 20\)"):
        build(**p)
    p = parts()
    p["inputs"]["notes"] = p["inputs"]["notes"].float()
    with pytest.raises(ValueError, match=r"modality 'notes'.*torch.long"):
        build(**p)


def test_lengths_are_required_for_variable_length_and_must_fit():
    p = parts()
    del p["lengths"]["audio"]
    with pytest.raises(ValueError, match=r"modality 'audio'.*no lengths.*variable_length=True"):
        build(**p)
    p = parts()
    p["lengths"]["tab"] = torch.ones(N, dtype=torch.long)
    with pytest.raises(ValueError, match=r"modality 'tab'.*lengths although.*=False"):
        build(**p)
    p = parts()
    p["lengths"]["audio"][1] = 0  # present row with no step
    with pytest.raises(ValueError, match=r"modality 'audio'.*lengths in \[0, 0\].*\[1, 5\]"):
        build(**p)
    p = parts()
    p["lengths"]["audio"][0] = 6  # longer than the padding
    with pytest.raises(ValueError, match=r"modality 'audio'.*\[1, 5\]"):
        build(**p)


def test_multiclass_targets_out_of_range_or_float_are_refused():
    p = parts()
    p["y"][3] = 3  # three classes: 0..2
    with pytest.raises(ValueError, match=r"split 'train', y: 1 class indices outside \[0, 3\)"):
        build(**p)
    p = parts()
    p["y"] = p["y"].float()
    with pytest.raises(ValueError, match=r"y: targets of dtype torch.float32.*torch.long"):
        build(**p)


def test_binary_targets_must_be_0_or_1_of_shape_n_by_c():
    p = parts("binary")
    p["y"][2, 0] = 0.5
    with pytest.raises(ValueError, match=r"y: 1 targets that are not 0 or 1 \(e.g. 0.5\)"):
        build("binary", **p)
    p = parts("binary")
    p["y"] = p["y"].view(-1)
    with pytest.raises(ValueError, match=r"y: .*shape \(6,\).*shape \[6, 1\]"):
        build("binary", **p)
    p = parts("binary")
    p["y"] = p["y"].long()
    with pytest.raises(ValueError, match=r"y: targets of dtype torch.int64"):
        build("binary", **p)


def test_subsample_is_checked_too():
    ds = build(**parts())
    ds.splits["train"].y[0] = 7  # corrupted after the build
    with pytest.raises(ValueError, match="class indices outside"):
        ds.subsample(6)


def test_specs_need_one_size_per_layout_dimension():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ModalitySpec("image", "image", (28, 28))


def test_model_refuses_an_image_of_the_wrong_size():
    net = UnimodalNet(SPECS["image"], 3, "xs")
    net(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"modality 'image' \(image\): the model was built for "
                                         r"per-sample shape \(1, 28, 28\).*but got \(1, 20, 20\)"):
        net(torch.rand(2, 1, 20, 20))
    with pytest.raises(ValueError, match=r"modality 'image'.*3 channel\(s\) where 1"):
        net(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"3 per-sample dimensions instead of 1"):
        UnimodalNet(SPECS["tab"], 3, "xs")(torch.rand(2, 4, 1, 1))


def test_model_accepts_another_number_of_steps_but_not_other_features():
    net = UnimodalNet(SPECS["audio"], 3, "xs")
    assert net(torch.randn(2, 9, 3), torch.tensor([9, 4])).shape == (2, 3)  # longer padding
    with pytest.raises(ValueError, match=r"modality 'audio'.*4 features per step where 3"):
        net(torch.randn(2, 5, 4))
    fixed = UnimodalNet(ModalitySpec("ts", "timeseries", (5, 3)), 3, "xs")
    with pytest.raises(ValueError, match=r"modality 'ts'.*fixed-length"):
        fixed(torch.randn(2, 9, 3))


@pytest.mark.parametrize("cls", [MultiHeadStudent, SingleHeadStudent])
def test_students_refuse_an_image_of_the_wrong_size(cls):
    specs = {m: SPECS[m] for m in ("image", "audio")}
    student = cls(specs, 3, "xs")
    present = {"image": torch.ones(2, dtype=torch.bool), "audio": torch.tensor([True, False])}
    inputs = {"image": torch.rand(2, 1, 28, 28), "audio": torch.randn(2, 5, 3)}
    lengths = {"audio": torch.tensor([5, 1])}
    student(inputs, present, lengths)
    inputs["image"] = torch.rand(2, 1, 20, 20)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: modality 'image'.*built for "
                                         r"per-sample shape \(1, 28, 28\).*got \(1, 20, 20\)"):
        student(inputs, present, lengths)


# every dataset of the kit builds under the checks (MultimodalDataset validates each split)


def test_avdigits_builds_under_the_checks():
    from mindkit.data import load

    ds = load("avdigits")
    assert sum(len(s) for s in ds.splits.values()) == 5000


def test_pbc_builds_under_the_checks():
    from mindkit.data import load

    assert len(load("pbc")["train"]) > 0


@pytest.mark.parametrize("name", ["synthetic_ihm", "synthetic_pheno"])
def test_synthetic_builds_under_the_checks(name):
    from mindkit.data import load

    ds = load(name, n_samples=300)
    assert sum(len(s) for s in ds.splits.values()) == 300
    every = load(name, n_samples=300, modalities=("ts", "cxr", "demo", "notes"),
                 unpaired_demo=0.1, unpaired_notes=0.1)
    assert sorted(every.modalities) == ["cxr", "demo", "notes", "ts"]


def test_fake_mimic_builds_under_the_checks(tmp_path):
    from mindkit.data import load
    from mindkit.data.mimic_fake import make_fake_mimic_tree

    fake = make_fake_mimic_tree(tmp_path, n_stays=60, seed=0)
    for task in ("ihm", "pheno", "cxr_findings"):
        ds = load(f"mimic_{task}", **fake.options, cache_dir=str(tmp_path / "c"), progress=False)
        assert sum(len(s) for s in ds.splits.values()) > 0
