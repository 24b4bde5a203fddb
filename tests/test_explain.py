"""Captum explanations: modality Shapley values against hand computations, exact zeros for absent
modalities, the zero-input baseline, integrated gradients' completeness on a trained model,
token modalities, and the dataset-level agreement measures."""

import numpy as np
import pandas as pd
import pytest
import torch

from mindkit.data import load
from mindkit.distill.methods import MethodContext, run_method
from mindkit.explain import (
    agreement_records,
    attribution_records,
    attribution_table,
    class_prior,
    drop_agreement,
    input_attributions,
    map_agreement,
    modality_attributions,
    removal_outcomes,
)
from mindkit.models import UnimodalNet
from mindkit.models.student import MultiHeadStudent, SingleHeadStudent
from mindkit.models.teachers import TeacherLateFusion
from mindkit.train import TrainConfig


@pytest.fixture(scope="module")
def trained(request):
    """A MIND student trained for a few epochs on the toy set (real training, small data)."""
    from conftest import make_split

    from mindkit.data.base import ModalitySpec, MultimodalDataset

    specs = {"image": ModalitySpec("image", "image", (1, 8, 8)),
             "audio": ModalitySpec("audio", "sequence", (6, 4), variable_length=True)}
    splits = {s: make_split(n, i, s) for i, (s, n) in
              enumerate([("train", 192), ("val", 48), ("test", 60)])}
    ds = MultimodalDataset("toy", "multiclass", ["a", "b", "c"], specs, splits, synthetic=True)
    torch.manual_seed(0)
    teachers = {m: [UnimodalNet(specs[m], 3, s) for s in ("xs", "s")] for m in specs}
    ctx = MethodContext(ds, teachers, {m: [0.5, 0.6] for m in specs},
                        TrainConfig(epochs=6, batch_size=32, lr=0.01))
    student, _ = run_method("mind", ctx)
    return ds, student, ctx.ensembles()


def _route_prob(model, split, present, target, task="multiclass"):
    b = split.batch(torch.arange(len(split)))
    out = model(b.inputs, present, b.lengths)
    return model.route(out, task)[0].gather(1, target[:, None]).squeeze(1)


def test_shapley_matches_hand_computation_and_efficiency(trained):
    ds, st, _ = trained
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, 3)
    a = modality_attributions(st, test, ds.task, prior=prior, baseline="absent", target="true")
    assert a.method == "ShapleyValues" and a.names == ["audio", "image"]
    # efficiency: sum = f(all the sample has) - prior, within 1e-5
    assert a.gap.abs().max() < 1e-5
    assert torch.allclose(a.none, prior[a.target], atol=1e-7)
    # hand computation on the paired rows: phi_img = mean of its two marginal contributions
    paired = test.present["audio"] & test.present["image"]
    sub = test.subset(paired)
    t = sub.y.long()
    with torch.no_grad():
        both = _route_prob(st, sub, sub.present, t)
        img_only = _route_prob(st, sub, {"image": sub.present["image"],
                                         "audio": torch.zeros_like(sub.present["audio"])}, t)
        aud_only = _route_prob(st, sub, {"audio": sub.present["audio"],
                                         "image": torch.zeros_like(sub.present["image"])}, t)
    phi_img = 0.5 * ((both - aud_only) + (img_only - prior[t]))
    phi_aud = 0.5 * ((both - img_only) + (aud_only - prior[t]))
    got = a.values[paired]
    assert torch.allclose(got[:, 1], phi_img, atol=1e-6)
    assert torch.allclose(got[:, 0], phi_aud, atol=1e-6)
    assert torch.allclose(a.full[paired], both, atol=1e-6)


@pytest.mark.parametrize("baseline", ["absent", "zero"])
def test_absent_modality_gets_exactly_zero(trained, baseline):
    ds, st, _ = trained
    test = ds["test"]
    a = modality_attributions(st, test, ds.task, prior=class_prior(ds["train"], ds.task, 3),
                              baseline=baseline)
    no_audio = ~test.present["audio"]
    assert no_audio.any()
    assert (a.values[no_audio, 0] == 0).all()
    assert (a.values[~no_audio, 0] != 0).any()
    # an image-only sample: its whole output gap is the image's (absent: the routed image head)
    if baseline == "absent":
        assert torch.allclose(a.values[no_audio, 1], (a.full - a.none)[no_audio], atol=1e-6)


def test_zero_baseline_is_input_ablation_not_absence(trained):
    ds, st, _ = trained
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, 3)
    loo = modality_attributions(st, test, ds.task, baseline="zero", method="ablation",
                                target="true")
    assert loo.method == "FeatureAblation"
    t = test.y.long()
    b = test.batch(torch.arange(len(test)))
    blank = dict(b.inputs, image=torch.zeros_like(b.inputs["image"]))
    with torch.no_grad():
        full = _route_prob(st, test, test.present, t)
        out = st(blank, test.present, b.lengths)
        no_img = st.route(out, ds.task)[0].gather(1, t[:, None]).squeeze(1)
    assert torch.allclose(loo.values[:, 1], full - no_img, atol=1e-6)
    zero_sh = modality_attributions(st, test, ds.task, baseline="zero", target="true")
    assert zero_sh.gap.abs().max() < 1e-5  # Shapley efficiency against the all-zero input
    absent = modality_attributions(st, test, ds.task, prior=prior, target="true")
    assert not torch.allclose(absent.values, zero_sh.values, atol=1e-3)


def test_other_models_and_errors(trained):
    ds, st, ens = trained
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, 3)
    torch.manual_seed(1)
    for model in (SingleHeadStudent(ds.modalities, 3, missing="learned"),
                  TeacherLateFusion(ens, ds.task)):
        a = modality_attributions(model, test, ds.task, prior=prior, max_samples=20)
        assert len(a) == 20 and a.gap.abs().max() < 1e-5
        assert (a.values[~a.present] == 0).all()
    with pytest.raises(ValueError, match="prior"):
        modality_attributions(st, test, ds.task)
    with pytest.raises(ValueError, match="baseline"):
        modality_attributions(st, test, ds.task, prior=prior, baseline="mean")
    with pytest.raises(ValueError, match="target"):
        modality_attributions(st, test, ds.task, prior=prior, target=7)
    with pytest.raises(TypeError, match="multimodal model"):
        modality_attributions(torch.nn.Linear(2, 2), test, ds.task, prior=prior)


def test_binary_and_multilabel_targets_with_three_modalities_and_tokens():
    ds = load("synthetic_pheno", n_samples=120, modalities=["ts", "cxr", "notes"])
    torch.manual_seed(0)
    st = MultiHeadStudent(ds.modalities, ds.num_outputs, size="xs")
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, ds.num_outputs)
    assert prior.shape == (ds.num_outputs,) and 0 < float(prior.mean()) < 1
    a = modality_attributions(st, test, ds.task, prior=prior, target=3)
    assert len(a.names) == 3 and (a.target == 3).all()
    assert a.gap.abs().max() < 1e-5
    a2 = modality_attributions(st, test, ds.task, prior=prior, target="pred")
    assert a2.gap.abs().max() < 1e-5
    with pytest.raises(ValueError, match="multilabel"):
        modality_attributions(st, test, ds.task, prior=prior, target="true")
    with pytest.raises(ValueError, match="token"):
        modality_attributions(st, test, ds.task, baseline="zero")
    ig = input_attributions(st, test, "notes", ds.task, target=3, n_steps=20, max_samples=8)
    assert ig.attributions.shape == (8, ds.modalities["notes"].shape[0])
    assert ig.kind == "tokens" and torch.isfinite(ig.delta).all()
    # padding tokens have zero embeddings in input and baseline: exactly zero attribution
    pad = ig.inputs == 0
    assert (ig.attributions[pad] == 0).all()


def test_integrated_gradients_converge_on_a_trained_model(trained):
    ds, st, ens = trained
    test = ds["test"]
    img = input_attributions(st, test, "image", ds.task, n_steps=50)
    assert img.attributions.shape == (len(test), 1, 8, 8) and img.head == "image"
    assert float(img.relative_delta().median()) < 0.02
    aud = input_attributions(st, test, "audio", ds.task, n_steps=50)
    assert len(aud) == int(test.present["audio"].sum()) and aud.head == "audio"
    assert float(aud.relative_delta().median()) < 0.02
    for i in range(len(aud)):  # padded steps: zero input and baseline, so exactly zero
        assert (aud.attributions[i, int(aud.lengths[i]):] == 0).all()
    # completeness by hand for one sample: sum of attributions ~ f(x) - f(0) of the head
    i = 0
    row = int(img.rows[i])
    with torch.no_grad():
        x = test.inputs["image"][row: row + 1]
        present = {"image": torch.ones(1, dtype=torch.bool),
                   "audio": torch.zeros(1, dtype=torch.bool)}
        other = {"audio": test.inputs["audio"][row: row + 1]}
        f = lambda v: torch.softmax(st({"image": v, **other}, present).logits["image"], -1)  # noqa: E731
        gap = f(x)[0, img.target[i]] - f(torch.zeros_like(x))[0, img.target[i]]
    assert abs(float(img.attributions[i].sum() - gap)) <= abs(float(img.delta[i])) + 1e-5
    mm = input_attributions(st, test, "image", ds.task, head="mm", n_steps=20)
    assert mm.head == "mm" and len(mm) == int((test.present["audio"]).sum())
    teach = input_attributions(ens["image"], test, "image", ds.task, rows=img.rows[:10],
                               n_steps=50)
    assert teach.head == "teachers" and float(teach.relative_delta().median()) < 0.02
    with pytest.raises(ValueError, match="lack"):
        input_attributions(st, test, "audio", ds.task,
                           rows=(~test.present["audio"]).nonzero().flatten()[:2])


def test_map_agreement_and_difference(trained):
    ds, st, ens = trained
    test = ds["test"]
    a = input_attributions(st, test, "image", ds.task, n_steps=10, max_samples=12)
    same = map_agreement(a, a)
    assert np.allclose(same["rho"], 1.0)
    neg = type(a)(**{**a.__dict__, "attributions": -a.attributions})
    assert np.allclose(map_agreement(a, neg)["rho"], -1.0)
    other = type(a)(**{**a.__dict__, "target": (a.target + 1) % 3})
    with pytest.raises(ValueError, match="different targets"):
        map_agreement(a, other)
    recs = agreement_records({("x", "image"): same, ("y", "image"): map_agreement(a, neg)},
                             pairs=[("x", "y")], n_boot=50, dataset="toy", seed=0)
    diff = [r for r in recs if r["statistic"] == "paired_difference"][0]
    assert diff["value"] == pytest.approx(2.0) and diff["n"] == 12


def test_drop_agreement_and_tables(trained):
    ds, st, _ = trained
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, 3)
    a = modality_attributions(st, test, ds.task, prior=prior, target="true")
    out = removal_outcomes(st, test, ds.task, a, prior)
    el = out[out.eligible]
    assert el["row"].nunique() == int((test.present["audio"] & test.present["image"]).sum())
    res = drop_agreement(out, n_boot=50)
    assert -1 <= res["value"] <= 1 and res["n_cells"] == 6
    # a constructed case: attribution proportional to the drop gives rho = 1
    fake = pd.DataFrame({"row": np.repeat(np.arange(6), 2), "modality": ["a", "b"] * 6,
                         "class": np.repeat([0, 0, 1, 1, 2, 2], 2),
                         "abs_value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] * 2,
                         "correct_full": True,
                         "correct_without": [True, True, True, False, False, False] * 2,
                         "eligible": True})
    fake["abs_value"] = np.where(fake["correct_without"], 0.1, 0.9) + fake["row"] * 0.01
    assert drop_agreement(fake, n_boot=20)["value"] > 0.8
    tab = attribution_table({"mind": a}, ds.class_names, n_boot=50)
    allrow = tab[(tab["class"] == "all") & (tab.modality == "image")].iloc[0]
    assert allrow["n"] == len(test) and allrow["ci_low"] <= allrow["mean_abs"] <= allrow["ci_high"]
    recs = attribution_records(tab, dataset="toy", seed=0, model="student", split="test")
    assert {r["group"] for r in recs} >= {"has_image", "has_audio", "has_image&class=a"}


def test_figures_draw_every_kind(trained):
    import matplotlib.pyplot as plt

    from mindkit.viz.explain import plot_ig_examples, plot_map_agreement, plot_modality_attributions

    ds, st, ens = trained
    test = ds["test"]
    prior = class_prior(ds["train"], ds.task, 3)
    a = modality_attributions(st, test, ds.task, prior=prior)
    fig = plot_modality_attributions([a.frame(method="mind"), a.frame(method="teachers")])
    assert len(fig.axes[0].patches) > 0
    for m in ("image", "audio"):
        ig = input_attributions(st, test, m, ds.task, n_steps=8, max_samples=4)
        t = input_attributions(ens[m], test, m, ds.task, n_steps=8, rows=ig.rows,
                               target=ig.target)
        fig = plot_ig_examples({"mind": ig, "teachers": t}, ds.class_names, n=2)
        assert len(fig.axes) >= 6
        agree = map_agreement(ig, t).assign(method="mind", modality=m)
        plot_map_agreement(agree)
    plt.close("all")
