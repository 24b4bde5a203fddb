"""Synthetic ICU datasets: shapes, labels, unpaired shares, determinism, the synthetic flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mindkit.data as md
from mindkit.data import synthetic

SPLITS = ("train", "val", "test")
N = 1000


@pytest.fixture(scope="module")
def ihm():
    return md.load("synthetic_ihm", n_samples=N)


@pytest.fixture(scope="module")
def pheno():
    return md.load("synthetic_pheno", n_samples=N)


def _all(ds, key):
    return torch.cat([getattr(ds[s], key) for s in SPLITS])


@pytest.mark.parametrize("name", ["synthetic_ihm", "synthetic_pheno"])
def test_shapes_and_contract(name, ihm, pheno):
    ds = ihm if name == "synthetic_ihm" else pheno
    n_labels = 1 if name == "synthetic_ihm" else 25
    assert ds.task == ("binary" if n_labels == 1 else "multilabel")
    assert len(ds.class_names) == n_labels == ds.num_outputs
    assert ds.modalities["ts"].kind == "timeseries" and ds.modalities["ts"].shape == (48, 76)
    assert not ds.modalities["ts"].variable_length
    assert ds.modalities["cxr"].kind == "image" and ds.modalities["cxr"].shape == (1, 32, 32)
    assert sum(len(ds[s]) for s in SPLITS) == N
    for s in SPLITS:
        sp = ds[s]
        assert sp.inputs["ts"].shape == (len(sp), 48, 76)
        assert sp.inputs["cxr"].shape == (len(sp), 1, 32, 32)
        assert sp.y.shape == (len(sp), n_labels) and sp.y.dtype == torch.float32
        assert set(sp.y.unique().tolist()) <= {0.0, 1.0}
        assert torch.isfinite(sp.inputs["ts"]).all() and torch.isfinite(sp.inputs["cxr"]).all()
        assert sp.inputs["cxr"].min() >= 0 and sp.inputs["cxr"].max() <= 1
        # absent modalities are zero and marked absent; every sample has at least one
        assert (sp.inputs["ts"][~sp.present["ts"]] == 0).all()
        assert (sp.inputs["cxr"][~sp.present["cxr"]] == 0).all()
        assert (sp.present["ts"] | sp.present["cxr"]).all()
    json.dumps(ds.options)


@pytest.mark.parametrize("name", ["synthetic_ihm", "synthetic_pheno"])
def test_synthetic_flag_everywhere(name, ihm, pheno):
    ds = ihm if name == "synthetic_ihm" else pheno
    assert ds.synthetic
    assert "synthetic" in ds.display_name
    assert "SYNTHETIC" in ds.description and "SYNTHETIC" in ds.card["source"]
    assert ds.card["synthetic"] is True
    assert all("synthetic" in row["dataset"] for row in ds.summary())


def test_mortality_prevalence():
    ds = md.load("synthetic_ihm", n_samples=3000)
    prev = float(_all(ds, "y").mean())
    assert 0.10 <= prev <= 0.15
    low = md.load("synthetic_ihm", n_samples=3000, prevalence=0.05)
    assert 0.03 <= float(_all(low, "y").mean()) <= 0.07


def test_pheno_prevalences_spread(pheno):
    prev = _all(pheno, "y").mean(0)
    assert prev.shape == (25,)
    assert (prev > 0.01).all() and (prev < 0.5).all()
    assert prev.max() - prev.min() > 0.15
    assert pheno.class_names[0] == "Acute and unspecified renal failure"


def test_unpaired_shares(ihm):
    ts = torch.cat([ihm[s].present["ts"] for s in SPLITS])
    cxr = torch.cat([ihm[s].present["cxr"] for s in SPLITS])
    assert int((ts & ~cxr).sum()) == round(0.4 * N)
    assert int((cxr & ~ts).sum()) == round(0.1 * N)
    assert int((ts & cxr).sum()) == N - round(0.4 * N) - round(0.1 * N)
    # stratified by presence pattern: every split holds roughly the same shares
    for s in SPLITS:
        g = ihm[s].groups()
        assert abs(float(g["only_ts"].float().mean()) - 0.4) < 0.03
    other = md.load("synthetic_ihm", n_samples=N, unpaired_ts=0.0, unpaired_cxr=0.3)
    ts = torch.cat([other[s].present["ts"] for s in SPLITS])
    cxr = torch.cat([other[s].present["cxr"] for s in SPLITS])
    assert int((ts & ~cxr).sum()) == 0 and int((cxr & ~ts).sum()) == round(0.3 * N)
    with pytest.raises(ValueError):
        md.load("synthetic_ihm", n_samples=N, unpaired_ts=0.8, unpaired_cxr=0.3)


def test_items_are_patients_and_disjoint(ihm):
    ihm.check_disjoint()
    for s in SPLITS:
        sp = ihm[s]
        assert ihm.items[s]["ts"] == sp.ids[sp.present["ts"]].tolist()
        assert ihm.items[s]["cxr"] == sp.ids[sp.present["cxr"]].tolist()
    all_ids = torch.cat([ihm[s].ids for s in SPLITS])
    assert len(set(all_ids.tolist())) == N


def test_deterministic(ihm):
    again = md.load("synthetic_ihm", n_samples=N)
    other = md.load("synthetic_ihm", n_samples=N, seed=1)
    for s in SPLITS:
        assert torch.equal(ihm[s].ids, again[s].ids)
        assert torch.equal(ihm[s].y, again[s].y)
        for m in ("ts", "cxr"):
            assert torch.equal(ihm[s].inputs[m], again[s].inputs[m])
            assert torch.equal(ihm[s].present[m], again[s].present[m])
    assert not torch.equal(ihm["train"].ids, other["train"].ids)
    assert not torch.allclose(ihm["train"].inputs["ts"][:10], other["train"].inputs["ts"][:10])


def test_time_series_has_temporal_trends():
    ds = md.load("synthetic_ihm", n_samples=600, noise=0.0)
    sp = ds["train"].only_modalities(["ts"])
    x = sp.inputs["ts"].numpy()
    slope = x[:, -1] - x[:, 0]
    # the 12 trend channels change over the 48 h, per patient; others stay flat without noise
    assert np.abs(slope[:, :12]).mean() > 0.3
    assert np.abs(slope[:, 20:]).mean() < 1e-4


def test_informativeness_knob_removes_signal():
    """With informative_cxr=0 the image no longer depends on the risk factors."""
    base = md.load("synthetic_ihm", n_samples=400, informative_cxr=0.0, noise=0.0)
    img = base["train"].only_modalities(["cxr"]).inputs["cxr"]
    # noise 0 and no signal: apart from the seeded lesion positions all images are alike
    assert float(img.std(0).mean()) < float(
        md.load("synthetic_ihm", n_samples=400, noise=0.0)["train"]
        .only_modalities(["cxr"])
        .inputs["cxr"]
        .std(0)
        .mean()
    )


def test_generation_is_fast():
    import time

    start = time.perf_counter()
    md.load("synthetic_pheno", n_samples=3000)
    assert time.perf_counter() - start < 10.0  # ~0.4 s on an idle machine; slack for busy CI


def test_unknown_option_raises_type_error_naming_options():
    with pytest.raises(TypeError) as err:
        md.load("synthetic_ihm", n_sample=10)
    for name in ("n_samples", "unpaired_ts", "unpaired_cxr", "informative_ts", "noise", "seed"):
        assert name in str(err.value)
        assert name in synthetic.build_ihm.__doc__ and name in synthetic.build_pheno.__doc__
    with pytest.raises(TypeError, match="n_samples"):
        md.load("synthetic_pheno", prevalence=0.1)  # prevalence is a mortality-only option
