"""The notebook explorers of mindkit.viz.widgets: numbers against hand computations, redraws,
errors, and display through IPython (patched: no notebook frontend in tests)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mindkit.explain.results import InputAttribution, ModalityAttribution
from mindkit.viz.widgets import AttributionViewer, KDExplorer

CLASSES = ["cat", "dog", "owl"]


# ---- hand computations (float64 numpy, independent of the package) ----------------------------


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _ensemble(members, weights, T, multiclass=True):
    """members [M, C] logits of one sample -> weighted mean of tempered probabilities."""
    probs = _softmax(members / T) if multiclass else _sigmoid(members / T)
    w = np.asarray(weights, dtype=np.float64)
    return (w[:, None] * probs).sum(0) / w.sum()


def _hand_multiclass(p, s, y, T, alpha):
    q = _softmax(s / T)
    kd = T * T * float(np.sum(p * (np.log(p) - np.log(q))))
    ce = -float(np.log(_softmax(s)[y]))
    return q, kd, ce, (1 - alpha) * ce + alpha * kd


def _hand_bernoulli(p, s, y, T, alpha):
    q = _sigmoid(s / T)
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    kd = T * T * float(kl.mean())
    r = _sigmoid(s)
    bce = -float(np.mean(y * np.log(r) + (1 - y) * np.log(1 - r)))
    return q, kd, bce, (1 - alpha) * bce + alpha * kd


# ---- hand-built caches --------------------------------------------------------------------------


def _caches(task="multiclass", n=5, c=3, seed=0):
    """Two modalities (image: 2 members, audio: 3), audio missing in row 2; heads image,
    audio, mm (mm and audio serve the rows with audio)."""
    g = torch.Generator().manual_seed(seed)
    member = {"image": torch.randn(2, n, c, generator=g) * 2,
              "audio": torch.randn(3, n, c, generator=g) * 2}
    member["audio"][:, 2] = float("nan")
    weights = {"image": torch.tensor([1.0, 3.0]), "audio": torch.tensor([1.0, 1.0, 2.0])}
    student = {h: torch.randn(n, c, generator=g) for h in ("image", "audio", "mm")}
    has_audio = torch.tensor([True, True, False, True, True])
    mask = {"image": torch.ones(n, dtype=torch.bool), "audio": has_audio, "mm": has_audio.clone()}
    if task == "multiclass":
        y = torch.tensor([0, 1, 2, 1, 0])
    else:
        y = (torch.rand(n, c, generator=g) > 0.5).float()
    return member, weights, student, mask, y


def _explorer(task="multiclass", **kw):
    member, weights, student, mask, y = _caches(task)
    names = CLASSES if task == "multiclass" else ["fever", "cough", "rash"]
    return KDExplorer(member, weights, student, mask, y, task, names, **kw), (
        member, weights, student, mask, y)


def _expected_teacher(member, weights, head, i, T, multiclass=True):
    soft = {m: _ensemble(member[m][:, i].double().numpy(), weights[m].numpy(), T, multiclass)
            for m in member}
    return (soft["image"] + soft["audio"]) / 2 if head == "mm" else soft[head]


@pytest.mark.parametrize("head,sample", [("image", 2), ("audio", 0), ("mm", 3)])
@pytest.mark.parametrize("T,alpha", [(1.0, 0.3), (4.0, 0.7)])
def test_kd_explorer_multiclass_matches_hand(head, sample, T, alpha):
    ex, (member, weights, student, mask, y) = _explorer(sample=sample, head=head, T=T,
                                                         alpha=alpha)
    got = ex.last
    p = _expected_teacher(member, weights, head, sample, T)
    q, kd, ce, loss = _hand_multiclass(p, student[head][sample].double().numpy(),
                                       int(y[sample]), T, alpha)
    assert (got["sample"], got["head"], got["T"], got["alpha"]) == (sample, head, T, alpha)
    np.testing.assert_allclose(got["teacher_probs"], p, atol=1e-6)
    np.testing.assert_allclose(got["student_probs"], q, atol=1e-6)
    # the plotted KD-vs-T curve passes through the returned KD at the current T
    curve = ex.kd_curve(sample, head, [0.5, T, 10.0])
    assert curve[1] / T**2 == pytest.approx(got["kd"] / T**2, abs=1e-6)
    # float32 as in training; KD carries T^2 times the KL's rounding
    assert got["kd"] / T**2 == pytest.approx(kd / T**2, abs=1e-6)
    assert got["task"] == pytest.approx(ce, abs=1e-6)
    assert got["loss"] == pytest.approx(loss, abs=1e-6 * max(1.0, alpha * T**2))
    assert math.isclose(sum(got["teacher_probs"]), 1.0, abs_tol=1e-6)


@pytest.mark.parametrize("task", ["multilabel", "binary"])
def test_kd_explorer_bernoulli_matches_hand(task):
    ex, (member, weights, student, mask, y) = _explorer(task)
    if task == "binary":  # one label: rebuild with C = 1
        member, weights, student, mask, y = _caches(task, c=1, seed=3)
        ex = KDExplorer(member, weights, student, mask, y, task, ["positive"])
    for head, sample, T, alpha in [("mm", 0, 2.0, 0.5), ("image", 2, 3.5, 0.25),
                                   ("audio", 4, 0.7, 1.0)]:
        got = ex.update(sample=sample, head=head, T=T, alpha=alpha)
        p = _expected_teacher(member, weights, head, sample, T, multiclass=False)
        q, kd, bce, loss = _hand_bernoulli(p, student[head][sample].double().numpy(),
                                           y[sample].double().numpy(), T, alpha)
        np.testing.assert_allclose(got["teacher_probs"], p, atol=1e-6)
        np.testing.assert_allclose(got["student_probs"], q, atol=1e-6)
        assert got["kd"] / T**2 == pytest.approx(kd / T**2, abs=1e-6)
        assert got["task"] == pytest.approx(bce, abs=1e-6)
        assert got["loss"] == pytest.approx(loss, abs=1e-6 * max(1.0, alpha * T**2))


def test_kd_explorer_T_changes_numbers_and_figure():
    ex, _ = _explorer(sample=0, head="mm")
    a, png_a = ex.update(T=1.0), ex.png()
    b, png_b = ex.update(T=5.0), ex.png()
    assert png_a[:8] == b"\x89PNG\r\n\x1a\n"
    assert a["kd"] != pytest.approx(b["kd"], abs=1e-4)
    assert a["teacher_probs"] != pytest.approx(b["teacher_probs"], abs=1e-4)
    assert a["task"] == pytest.approx(b["task"])  # the task term does not depend on T
    assert png_a != png_b
    # redrawn in place: one figure whose axes were rebuilt, not new figures
    assert len(ex.fig.axes) == 3
    ex.update(T=1.0)
    assert ex.png() == png_a  # the same state draws the same figure


def test_kd_explorer_alpha_ends():
    ex, _ = _explorer()
    zero = ex.update(alpha=0.0)
    assert zero["loss"] == pytest.approx(zero["task"], abs=1e-7)
    one = ex.update(alpha=1.0)
    assert one["loss"] == pytest.approx(one["kd"], abs=1e-7)


def test_kd_explorer_head_follows_sample():
    ex, _ = _explorer(sample=0)
    assert ex.state["head"] == "mm"  # the default when the multimodal head serves
    assert [v for _, v in ex._w_head.options] == ["audio", "image", "mm"]
    out = ex.update(sample=2)  # no audio: mm and audio did not serve it
    assert out["head"] == "image"
    assert [v for _, v in ex._w_head.options] == ["image"]
    assert ex.heads_serving(2) == ["image"]
    # the slider moves to a sample the current head serves: it is kept
    ex._w_sample.value = 4
    assert ex.state == {"sample": 4, "head": "image", "T": 2.0, "alpha": 0.5}


def test_kd_explorer_errors():
    member, weights, student, mask, y = _caches()
    ex = KDExplorer(member, weights, student, mask, y, "multiclass", CLASSES)
    with pytest.raises(ValueError, match=r"unknown head 'text'.*\['audio', 'image', 'mm'\]"):
        ex.update(head="text")
    with pytest.raises(ValueError, match=r"head 'mm' .* sample 2 .*did not serve.*: image$"):
        ex.update(sample=2, head="mm")
    assert ex.state["sample"] == 0  # a failed update leaves the state as it was
    with pytest.raises(ValueError, match="T must be a positive"):
        ex.update(T=0.0)
    with pytest.raises(ValueError, match="alpha must lie in"):
        ex.update(alpha=1.5)
    with pytest.raises(ValueError, match=r"sample must be a row index in \[0, 5\)"):
        ex.update(sample=5)
    with pytest.raises(ValueError, match="T must be a positive"):
        KDExplorer(member, weights, student, mask, y, "multiclass", CLASSES, T=-1.0)
    with pytest.raises(ValueError, match="did not serve"):
        KDExplorer(member, weights, student, mask, y, "multiclass", CLASSES, sample=2,
                   head="audio")
    with pytest.raises(ValueError, match=r"member_logits\['image'\] must be"):
        KDExplorer({**member, "image": member["image"][:, :4]}, weights, student, mask, y,
                   "multiclass", CLASSES)
    with pytest.raises(ValueError, match=r"student_logits\['mm'\] must be \[N=5, C=3\]"):
        KDExplorer(member, weights, {**student, "mm": student["mm"][:, :2]}, mask, y,
                   "multiclass", CLASSES)
    with pytest.raises(ValueError, match=r"member_weights\['audio'\] must be \[3\]"):
        KDExplorer(member, {**weights, "audio": torch.ones(2)}, student, mask, y,
                   "multiclass", CLASSES)
    with pytest.raises(ValueError, match="no teacher ensemble"):
        KDExplorer(member, weights, {**student, "text": student["mm"]},
                   {**mask, "text": mask["mm"]}, y, "multiclass", CLASSES)
    with pytest.raises(ValueError, match="multilabel targets must be"):
        KDExplorer(member, weights, student, mask, y, "multilabel", CLASSES)
    with pytest.raises(ValueError, match="unknown task"):
        KDExplorer(member, weights, student, mask, y, "regression", CLASSES)


@pytest.fixture
def tiny_models(toy_dataset):
    from mindkit.models.student import MultiHeadStudent
    from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet

    torch.manual_seed(0)
    ds = toy_dataset
    student = MultiHeadStudent(ds.modalities, ds.num_outputs, size="xs")
    ens = {m: TeacherEnsemble([UnimodalNet(ds.modalities[m], ds.num_outputs, size="xs")
                               for _ in range(2)], weights=[1.0, 2.0])
           for m in ds.modalities}
    return student, ens


def test_kd_explorer_from_models_matches_mind_loss(toy_dataset, tiny_models):
    from mindkit.distill.cache import TeacherCache
    from mindkit.distill.mind import MindLoss
    from mindkit.models.predict import predict_student
    from mindkit.models.student import StudentOutput

    student, ens = tiny_models
    train = toy_dataset["train"]
    T, alpha = 3.0, 0.4
    ex = KDExplorer.from_models(student, ens, train, "multiclass", toy_dataset.class_names,
                                T=T, alpha=alpha)
    both = (train.present["image"] & train.present["audio"]).nonzero().flatten().tolist()
    only_image = (~train.present["audio"]).nonzero().flatten()
    assert ex.ids.tolist() == train.ids.tolist()
    # what training computes: MindLoss over a batch of this one row, targets from the cache
    soft = TeacherCache.build(ens, train, "multiclass").soft_targets(T)
    out = predict_student(student, train)
    loss = MindLoss("multiclass", alpha=alpha, T=T)
    for i in both[:3]:
        r = [i]
        terms = loss(StudentOutput({h: v[r] for h, v in out.logits.items()},
                                   {h: v[r] for h, v in out.mask.items()}),
                     train.y[r], {h: v[r] for h, v in soft.items()})
        for head in ("mm", "audio", "image"):
            got = ex.update(sample=i, head=head)
            assert got["kd"] == pytest.approx(terms[f"kd/{head}"].item(), abs=1e-6)
            assert got["task"] == pytest.approx(terms[f"task/{head}"].item(), abs=1e-6)
            np.testing.assert_allclose(got["teacher_probs"], soft[head][i].numpy(), atol=1e-6)
    # a sample without audio: only the image head, and mm is refused with the serving heads
    j = int(only_image[0])
    assert ex.update(sample=j)["head"] == "image"
    with pytest.raises(ValueError, match="heads that served it: image"):
        ex.update(head="mm")


# ---- attribution viewer -----------------------------------------------------------------------


def _attributions(split, rows, seed=0, method="FeaturePermutation"):
    g = torch.Generator().manual_seed(seed)
    names = ["audio", "image"]
    rows = torch.tensor(rows)
    n = len(rows)
    present = torch.stack([split.present[m][rows] for m in names], 1)
    values = torch.randn(n, 2, generator=g) * present
    full = torch.rand(n, generator=g)
    return ModalityAttribution(
        values=values, names=names, rows=rows, ids=split.ids[rows], y=split.y[rows],
        target=split.y[rows], full=full, none=full - values.sum(1), present=present,
        served=["mm" if bool(p.all()) else "image" for p in present],
        pred=torch.randint(0, 3, (n,), generator=g), baseline="absent", method=method,
        output="prob", task="multiclass")


def _ig(split, m, rows, seed=0, head="mm"):
    g = torch.Generator().manual_seed(seed)
    rows = torch.tensor(rows)
    x = split.inputs[m][rows]
    lens = split.lengths[m][rows] if m in split.lengths else None
    return InputAttribution(
        modality=m, kind="image" if m == "image" else "sequence",
        attributions=torch.randn(x.shape, generator=g), inputs=x, lengths=lens,
        delta=torch.zeros(len(rows)), rows=rows, ids=split.ids[rows], y=split.y[rows],
        target=split.y[rows], pred=split.y[rows], head=head, output="prob", n_steps=8)


@pytest.fixture
def viewer_parts(toy_dataset):
    test = toy_dataset["test"]
    has = test.present["audio"]
    full = has.nonzero().flatten()[:3].tolist()
    lacking = (~has).nonzero().flatten()[:2].tolist()
    rows = [full[0], lacking[0], full[1], lacking[1], full[2]]
    modality = {"mind": _attributions(test, rows, 0),
                "no_kd": _attributions(test, rows[:4], 1)}  # no_kd did not explain rows[4]
    inputs = {"mind": {"image": _ig(test, "image", rows, 2),
                       "audio": _ig(test, "audio", [r for r in rows if bool(has[r])], 3)},
              "no_kd": {"image": _ig(test, "image", rows[:2], 4)}}
    kinds = {m: s.kind for m, s in toy_dataset.modalities.items()}
    return test, modality, inputs, kinds, rows


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_attribution_viewer_values_and_redraw(viewer_parts):
    test, modality, inputs, kinds, rows = viewer_parts
    v = AttributionViewer(test, modality, inputs, CLASSES, kinds)
    first, png0 = v.last, v.png()
    assert first["row"] == rows[0] and first["id"] == int(test.ids[rows[0]])
    assert first["y"] == int(test.y[rows[0]])
    mind = modality["mind"]
    assert first["values"]["mind"] == pytest.approx(
        {"audio": mind.values[0, 0].item(), "image": mind.values[0, 1].item()})
    assert first["values"]["no_kd"]["image"] == pytest.approx(modality["no_kd"].values[0, 1])
    assert first["served"] == {"mind": "mm", "no_kd": "mm"}
    assert first["pred"] == {"mind": int(mind.pred[0]), "no_kd": int(modality["no_kd"].pred[0])}
    third = v.update(sample=2)
    assert third["row"] == rows[2]
    assert third["values"]["mind"]["image"] == pytest.approx(mind.values[2, 1].item())
    png_mind = v.png()
    assert png_mind != png0
    # the IG method switches the overlays (and so the figure), not the Shapley numbers
    again = v.update(method="no_kd")
    assert again["values"] == third["values"]
    assert v.png() != png_mind
    # image present but no_kd has no IG map of row 2's image: "not explained"
    assert "not explained" in _texts(v.fig)
    # a row the second method did not explain: only the first method's numbers
    last = v.update(sample=4, method="mind")
    assert set(last["values"]) == {"mind"} and set(last["served"]) == {"mind"}
    assert "not explained by no_kd" in v.fig.axes[-1].get_title()


def test_attribution_viewer_absent_modality(viewer_parts):
    test, modality, inputs, kinds, rows = viewer_parts
    v = AttributionViewer(test, modality, inputs, CLASSES, kinds, sample=1)
    out = v.last
    assert not bool(test.present["audio"][out["row"]])
    assert out["values"]["mind"]["audio"] == 0.0
    assert out["served"]["mind"] == "image"
    assert _texts(v.fig).count("absent") == 2  # raw and IG panels of the audio modality
    shap = v.fig.axes[-1]
    assert "audio\n(absent)" in [t.get_text() for t in shap.get_xticklabels()]
    assert "mind: head image" in shap.get_title()


def test_attribution_viewer_errors(viewer_parts):
    test, modality, inputs, kinds, rows = viewer_parts
    v = AttributionViewer(test, modality, inputs, CLASSES, kinds)
    with pytest.raises(ValueError, match=r"index the 5 explained samples"):
        v.update(sample=5)
    with pytest.raises(ValueError, match=r"method 'kd'.*\['mind', 'no_kd'\]"):
        v.update(method="kd")
    with pytest.raises(ValueError, match="no kind for modality 'audio'"):
        AttributionViewer(test, modality, inputs, CLASSES, {"image": "image"})
    # no IG maps at all: still draws, the overlay panels say so
    bare = AttributionViewer(test, modality, None, CLASSES, kinds)
    assert "no IG maps given" in _texts(bare.fig)
    assert bare._w_method.disabled


# ---- display --------------------------------------------------------------------------------


@pytest.fixture
def shown(monkeypatch):
    """IPython's display, patched: records each object and the bundle IPython would send."""
    import IPython.display

    log = SimpleNamespace(objs=[], bundles=[])

    def fake_display(*objs, **kw):
        for obj in objs:
            log.objs.append(obj)
            log.bundles.append(obj._repr_mimebundle_())

    monkeypatch.setattr(IPython.display, "display", fake_display)
    return log


def _image_changes(widget):
    """Each new PNG the view's image is given (what the frontend receives)."""
    changes = []
    widget.view.children[1].observe(lambda c: changes.append(c["new"]), names="value")
    return changes


def test_kd_explorer_show_and_slider(shown):
    import base64

    import ipywidgets as W

    ex, _ = _explorer()
    ex.show()
    assert shown.objs == [ex]
    bundle = shown.bundles[0]
    controls, image = ex.view.children
    assert controls is ex.controls and isinstance(image, W.Image) and image.format == "png"
    # one widget (controls above the figure), plus the figure for frontends without widgets
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.view.model_id
    first = base64.b64decode(bundle["image/png"])
    assert first[:4] == b"\x89PNG" and first == image.value == ex.png()
    changes = _image_changes(ex)
    calls = []
    real = ex.update
    ex.update = lambda **kw: calls.append(kw) or real(**kw)
    ex._w_T.value = 6.0
    assert calls and calls[-1]["T"] == 6.0 and ex.state["T"] == 6.0
    assert len(changes) == 1 and changes[0] == image.value == ex.png() != first
    ex._w_sample.value = 2  # mm does not serve it: the dropdown switches to image
    assert ex._w_head.value == "image" and ex.last["head"] == "image"
    assert len(changes) == 2
    # the image widget's state (what JupyterLab saves with the notebook) is the last picture
    assert image.get_state()["value"] == ex.png()


def test_attribution_viewer_show_and_slider(shown, viewer_parts):
    import base64

    test, modality, inputs, kinds, rows = viewer_parts
    v = AttributionViewer(test, modality, inputs, CLASSES, kinds)
    v.show()
    first = base64.b64decode(shown.bundles[0]["image/png"])
    assert shown.objs == [v] and v.view.children[0] is v.controls and first[:4] == b"\x89PNG"
    changes = _image_changes(v)
    v._w_sample.value = 3
    assert v.last["row"] == rows[3]
    assert changes[-1] == v.png() != first
    v._w_method.value = "no_kd"
    assert v.state == {"sample": 3, "method": "no_kd"}
    assert len(changes) == 2


def test_widget_cell_shows_the_widget_not_a_path(tmp_path, shown):
    """A notebook cell ``ex.show(); ex.save(path)`` (notebook 05) ends with no value, so its
    output is the explorer alone (it used to end with ``Out: PosixPath(...)``); the explorer at
    the end of a cell displays the same bundle as ``show()``."""
    ex, _ = _explorer()
    assert ex.show() is None
    path = tmp_path / "fig" / "kd.png"
    assert ex.save(path) is None
    assert path.read_bytes()[:4] == b"\x89PNG"
    bundle = ex._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "application/vnd.jupyter.widget-view+json", "image/png"}
    assert bundle == shown.bundles[0]


def test_show_outside_ipython_and_save(tmp_path, capsys):
    ex, _ = _explorer()
    ex.show()  # no IPython shell: display prints the object's text
    assert "KDExplorer" in capsys.readouterr().out
    ex.update(T=3.0)  # redraws; the view's image follows
    assert ex.view.children[1].value == ex.png()
    ex.save(tmp_path / "fig" / "kd.png")
    assert (tmp_path / "fig" / "kd.png").read_bytes()[:4] == b"\x89PNG"


def test_updates_before_display_render_no_png(monkeypatch):
    """Until the explorer is displayed, an update only redraws the figure (no PNG per move)."""
    ex, _ = _explorer()
    renders = []
    real = ex.png
    monkeypatch.setattr(ex, "png", lambda *a, **k: renders.append(1) or real(*a, **k))
    ex.update(T=3.0)
    ex.update(alpha=0.2)
    assert renders == []


def test_attribution_viewer_slider_spans_the_samples_with_ig_maps(toy_dataset):
    """Shapley values of 12 samples but IG maps of 4 (as in notebook 05: all test samples and
    n_ig of them): the slider offers the 4 (max = 4 - 1), each with its map, in row order."""
    test = toy_dataset["test"]
    rows = list(range(12))
    has = test.present["audio"]
    modality = {"mind": _attributions(test, rows, 0)}
    mapped = [1, 4, 7, 10]
    inputs = {"mind": {"image": _ig(test, "image", mapped, 2),
                       "audio": _ig(test, "audio", [r for r in mapped if bool(has[r])], 3)}}
    kinds = {m: s.kind for m, s in toy_dataset.modalities.items()}
    v = AttributionViewer(test, modality, inputs, CLASSES, kinds)
    assert v.rows.tolist() == mapped
    assert v._w_sample.min == 0 and v._w_sample.max == len(mapped) - 1
    for k, row in enumerate(mapped):
        assert v.update(sample=k)["row"] == row
        assert "not explained" not in _texts(v.fig)  # the image map is there
    with pytest.raises(ValueError, match="index the 4 explained samples"):
        v.update(sample=4)
    every = AttributionViewer(test, modality, inputs, CLASSES, kinds, all_samples=True)
    assert every._w_sample.max == len(rows) - 1
    every.update(sample=0)  # row 0 has no map
    assert "not explained" in _texts(every.fig)
    bare = AttributionViewer(test, modality, None, CLASSES, kinds)  # no maps: every sample
    assert bare._w_sample.max == len(rows) - 1


def test_attribution_viewer_layout_and_labels(viewer_parts):
    """The modality panels start right under the figure's title (no blank band: only the
    Shapley panel, whose title has a line per method, starts lower), and a model whose head
    is its own name (the teachers) is named once."""
    test, modality, inputs, kinds, rows = viewer_parts
    teachers = {"image": _ig(test, "image", rows, 5, head="teachers")}
    v = AttributionViewer(test, modality, {**inputs, "teachers": teachers}, CLASSES, kinds)
    v.update(method="teachers")
    *panels, shap = v.fig.axes
    tops = [ax.get_position().y1 for ax in panels]
    assert max(tops) > 0.85 and shap.get_position().y1 < max(tops)
    titles = [ax.get_title() for ax in v.fig.axes]
    assert any(t.startswith("IG (teachers), target") for t in titles)
    assert not any("head teachers" in t for t in titles)


def test_ig_examples_name_the_teachers_once(viewer_parts):
    from mindkit.viz.explain import plot_ig_examples

    test, modality, inputs, kinds, rows = viewer_parts
    fig = plot_ig_examples({"mind": _ig(test, "image", rows, 2),
                            "teachers": _ig(test, "image", rows, 5, head="teachers")},
                           CLASSES, n=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("teachers\npred") for t in titles)
    assert any(t.startswith("mind [mm]\npred") for t in titles)
    assert not any("teachers [teachers]" in t for t in titles)


def test_attribution_viewer_tokens_and_tabular():
    from mindkit.data.base import Split

    n = 4
    tokens = torch.tensor([[5, 9, 2, 0, 0], [7, 7, 1, 3, 4], [2, 0, 0, 0, 0], [1, 2, 3, 0, 0]])
    split = Split(inputs={"notes": tokens, "labs": torch.randn(n, 6)},
                  present={"notes": torch.tensor([True, True, False, True]),
                           "labs": torch.ones(n, dtype=torch.bool)},
                  y=torch.tensor([0, 2, 1, 0]), ids=torch.arange(n) + 100,
                  lengths={"notes": torch.tensor([3, 5, 1, 3])}, name="test")
    rows = torch.arange(n)
    present = torch.stack([split.present["labs"], split.present["notes"]], 1)
    values = torch.tensor([[0.1, 0.2], [0.3, -0.1], [0.4, 0.0], [0.0, 0.5]])
    ma = ModalityAttribution(
        values=values, names=["labs", "notes"], rows=rows, ids=split.ids, y=split.y,
        target=split.y, full=values.sum(1), none=torch.zeros(n), present=present,
        served=["mm", "mm", "labs", "mm"], pred=torch.tensor([0, 2, 1, 1]), baseline="absent",
        method="ShapleyValues", output="logit", task="multiclass")

    def ia(m, kind, r, attr):
        r = torch.tensor(r)
        return InputAttribution(
            modality=m, kind=kind, attributions=attr, inputs=split.inputs[m][r],
            lengths=split.lengths[m][r] if m in split.lengths else None,
            delta=torch.zeros(len(r)), rows=r, ids=split.ids[r], y=split.y[r],
            target=split.y[r], pred=split.y[r], head="mm", output="logit", n_steps=4)

    inputs = {"mind": {"labs": ia("labs", "tabular", [0, 1, 2, 3], torch.randn(n, 6)),
                       "notes": ia("notes", "tokens", [0, 1, 3], torch.randn(3, 5))}}
    v = AttributionViewer(split, {"mind": ma}, inputs, CLASSES,
                          {"labs": "tabular", "notes": "tokens"}, sample=1)
    assert v.last["values"] == {"mind": {"labs": pytest.approx(0.3), "notes": pytest.approx(-0.1)}}
    assert "7 7 1 3 4" in _texts(v.fig)  # the token ids, up to the length
    assert "(logit)" not in v.fig.axes[-1].get_ylabel() and "logit" in v.fig.axes[-1].get_ylabel()
    out = v.update(sample=2)
    assert out["served"] == {"mind": "labs"} and "absent" in _texts(v.fig)
