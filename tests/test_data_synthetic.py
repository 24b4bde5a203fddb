"""Synthetic ICU datasets: contract, MIMIC 76-column layout, extra modalities, unpaired shares,
determinism, signal per modality, the synthetic flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mindkit.data as md
from mindkit.data import mimic, synthetic
from mindkit.data.synthetic.images import make_cxr
from mindkit.data.synthetic.timeseries import discretise, simulate_ts
from mindkit.data.synthetic.world import draw_factors

SPLITS = ("train", "val", "test")
ALL = ("ts", "cxr", "demo", "notes")
N = 1000
DISC = mimic.default_discretizer()


@pytest.fixture(scope="module")
def ihm():
    return md.load("synthetic_ihm", n_samples=N)


@pytest.fixture(scope="module")
def pheno():
    return md.load("synthetic_pheno", n_samples=N)


@pytest.fixture(scope="module")
def full():
    """All four modalities, some of each modality alone."""
    return md.load("synthetic_ihm", n_samples=N, modalities=ALL, unpaired_ts=0.2,
                   unpaired_cxr=0.1, unpaired_demo=0.05, unpaired_notes=0.15)


def _all(ds, key):
    return torch.cat([getattr(ds[s], key) for s in SPLITS])


def _destandardise(ds, x):
    stats = ds.card["preprocessing"]["ts_standardization"]
    x = x.clone().double()
    cols = stats["columns"]
    x[..., cols] = x[..., cols] * torch.tensor(stats["std"]) + torch.tensor(stats["mean"])
    return x


# --------------------------------------------------------------------------------------------
# contract


@pytest.mark.parametrize("name", ["synthetic_ihm", "synthetic_pheno"])
def test_shapes_and_contract(name, ihm, pheno):
    ds = ihm if name == "synthetic_ihm" else pheno
    n_labels = 1 if name == "synthetic_ihm" else 25
    assert ds.task == ("binary" if n_labels == 1 else "multilabel")
    assert len(ds.class_names) == n_labels == ds.num_outputs
    assert ds.modality_names == ["cxr", "ts"]  # default: the two MedFuse modalities
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
    json.dumps(ds.card)


@pytest.mark.parametrize("name", ["synthetic_ihm", "synthetic_pheno"])
def test_synthetic_flag_everywhere(name, ihm, pheno):
    ds = ihm if name == "synthetic_ihm" else pheno
    assert ds.synthetic
    assert "synthetic" in ds.display_name
    assert "SYNTHETIC" in ds.description and "SYNTHETIC" in ds.card["source"]
    assert ds.card["synthetic"] is True
    assert all("synthetic" in row["dataset"] for row in ds.summary())
    assert all("SYNTHETIC" in spec.description for spec in ds.modalities.values())


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
    assert pheno.class_names == mimic.PHENOTYPES


def test_labels_do_not_depend_on_requested_modalities(ihm):
    other = md.load("synthetic_ihm", n_samples=N, modalities=["ts", "notes"])
    for ds in (ihm, other):
        order = _all(ds, "ids").argsort()
        y = _all(ds, "y")[order]
        if ds is ihm:
            y_ihm = y
    assert torch.equal(y, y_ihm)  # the same patients have the same labels


# --------------------------------------------------------------------------------------------
# presence


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


def test_unpaired_shares_four_modalities(full):
    pres = {m: torch.cat([full[s].present[m] for s in SPLITS]) for m in ALL}
    stack = torch.stack([pres[m] for m in ALL], 1)
    alone = {"ts": 0.2, "cxr": 0.1, "demo": 0.05, "notes": 0.15}
    for j, m in enumerate(ALL):
        only = stack[:, j] & (stack.sum(1) == 1)
        assert int(only.sum()) == round(alone[m] * N)
    n_paired = N - sum(round(v * N) for v in alone.values())
    assert int(stack.all(1).sum()) == n_paired
    assert set(stack.sum(1).tolist()) == {1, 4}  # modality alone, or all of them
    groups = full["train"].groups()
    assert {"paired", "only_ts", "only_cxr", "only_demo", "only_notes"} <= set(groups)
    with pytest.raises(ValueError, match="unpaired_notes"):
        md.load("synthetic_ihm", n_samples=100, unpaired_notes=0.1)  # notes not requested
    with pytest.raises(ValueError, match="<= 1"):
        md.load("synthetic_ihm", n_samples=100, modalities=ALL, unpaired_demo=0.6)
    with pytest.raises(ValueError, match="modalities"):
        md.load("synthetic_ihm", n_samples=100, modalities=["ts", "ecg"])


def test_items_are_patients_and_disjoint(ihm, full):
    for ds in (ihm, full):
        ds.check_disjoint()
        for s in SPLITS:
            sp = ds[s]
            for m in ds.modality_names:
                assert ds.items[s][m] == sp.ids[sp.present[m]].tolist()
        all_ids = torch.cat([ds[s].ids for s in SPLITS])
        assert len(set(all_ids.tolist())) == N


def test_deterministic(ihm, full):
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
    full2 = md.load("synthetic_ihm", **full.options)
    for s in SPLITS:
        for m in ALL:
            assert torch.equal(full[s].inputs[m], full2[s].inputs[m])
        assert torch.equal(full[s].lengths["notes"], full2[s].lengths["notes"])
    # a patient's image does not depend on which other modalities were requested
    a = md.load("synthetic_ihm", n_samples=200, unpaired_ts=0, unpaired_cxr=0)
    b = md.load("synthetic_ihm", n_samples=200, unpaired_ts=0, unpaired_cxr=0, modalities=ALL)
    assert torch.equal(a["test"].inputs["cxr"], b["test"].inputs["cxr"])


# --------------------------------------------------------------------------------------------
# time series: the MIMIC discretiser layout


def _ts_present(ds, split="train"):
    sp = ds[split]
    return sp.inputs["ts"][sp.present["ts"]]


def test_ts_layout_matches_mimic(ihm):
    assert ihm.card["features"]["ts"] == mimic.FEATURE_NAMES
    assert len(mimic.CONTINUOUS_COLUMNS) == 12 and len(mimic.MASK_COLUMNS) == 17
    x = _ts_present(ihm)
    binary = [c for c in range(76) if c not in mimic.CONTINUOUS_COLUMNS]
    assert set(x[:, :, binary].unique().tolist()) <= {0.0, 1.0}  # one-hots and masks
    for j, ch in enumerate(DISC.channels):
        if DISC.is_categorical[j]:
            b, k = int(DISC.begin[j]), len(DISC.possible_values[ch])
            assert (x[:, :, b : b + k].sum(-1) == 1).all(), ch  # one value per hour
    # both GCS spellings occur, and the normal value before the first measurement
    eye = [mimic.FEATURE_NAMES.index(f"Glascow coma scale eye opening->{v}")
           for v in ("4 Spontaneously", "Spontaneously")]
    assert (x[:, :, eye].sum((0, 1)) > 0).all()


def test_ts_standardised_with_train_statistics(ihm):
    cont = mimic.CONTINUOUS_COLUMNS
    x = _ts_present(ihm)[:, :, cont].double()
    assert x.mean((0, 1)).abs().max() < 1e-3
    assert (x.std((0, 1)) - 1).abs().max() < 1e-2
    stats = ihm.card["preprocessing"]["ts_standardization"]
    assert stats["columns"] == cont
    assert stats["fitted_on"]["stays"] == int(ihm["train"].present["ts"].sum())
    raw = _destandardise(ihm, _ts_present(ihm, "test"))
    hr = raw[:, :, mimic.FEATURE_NAMES.index("Heart Rate")]
    assert 60 < float(hr.mean()) < 110  # clinical units after undoing the standardisation


def test_ts_forward_fill_and_masks(ihm):
    raw = _destandardise(ihm, _ts_present(ihm))
    for j, ch in enumerate(DISC.channels):
        mask = raw[:, :, DISC.n_value_columns + j] > 0.5
        if DISC.is_categorical[j]:
            k = len(DISC.possible_values[ch])
            vals = raw[:, :, int(DISC.begin[j]) : int(DISC.begin[j]) + k].argmax(-1).double()
        else:
            vals = raw[:, :, int(DISC.begin[j])]
        seen = mask.cummax(1).values
        # before any measurement: the channel's normal value
        assert torch.allclose(vals[~seen], torch.full_like(vals[~seen], DISC.normal_codes[j]),
                              atol=1e-3), ch
        # an hour without a measurement repeats the previous hour
        carry = ~mask[:, 1:]
        assert torch.allclose(vals[:, 1:][carry], vals[:, :-1][carry], atol=1e-3), ch


def test_ts_equals_mimic_discretizer_on_raw_events(ihm):
    test = ihm["test"]
    pids = test.ids[test.present["ts"]][:4].tolist()
    raw = _destandardise(ihm, test.inputs["ts"][test.present["ts"]][:4])
    disc = mimic.Discretizer()
    for i, pid in enumerate(pids):
        hours, columns = synthetic.raw_events(ihm, pid)
        assert len(columns) == 17 and all(len(c) == len(hours) for c in columns)
        x, counts = disc.transform(hours, columns, end_hours=48)
        assert x.shape == (48, 76)
        assert counts["overwritten_in_bin"] > 0 and counts["before_time_zero"] >= 0
        assert np.allclose(x, raw[i].numpy(), atol=1e-3), pid
        exact = [c for c in range(76) if c not in mimic.CONTINUOUS_COLUMNS]
        assert np.array_equal(x[:, exact], raw[i].numpy()[:, exact])
    # the vectorised replica equals the discretiser exactly (before standardisation)
    z = draw_factors(5, 30)
    sim = simulate_ts(z, 1.0, 1.0, 0.0, np.random.default_rng(5))
    x_all = discretise(sim)
    for i in range(0, 30, 7):
        x, _ = disc.transform(*sim.events(i), end_hours=48)
        assert np.array_equal(x, x_all[i])


def test_ts_irregular_sampling_is_realistic_and_uninformative():
    ds = md.load("synthetic_ihm", n_samples=2000, unpaired_ts=0, unpaired_cxr=0)
    sp = ds["train"]
    x, y = sp.inputs["ts"], sp.y[:, 0] > 0
    rate = {ch: x[:, :, DISC.n_value_columns + j].mean().item()
            for j, ch in enumerate(DISC.channels)}
    assert rate["Heart Rate"] > 0.85 and rate["Systolic blood pressure"] > 0.8
    assert 0.1 < rate["Glucose"] < 0.3 and 0.15 < rate["Glascow coma scale motor response"] < 0.4
    assert rate["Height"] < 0.02 and rate["Temperature"] < 0.35
    masks = x[:, :, mimic.MASK_COLUMNS].mean((1, 2))
    assert abs(float(masks[y].mean() - masks[~y].mean())) < 0.01  # missingness uninformative
    sick = md.load("synthetic_ihm", n_samples=2000, unpaired_ts=0, unpaired_cxr=0,
                   informative_missingness=2.0)["train"]
    m2 = sick.inputs["ts"][:, :, mimic.MASK_COLUMNS].mean((1, 2))
    yy = sick.y[:, 0] > 0
    assert float(m2[yy].mean() - m2[~yy].mean()) > 0.01


def test_ts_risk_factors_move_clinical_channels():
    ds = md.load("synthetic_ihm", n_samples=2000, unpaired_ts=0, unpaired_cxr=0)
    sp = ds["train"]
    raw = _destandardise(ds, sp.inputs["ts"])
    z = draw_factors(0, 2000)[sp.ids.numpy()]
    col = mimic.FEATURE_NAMES.index

    def corr(a, b):
        return float(np.corrcoef(np.asarray(a, dtype=float), b)[0, 1])

    hr = raw[:, :, col("Heart Rate")].numpy()
    sbp = raw[:, :, col("Systolic blood pressure")].numpy()
    glu = raw[:, :, col("Glucose")].numpy()
    gcs = raw[:, :, col("Glascow coma scale total->15")].numpy()
    spo2 = raw[:, :, col("Oxygen saturation")].numpy()
    assert corr(hr.mean(1), z[:, synthetic.S0]) > 0.3  # tachycardia
    assert corr(sbp.mean(1), z[:, synthetic.S0]) < -0.3  # low blood pressure
    assert corr(hr[:, -8:].mean(1) - hr[:, :8].mean(1), z[:, synthetic.T2]) > 0.3  # HR trend
    assert corr(glu[:, -12:].mean(1) - glu[:, :12].mean(1), z[:, synthetic.T1]) > 0.2
    assert corr(spo2.min(1), z[:, synthetic.S1]) < -0.2  # SpO2 dips
    assert corr(gcs.mean(1), z[:, synthetic.T0]) < -0.2  # fewer normal GCS totals


# --------------------------------------------------------------------------------------------
# image, demographics, notes


def test_image_size_and_informativeness():
    ds = md.load("synthetic_ihm", n_samples=100, image_size=48)
    assert ds.modalities["cxr"].shape == (1, 48, 48)
    assert ds["train"].inputs["cxr"].shape[1:] == (1, 48, 48)
    base = md.load("synthetic_ihm", n_samples=400, informative_cxr=0.0, noise=0.0)
    img = base["train"].only_modalities(["cxr"]).inputs["cxr"]
    # noise 0 and no signal: apart from the seeded lesion draws all images are alike
    full = md.load("synthetic_ihm", n_samples=400, noise=0.0)
    assert float(img.std(0).mean()) < float(
        full["train"].only_modalities(["cxr"]).inputs["cxr"].std(0).mean())


def test_image_findings_follow_image_factors():
    n = 600
    z = np.zeros((n, synthetic.N_FACTORS))
    z[n // 2 :, synthetic.C0] = 2.0  # more, larger, denser opacities
    img = make_cxr(z, 1.0, 0.0, np.random.default_rng(0), 32)[:, 0]
    lungs = img[: n // 2].mean(0) < 0.3
    assert img[n // 2 :, lungs].mean() > img[: n // 2, lungs].mean() + 0.03


def test_demo_modality(full):
    spec = full.modalities["demo"]
    assert spec.kind == "tabular" and spec.shape == (len(synthetic.DEMO_FEATURES),) == (12,)
    assert full.card["features"]["demo"] == synthetic.DEMO_FEATURES
    tr = full["train"]
    x = tr.inputs["demo"][tr.present["demo"]]
    assert x.dtype == torch.float32
    cont = synthetic.DEMO_CONTINUOUS
    assert x[:, cont].mean(0).abs().max() < 1e-3
    binary = [c for c in range(12) if c not in cont]
    assert set(x[:, binary].unique().tolist()) <= {0.0, 1.0}
    assert (x[:, 5:8].sum(1) == 1).all() and (x[:, 8:12].sum(1) == 1).all()  # one-hots
    assert (tr.inputs["demo"][~tr.present["demo"]] == 0).all()
    stats = full.card["preprocessing"]["demo_standardization"]
    age = x[:, 0] * stats["std"][0] + stats["mean"][0]
    assert 18 <= float(age.min()) and float(age.max()) <= 91


def test_notes_modality(full):
    spec = full.modalities["notes"]
    vocab = full.card["vocab"]
    assert spec.kind == "tokens" and spec.shape == (64,) and spec.variable_length
    assert spec.vocab_size == len(vocab) == len(synthetic.NOTE_VOCAB) and vocab[0] == "<pad>"
    assert len(set(vocab)) == len(vocab)
    for s in SPLITS:
        sp = full[s]
        tok, lens, pres = sp.inputs["notes"], sp.lengths["notes"], sp.present["notes"]
        assert tok.dtype == torch.long and lens.dtype == torch.long
        assert int(tok.min()) >= 0 and int(tok.max()) < spec.vocab_size
        assert torch.equal(lens, (tok != 0).sum(1))
        assert (lens[~pres] == 0).all() and (lens[pres] >= 10).all()
        # tokens first, then padding
        pos = torch.arange(64)[None]
        assert torch.equal(tok != 0, pos < lens[:, None])
    tr = full["train"]
    notes = [synthetic.decode_note(t) for t in tr.inputs["notes"][tr.present["notes"]]]
    assert all(t.count(".") >= 4 and "<pad>" not in t for t in notes)
    assert not any("no significant pmh . also" in t for t in notes)  # template grammar holds
    assert any("dnr" in t for t in notes) and any("full code" in t for t in notes)


def test_notes_only_options_are_rejected_without_notes():
    with pytest.raises(ValueError, match="unpaired_demo"):
        md.load("synthetic_pheno", n_samples=100, unpaired_demo=0.1)
    ds = md.load("synthetic_pheno", n_samples=100, modalities="ts,notes")
    assert ds.modality_names == ["notes", "ts"] and "vocab" in ds.card


def _summary(x, m):
    x = x.numpy().astype(float)
    if m == "ts":
        return np.concatenate([x.mean(1), x[:, -6:].mean(1), x.std(1)], 1)
    if m == "cxr":
        im = x[:, 0]
        b = im.reshape(len(im), 8, 4, 8, 4)
        return np.concatenate([b.mean((2, 4)).reshape(len(im), -1),
                               b.max((2, 4)).reshape(len(im), -1)], 1)
    if m == "demo":
        return x
    bow = np.zeros((len(x), len(synthetic.NOTE_VOCAB)))
    np.add.at(bow, (np.repeat(np.arange(len(x)), x.shape[1]), x.astype(int).ravel()), 1)
    return bow


def _r2(a, b, za, zb):
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    a1, b1 = np.c_[a, np.ones(len(a))], np.c_[b, np.ones(len(b))]
    w = np.linalg.solve(a1.T @ a1 + 30 * np.eye(a1.shape[1]), a1.T @ za)
    return 1 - ((b1 @ w - zb) ** 2).mean(0) / zb.var(0)


def test_each_modality_carries_its_own_signal():
    """A linear read-out of each modality recovers its own latent factors and the shared ones,
    but not the factors specific to the other modalities."""
    n = 2500
    ds = md.load("synthetic_ihm", n_samples=n, modalities=ALL, unpaired_ts=0, unpaired_cxr=0,
                 val_fraction=0.0, test_fraction=0.3)
    z = draw_factors(0, n)
    tr, te = ds["train"], ds["test"]
    za, zb = z[tr.ids.numpy()], z[te.ids.numpy()]
    for m in ALL:
        r2 = _r2(_summary(tr.inputs[m], m), _summary(te.inputs[m], m), za, zb)
        own = list(synthetic.FACTOR_GROUPS[m])
        others = [f for g, fs in synthetic.FACTOR_GROUPS.items() if g not in ("shared", m)
                  for f in fs]
        assert r2[own].max() > 0.2 and r2[own].min() > 0.05, (m, r2.round(2))
        assert r2[list(synthetic.FACTOR_GROUPS["shared"])].max() > 0.15, (m, r2.round(2))
        assert r2[others].max() < 0.05, (m, r2.round(2))


# --------------------------------------------------------------------------------------------
# speed and options


def test_generation_is_fast():
    import time

    start = time.perf_counter()
    md.load("synthetic_pheno", n_samples=3000, modalities=ALL)
    assert time.perf_counter() - start < 10.0  # ~1 s on an idle machine; slack for busy CI


def test_unknown_option_raises_type_error_naming_options():
    with pytest.raises(TypeError) as err:
        md.load("synthetic_ihm", n_sample=10)
    for name in ("n_samples", "modalities", "unpaired_ts", "unpaired_cxr", "unpaired_demo",
                 "unpaired_notes", "informative_ts", "informative_notes",
                 "informative_missingness", "image_size", "noise", "seed"):
        assert name in str(err.value)
        assert name in synthetic.build_ihm.__doc__ and name in synthetic.build_pheno.__doc__
    with pytest.raises(TypeError, match="n_samples"):
        md.load("synthetic_pheno", prevalence=0.1)  # prevalence is a mortality-only option


# --------------------------------------------------------------------------------------------
# the card's reference figures are reproducible


def test_measured_figures_name_a_function_that_exists(ihm):
    card = ihm.card["measured"]
    assert "measure_separability" in card["how"] and "/tmp" not in json.dumps(card)
    assert set(card["auroc"]) == set(synthetic.MEASURED["synthetic_ihm"])
    for row in card["auroc"].values():
        assert set(row) == {"ts", "cxr", "demo", "notes", "late", "concat"}
    assert "/tmp" not in synthetic.__doc__ and "script" not in synthetic.__doc__


def test_measure_separability_and_ceiling_run():
    got = synthetic.measure_separability("synthetic_ihm", n_samples=400, seeds=(0,), cs=(1.0,))
    assert set(got) == {"ts", "cxr", "demo", "notes", "late", "concat"}
    assert all(0.0 <= v <= 1.0 for v in got.values())
    ceiling = synthetic.measure_ceiling("synthetic_ihm", n_samples=400, seeds=(0,))
    assert set(ceiling) == {"ts", "cxr", "demo", "notes", "all"}
    assert ceiling["all"] > max(ceiling[m] for m in ALL) - 0.05
    with pytest.raises(ValueError, match="synthetic_ihm"):
        synthetic.measure_separability("avdigits")
