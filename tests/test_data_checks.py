"""Data checks that name the problem (issue 19, item 6).

1. Every numeric option of every registered dataset refuses NaN, infinities and values out of
   range with a message naming the option, the value and the valid range.
2. The batch contract is checked again where data is used (training, scoring, explaining), since
   tensors can change after a dataset is built; a sample with no modality is refused.
3. Explaining the multimodal head names the modality that is actually missing.
4. A subsampled dataset lists only the items its samples still use.
"""

from __future__ import annotations

import copy
import inspect
import json

import numpy as np
import pytest
import torch
from conftest import make_split

from mindkit.common import check_number, check_share
from mindkit.data import DATASETS, available, load
from mindkit.data.base import ModalitySpec, MultimodalDataset, Split, validate_for_model
from mindkit.data.scarcity import with_paired_share
from mindkit.evaluate.availability import availability_scores
from mindkit.evaluate.heads import evaluate_student, evaluate_unimodal, validation_score
from mindkit.evaluate.robustness import corruption_curves, missingness_curves
from mindkit.explain import class_prior, input_attributions, modality_attributions
from mindkit.models import MultiHeadStudent, UnimodalNet
from mindkit.train import TrainConfig, Trainer
from mindkit.train.method import Supervised

NAN, INF = float("nan"), float("inf")


# -- 1. numeric options ------------------------------------------------------------------------


def test_check_number_names_option_value_and_range():
    assert check_number("n", 3, 1, integer=True) == 3 and check_number("x", "0.5", 0) == 0.5
    assert check_number("o", 8.0, 0, 28, integer=True) == 8  # a whole float is that integer
    cases = [
        (("noise_std", NAN, 0.0), {}, "noise_std must be a finite number >= 0, got nan"),
        (("frame_mask", 1.5, 0.0, 1.0), {}, "frame_mask must be in [0, 1], got 1.5"),
        (("occlusion", 3.5, 0, 28), {"integer": True},
         "occlusion must be an integer in [0, 28], got 3.5"),
        (("prevalence", 1.0, 0.0, 1.0), {"low_open": True, "high_open": True},
         "prevalence must be in (0, 1), got 1.0"),
        (("horizon_years", INF, 0.0), {"low_open": True},
         "horizon_years must be a finite number > 0, got inf"),
        (("size", True, 1), {"integer": True}, "size must be an integer >= 1, got True"),
        (("x", "abc"), {}, "x must be a finite number, got 'abc'"),
    ]
    for args, kw, msg in cases:
        with pytest.raises(ValueError) as err:
            check_number(*args, **kw)
        assert str(err.value) == msg
    with pytest.raises(ValueError, match=r"unpaired must be in \[0, 1\], got nan"):
        check_share("unpaired", NAN)  # a share is a bounded number: NaN no longer slips through


def _numeric_options(name: str) -> list[str]:
    """The options of dataset ``name`` annotated as numbers (int or float, maybe optional)."""
    params = inspect.signature(DATASETS.get(name)).parameters
    return [p for p, v in params.items()
            if any(t in str(v.annotation) for t in ("int", "float"))
            and "bool" not in str(v.annotation)]


def test_every_registered_dataset_has_numeric_options_to_check():
    assert sorted(available()) == ["avdigits", "avdigits3", "mimic_cxr_findings", "mimic_ihm",
                                   "mimic_pheno", "pbc", "synthetic_ihm", "synthetic_pheno"]
    assert "noise_std" in _numeric_options("avdigits")
    assert "landmark_years" in _numeric_options("pbc")
    assert "notes_max_vocab" in _numeric_options("mimic_pheno")


@pytest.mark.parametrize("name", ["avdigits", "avdigits3", "synthetic_ihm", "synthetic_pheno",
                                  "pbc", "mimic_ihm", "mimic_pheno", "mimic_cxr_findings"])
def test_every_numeric_option_refuses_nan_and_infinities(name):
    """Refused before any data is read (MIMIC needs no roots for it), naming option and value."""
    for option in _numeric_options(name):
        extra = {"modalities": "ts,cxr,notes"} if option.startswith("notes_") else {}
        for bad in (NAN, INF, -INF):
            with pytest.raises(ValueError) as err:
                load(name, **{option: bad}, **extra)
            msg = str(err.value)
            assert msg.startswith(f"{option} must be ") and f", got {bad!r}" in msg, msg


@pytest.mark.parametrize("name, options, message", [
    ("avdigits", {"noise_std": NAN}, "noise_std must be in [0, 100], got nan"),
    ("avdigits", {"noise_std": 1e6}, "noise_std must be in [0, 100], got 1000000.0"),
    ("avdigits", {"pca_energy": 0}, "pca_energy must be in (0, 1], got 0"),
    ("avdigits", {"occlusion": 3.5}, "occlusion must be an integer in [0, 28], got 3.5"),
    ("avdigits", {"occlusion": 29}, "occlusion must be an integer in [0, 28], got 29"),
    ("avdigits", {"blur_sigma": -1}, "blur_sigma must be in [0, 28], got -1"),
    ("avdigits", {"unpaired": NAN}, "unpaired must be in [0, 1], got nan"),
    ("avdigits", {"val_fraction": NAN}, "val_fraction must be in [0, 1), got nan"),
    ("avdigits", {"seed": -1}, "seed must be an integer >= 0, got -1"),
    ("avdigits", {"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),
    ("avdigits3", {"optical_occlusion": 9},
     "optical_occlusion must be an integer in [0, 8], got 9"),
    ("avdigits3", {"optical_noise": -0.1}, "optical_noise must be a finite number >= 0"),
    ("avdigits3", {"optical_noise": NAN}, "optical_noise must be a finite number >= 0, got nan"),
    ("synthetic_ihm", {"noise": NAN}, "noise must be in [0, 10], got nan"),
    ("synthetic_ihm", {"informative_cxr": 50}, "informative_cxr must be in [0, 10], got 50"),
    ("synthetic_ihm", {"n_samples": 10}, "n_samples must be an integer >= 20, got 10"),
    ("synthetic_ihm", {"prevalence": 1.0}, "prevalence must be in (0, 1), got 1.0"),
    ("synthetic_pheno", {"image_size": 4}, "image_size must be an integer in [8, 512], got 4"),
    ("synthetic_pheno", {"unpaired_ts": NAN}, "unpaired_ts must be in [0, 1], got nan"),
    ("pbc", {"landmark_years": NAN}, "landmark_years must be a finite number > 0, got nan"),
    ("pbc", {"horizon_years": 0}, "horizon_years must be a finite number > 0, got 0"),
    ("pbc", {"max_visits": 17}, "max_visits must be an integer in [1, 16], got 17"),
    ("mimic_ihm", {"image_size": 7}, "image_size must be an integer >= 8, got 7"),
    ("mimic_ihm", {"resize": 32}, "resize must be an integer >= 64, got 32"),
    ("mimic_pheno", {"max_hours": 0}, "max_hours must be an integer >= 1, got 0"),
    ("mimic_cxr_findings", {"max_samples": 2.5}, "max_samples must be an integer >= 1"),
])
def test_out_of_range_options_are_refused_with_the_range(name, options, message):
    with pytest.raises(ValueError) as err:
        load(name, **options)
    assert message in str(err.value)


def test_pbc_landmark_beyond_follow_up_names_the_usable_range():
    with pytest.raises(ValueError) as err:
        load("pbc", landmark_years=100)
    msg = str(err.value)
    assert msg.startswith("landmark_years=100 leaves 0 patient(s)")
    assert "landmark_years must be in (0, 10.54]" in msg and "13.13 years" in msg
    limit = 10.54  # the stated limit builds, with a patient in every split ...
    assert all(len(s) >= 1 for s in load("pbc", landmark_years=limit).splits.values())
    with pytest.raises(ValueError, match=r"landmark_years must be in \(0, 10.54\]"):
        load("pbc", landmark_years=limit + 0.01)  # ... and just beyond it does not
    with pytest.raises(ValueError, match=r"landmark_years must be in \(0, 11.16\]"):
        load("pbc", landmark_years=12, follow_up="pbcseq")  # the limit follows the options


# -- 2. the batch contract, again where data is used -------------------------------------------


SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8)),
         "audio": ModalitySpec("audio", "sequence", (6, 4), variable_length=True)}


def _toy() -> MultimodalDataset:
    splits = {s: make_split(n, i, s) for i, (s, n) in
              enumerate([("train", 64), ("val", 32), ("test", 32)])}
    return MultimodalDataset("toy", "multiclass", ["a", "b", "c"], SPECS, splits)


def _audio_rows(split: Split) -> list[int]:
    return split.present["audio"].nonzero().flatten().tolist()


def test_a_sample_with_no_modality_is_refused_at_build_naming_split_and_rows():
    split = make_split(20, 0, "val")
    split.present["image"][[3, 8]] = False
    split.present["audio"][[3, 8]] = False
    with pytest.raises(ValueError) as err:
        MultimodalDataset("toy", "multiclass", ["a", "b", "c"], SPECS, {"val": split})
    msg = str(err.value)
    assert "split 'val'" in msg and "2 sample(s) with no modality present" in msg
    assert "rows [3, 8]" in msg and "['audio', 'image']" in msg


def test_validate_rechecks_data_changed_after_the_build():
    ds = _toy()
    ds.validate()  # valid as built
    row = _audio_rows(ds["test"])[1]
    ds["test"].inputs["audio"][row, 0, 2] = INF
    ds.validate("train")  # other splits untouched
    with pytest.raises(ValueError) as err:
        ds.validate(where="before scoring")
    msg = str(err.value)
    assert msg.startswith("before scoring: dataset 'toy', split 'test', modality 'audio'")
    assert "1 NaN or infinite values (0 NaN, 1 infinite)" in msg and f"rows [{row}]" in msg


def test_training_refuses_nan_set_after_the_build():
    ds = _toy()
    ds["train"].inputs["image"][5, 0, 2, 2] = NAN
    student = MultiHeadStudent(SPECS, 3, "xs")
    with pytest.raises(ValueError) as err:
        Trainer(TrainConfig(epochs=1, batch_size=32), progress=False).fit(
            Supervised(student, "multiclass"), ds["train"])
    msg = str(err.value)
    assert msg.startswith("training Supervised: split 'train', modality 'image'")
    assert "1 NaN or infinite values (1 NaN, 0 infinite)" in msg and "rows [5]" in msg


def test_training_refuses_labels_changed_after_the_build():
    ds = _toy()
    ds["train"].y = ds["train"].y.float()  # wrong dtype for a multiclass task
    teacher = UnimodalNet(SPECS["image"], 3, "xs")
    with pytest.raises(ValueError, match=r"training Supervised: split 'train', y: targets of "
                                         r"dtype torch.float32.*torch.long"):
        Trainer(TrainConfig(epochs=1), progress=False).fit(
            Supervised(teacher, "multiclass", ["image"]), ds["train"])


def test_scoring_refuses_inf_in_a_test_sample_naming_split_modality_and_row():
    ds = _toy()
    student = MultiHeadStudent(SPECS, 3, "xs").eval()
    assert evaluate_student(student, ds["test"], "multiclass", n_boot=0)  # scores when valid
    ds["test"].inputs["image"][7, 0, 0, 1] = INF
    with pytest.raises(ValueError) as err:
        evaluate_student(student, ds["test"], "multiclass", n_boot=0)
    msg = str(err.value)
    assert msg.startswith("evaluate_student: split 'test', modality 'image'")
    assert "1 infinite" in msg and "rows [7]" in msg


def test_scoring_refuses_labels_out_of_range_and_empty_samples():
    ds = _toy()
    teacher = UnimodalNet(SPECS["image"], 3, "xs").eval()
    y = ds["test"].y.clone()
    y[[2, 9]] = 5
    ds["test"].y = y
    with pytest.raises(ValueError) as err:
        evaluate_unimodal(teacher, ds["test"], "multiclass", n_boot=0)
    msg = str(err.value)
    assert msg.startswith("evaluate_unimodal: split 'test', y: 2 class indices outside [0, 3)")
    assert "rows [2, 9]" in msg
    ds = _toy()
    ds["test"].present["image"][4] = False
    ds["test"].present["audio"][4] = False
    with pytest.raises(ValueError, match=r"evaluate_student: split 'test': 1 sample\(s\) with no "
                                         r"modality present, e.g. at rows \[4\]"):
        evaluate_student(MultiHeadStudent(SPECS, 3, "xs"), ds["test"], "multiclass", n_boot=0)


def test_validation_score_names_the_split_instead_of_a_nan_score():
    ds = _toy()
    ds["val"].inputs["image"][0] = NAN
    with pytest.raises(ValueError, match=r"validation_score: split 'val', modality 'image': 64 "
                                         r"NaN .* rows \[0\]"):
        validation_score(MultiHeadStudent(SPECS, 3, "xs"), ds["val"], "multiclass")


def test_robustness_and_availability_check_the_split_first():
    ds = _toy()
    row = _audio_rows(ds["test"])[0]
    ds["test"].inputs["audio"][row, 1, 0] = NAN
    models = {"mind": MultiHeadStudent(SPECS, 3, "xs").eval()}
    calls = {
        "missingness_curves": lambda: missingness_curves(models, ds["test"], "multiclass",
                                                         rates=[0.0, 1.0], n_boot=0),
        "corruption_curves": lambda: corruption_curves(
            models, ds["test"], "multiclass", ds["train"], {"image": "image",
                                                            "audio": "sequence"}, n_boot=0),
        "availability_scores": lambda: availability_scores(models, ds["test"], "multiclass",
                                                           n_boot=0),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"{name} (mind): split 'test', modality 'audio'"), msg
        assert f"rows [{row}]" in msg


def test_explaining_checks_the_split_and_the_prior_targets():
    ds = _toy()
    student = MultiHeadStudent(SPECS, 3, "xs").eval()
    prior = class_prior(ds["train"], "multiclass", 3)
    ds["test"].inputs["image"][11, 0, 4, 4] = -INF
    with pytest.raises(ValueError, match=r"modality_attributions: split 'test', modality "
                                         r"'image'.*rows \[11\]"):
        modality_attributions(student, ds["test"], "multiclass", prior=prior)
    with pytest.raises(ValueError, match=r"input_attributions: split 'test', modality "
                                         r"'image'.*rows \[11\]"):
        input_attributions(student, ds["test"], "image", "multiclass", n_steps=4)
    ds["train"].y = ds["train"].y + 3
    with pytest.raises(ValueError, match=r"class_prior: split 'train', y: 64 class indices "
                                         r"outside \[0, 3\)"):
        class_prior(ds["train"], "multiclass", 3)


def test_model_checks_accept_another_padding_of_a_variable_length_modality():
    """A model accepts sequences padded to other lengths; so does the check on its split."""
    split = make_split(10, 0, "test")
    longer = Split({"image": split.inputs["image"],
                    "audio": torch.cat([split.inputs["audio"], torch.zeros(10, 3, 4)], 1)},
                   split.present, split.y, split.ids, split.lengths, "test")
    validate_for_model(longer, MultiHeadStudent(SPECS, 3, "xs"), "multiclass")
    longer.lengths["audio"][_audio_rows(longer)[0]] = 10  # beyond its 9 padded steps
    with pytest.raises(ValueError, match=r"modality 'audio'.*lengths in \[1, 9\]"):
        validate_for_model(longer, MultiHeadStudent(SPECS, 3, "xs"), "multiclass")


# -- 3. explaining the multimodal head names the missing modality -------------------------------


def test_mm_head_explanation_names_the_modality_that_is_missing():
    split = make_split(30, 0, "test")
    student = MultiHeadStudent(SPECS, 3, "xs").eval()
    no_audio = (~split.present["audio"]).nonzero().flatten()[:2].tolist()
    with pytest.raises(ValueError) as err:
        input_attributions(student, split, "image", "multiclass", head="mm", rows=no_audio,
                           n_steps=4)
    msg = str(err.value)
    assert f"rows {no_audio} of split 'test' lack ['audio']" in msg
    assert "lack ['image']" not in msg and "lack 'image'" not in msg
    image_only = split.subset(~split.present["audio"])
    with pytest.raises(ValueError) as err:
        input_attributions(student, image_only, "image", "multiclass", head="mm", n_steps=4)
    msg = str(err.value)
    assert "(no sample has ['audio'])" in msg and "has 'image' to explain" not in msg


# -- 4. items follow the kept samples -------------------------------------------------------------


def _decode_avdigits(ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    ids = ids.numpy()
    return ids % 10000, ids // 10000 - 1  # image row, clip (-1: none)


def test_subsample_lists_only_the_items_its_samples_use(tmp_path):
    ds = load("avdigits")
    before = copy.deepcopy(ds.items)
    small = ds.subsample(240, seed=0)
    assert ds.items == before  # the full dataset is unchanged
    for s, split in small.splits.items():
        assert len(split) == 240
        rows, clips = _decode_avdigits(split.ids)  # the ids say which items a sample uses
        assert small.items[s]["image"] == sorted(rows.tolist())
        assert small.items[s]["audio"] == sorted(clips[clips >= 0].tolist())
        assert len(small.items[s]["image"]) < len(ds.items[s]["image"])
    small.check_disjoint()
    small.save_splits(tmp_path / "splits.json")
    saved = json.loads((tmp_path / "splits.json").read_text())
    assert saved["items"]["test"]["audio"] == small.items["test"]["audio"]


@pytest.mark.parametrize("name, options", [
    ("avdigits3", {}), ("pbc", {}),
    ("synthetic_pheno", {"n_samples": 400, "modalities": "ts,cxr,demo,notes",
                         "unpaired_notes": 0.1}),
])
def test_every_builder_records_the_items_of_each_sample(name, options):
    ds = load(name, **options)
    small = ds.subsample(30, seed=1)
    for s in ds.splits:
        for m in ds.modalities:
            assert ds[s].used_items(m) == set(ds.items[s][m])  # item_ids agree with items
            kept = small[s].used_items(m)
            assert set(small.items[s][m]) == kept  # listed = used by a kept sample
            assert all(i in kept for i in small.items[s][m])
            present = small[s].present[m]
            assert bool((small[s].item_ids[m][present] >= 0).all())
            assert bool((small[s].item_ids[m][~present] == -1).all())


def test_unpaired_copies_keep_their_items_and_a_split_without_item_ids_is_refused():
    ds = load("synthetic_ihm", n_samples=200)
    half = with_paired_share(ds, 0.5, seed=0)
    assert half.items == ds.items
    for m in ds.modalities:
        assert half["train"].used_items(m) == set(ds.items["train"][m])
    bare = {s: Split(sp.inputs, sp.present, sp.y, sp.ids, sp.lengths, sp.name)
            for s, sp in ds.splits.items()}
    listed = MultimodalDataset(ds.name, ds.task, ds.class_names, ds.modalities, bare,
                               items=ds.items)
    with pytest.raises(ValueError, match=r"cannot list the items of a reduced split: split "
                                         r"'train' carries no item_ids\['ts'\]"):
        listed.subsample(20)
    assert listed.subsample(1000).items == ds.items  # nothing cut: every list is kept
