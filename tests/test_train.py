"""The Trainer: repeatable on CPU, early stopping restores the best weights, run folders."""

import json

import pytest
import torch

from mindkit.distill import task_loss
from mindkit.models import UnimodalNet
from mindkit.run import RunDir
from mindkit.train import TrainConfig, Trainer


def _fit(ds, seed, score_fn=None, epochs=3, patience=5):
    torch.manual_seed(seed)
    model = UnimodalNet(ds.modalities["image"], 3, "xs")
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=seed, patience=patience)

    def loss_fn(m, b):
        return {"total": task_loss("multiclass", m.forward_batch(b), b.y)}

    hist = Trainer(cfg, progress=False).fit(model, ds["train"], loss_fn, score_fn)
    return model, hist


def test_same_seed_same_weights(toy_dataset):
    a, ha = _fit(toy_dataset, 3)
    b, hb = _fit(toy_dataset, 3)
    c, _ = _fit(toy_dataset, 4)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                      c.state_dict().values()))
    assert [r["train/total"] for r in ha.records] == [r["train/total"] for r in hb.records]


def test_early_stopping_restores_best_epoch(toy_dataset):
    scores = iter([0.5, 0.9, 0.6, 0.4, 0.3, 0.2, 0.1])
    snapshots = []

    def score_fn(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    model, hist = _fit(toy_dataset, 0, score_fn, epochs=7, patience=2)
    assert hist.stopped_early and hist.best_epoch == 1 and len(hist.records) == 4
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k]), k


def test_training_lowers_the_loss(toy_dataset):
    _, hist = _fit(toy_dataset, 0, epochs=6)
    losses = [r["train/total"] for r in hist.records]
    assert losses[-1] < losses[0]


def test_run_dir_keeps_other_notebooks_records(tmp_path):
    run = RunDir(tmp_path / "r")
    rec = {"dataset": "d", "method": "m", "model": "x", "head": "mm", "metric": "accuracy",
           "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "seed": 0, "split": "test"}
    run.write_metrics([rec], "01_teachers")
    run.write_metrics([{**rec, "value": 0.7}], "02_mind")
    run.write_metrics([{**rec, "value": 0.8}], "02_mind")  # rerun replaces its own records
    got = json.loads(run.metrics_path.read_text())
    assert sorted((r["notebook"], r["value"]) for r in got) == [("01_teachers", 0.5),
                                                                 ("02_mind", 0.8)]
    with pytest.raises(ValueError, match="ci_low"):
        run.write_metrics([{"dataset": "d"}], "03")
    with pytest.raises(FileNotFoundError, match="01_teachers"):
        run.require("teachers", "01_teachers")


def test_nan_score_is_an_error_not_a_silent_freeze(toy_dataset):
    with pytest.raises(ValueError, match="validation score is nan at epoch 0"):
        _fit(toy_dataset, 0, lambda m: float("nan"))


def test_still_improving_is_flagged(toy_dataset):
    from mindkit.train import ConvergenceWarning

    scores = iter([0.1, 0.2, 0.3])
    with pytest.warns(ConvergenceWarning, match="still improving"):
        _, hist = _fit(toy_dataset, 0, lambda m: next(scores), epochs=3)
    assert hist.still_improving and hist.best_epoch == 2
    scores = iter([0.3, 0.2, 0.1])
    _, hist = _fit(toy_dataset, 0, lambda m: next(scores), epochs=3)
    assert not hist.still_improving


# ---- what a notebook shows while training ---------------------------------------------------


def _fit_logged(ds, scores, callbacks=(), progress=False, epochs=3):
    """A tiny fit whose loss has three terms and whose validation scores are ``scores``."""
    torch.manual_seed(0)
    model = UnimodalNet(ds.modalities["image"], 3, "xs")
    cfg = TrainConfig(epochs=epochs, batch_size=32, seed=0, patience=5)

    def loss_fn(m, b):
        task = task_loss("multiclass", m.forward_batch(b), b.y)
        reg = 1e-3 * sum(p.pow(2).sum() for p in m.parameters())
        return {"total": task + reg, "task": task, "reg": reg}

    it = iter(scores)
    return Trainer(cfg, callbacks, progress=progress, desc="toy").fit(
        model, ds["train"], loss_fn, lambda m: next(it))


class _Events:
    """One log of what reaches the notebook, in order: displays, display updates, stdout."""

    def __init__(self):
        self.log = []

    def display(self, *objs, display_id=None, raw=False, **kw):
        self.log.append(("display", objs[0]))
        events = self

        class Handle:
            def update(self, obj):
                events.log.append(("update", obj))

        return Handle() if display_id else None

    def write(self, text):
        if text:
            self.log.append(("stdout", text))
        return len(text)

    def flush(self):
        pass


def test_live_plot_sits_above_the_progress_bar(toy_dataset, monkeypatch):
    """The curve's output is opened before the bar draws its first state, so the bar's text
    is one output below the curve (a figure displayed after the bar split it and left
    ``toy: 0%| | 0/3`` frozen above the curve); each epoch updates that output in place."""
    import sys

    import IPython.display

    from mindkit.viz import LivePlot

    ev = _Events()
    monkeypatch.setattr(IPython.display, "display", ev.display)
    monkeypatch.setattr(sys, "stdout", ev)
    live = LivePlot("toy", live=True)
    _fit_logged(toy_dataset, [0.3, 0.2, 0.1], [live], progress=True)
    kinds = [k for k, _ in ev.log]
    assert kinds[0] == "display" and kinds.count("display") == 1  # one output, opened first
    assert "toy" in ev.log[0][1]["text/plain"] and "stdout" in kinds[1:]
    first_bar = kinds.index("stdout")
    assert "0%" in ev.log[first_bar][1] and first_bar == 1  # the bar starts right below it
    assert kinds.count("update") == 3  # one figure per epoch, into the same output
    placeholder = ev.log[0][1]
    assert "after the first epoch" in placeholder["text/plain"]  # text, not an empty figure


def test_live_plot_first_epoch_is_a_readable_figure(toy_dataset, monkeypatch):
    """After one epoch the loss panel shows points (markers), not an empty axis spanning
    -0.04..0.04: the epoch axis has integer ticks and spans the planned epochs; the legend of
    the loss terms sits outside the loss panel, clear of the curves."""
    import IPython.display
    from matplotlib.figure import Figure

    from mindkit.viz import LivePlot

    ev = _Events()
    monkeypatch.setattr(IPython.display, "display", ev.display)
    _fit_logged(toy_dataset, [0.3, 0.2, 0.1], [LivePlot("toy", live=True)], epochs=3)
    figs = [obj for kind, obj in ev.log if kind == "update"]
    assert len(figs) == 3 and all(isinstance(f, Figure) for f in figs)
    first = figs[0]
    loss, val = first.axes[:2]
    for ax in (loss, val):
        lo, hi = ax.get_xlim()
        assert lo < 0 < 2 < hi and hi - lo >= 2  # epochs 0..2 planned, none at the edge
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        ylo, yhi = ax.get_ylim()
        assert yhi - ylo > 1e-3
    assert all(line.get_marker() == "o" and len(line.get_xdata()) == 1 for line in loss.lines)
    assert val.lines[0].get_marker() == "o"
    first.canvas.draw()
    legend = loss.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["total", "task", "reg"]
    box, panel = legend.get_window_extent(), loss.get_window_extent()
    assert box.x0 >= panel.x1  # right of the loss panel, not over its curves
    assert box.x1 <= val.get_window_extent().x0  # and not over the validation panel


def test_kit_warnings_in_a_notebook_are_one_line_notices(toy_dataset, capsys):
    """In a notebook a ConvergenceWarning is one plain line on stdout, once per message, not
    a stderr box quoting the kit's source; the history still says still_improving; and
    pytest.warns still catches the warning, since recording bypasses the notices."""
    import warnings

    from mindkit.notebook import WarningNotices, show_warnings_as_notices
    from mindkit.train import ConvergenceWarning

    before = warnings.showwarning
    assert show_warnings_as_notices() is None  # not a notebook kernel: nothing changes
    assert warnings.showwarning is before
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown every time: the notices deduplicate
        notices = show_warnings_as_notices(force=True)
        assert isinstance(notices, WarningNotices) and warnings.showwarning is notices
        assert show_warnings_as_notices(force=True) is notices  # installed once
        hists = [_fit_logged(toy_dataset, [0.1, 0.2, 0.3]) for _ in range(2)]
        out, err = capsys.readouterr()
        lines = out.splitlines()
        assert lines == ["Note (ConvergenceWarning): toy: the best validation epoch is the last "
                         "one (2) of 3: the model was still improving; raise epochs before "
                         "comparing it with other models"]
        assert "Warning" not in err and "trainer.py" not in out
        assert all(h.still_improving and h.best_epoch == 2 for h in hists)
        with pytest.warns(ConvergenceWarning, match="still improving"):
            assert _fit_logged(toy_dataset, [0.1, 0.2, 0.3]).still_improving
        # another library's warning is left to the previous handler
        with pytest.warns(RuntimeWarning):
            warnings.warn("not the kit's", RuntimeWarning)
    assert warnings.showwarning is before  # catch_warnings restored it


def test_which_warnings_are_the_kits():
    from mindkit.common import KitWarning
    from mindkit.notebook import KIT_DIR, WarningNotices, is_kit_warning
    from mindkit.train import ConvergenceWarning
    from mindkit.train.store import StoreWarning

    inside, outside = str(KIT_DIR / "sweep" / "effects.py"), "/somewhere/else.py"
    assert issubclass(ConvergenceWarning, KitWarning) and issubclass(KitWarning, UserWarning)
    assert is_kit_warning(StoreWarning, outside)
    assert is_kit_warning(UserWarning, inside) and not is_kit_warning(UserWarning, outside)
    assert not is_kit_warning(DeprecationWarning, inside)
    passed, printed = [], []

    class Stream:
        def write(self, text):
            printed.append(text)

        def flush(self):
            pass

    notices = WarningNotices(lambda *a: passed.append(a[0]), stream=Stream())
    notices(UserWarning("a\n  two-line   message"), UserWarning, inside, 1)
    notices(UserWarning("a\n  two-line   message"), UserWarning, inside, 9)  # same text: once
    notices(UserWarning("elsewhere"), UserWarning, outside, 1)
    assert "".join(printed) == "Note (UserWarning): a two-line message\n"
    assert [str(m) for m in passed] == ["elsewhere"]
