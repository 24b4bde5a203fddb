"""Devices (issue 20, item 5): one resolver, the Trainer on a device, streaming splits, no host
sync per step, bf16 refused off CUDA, the command line's --device and the sweep's --gpus.

Every test here runs on the CPU but the ``test_on_cuda_*`` ones, which need CUDA and are skipped
elsewhere: ``pytest tests/test_device.py -k on_cuda`` on a GPU machine runs the whole pipeline
there (training, streaming, bf16, evaluation, robustness, explanations, profile).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

import mindkit.cli as cli
import mindkit.sweep.runner as runner
import mindkit.train.trainer as trainer_module
from mindkit.cli import main
from mindkit.data.base import iterate_batches
from mindkit.distill import MCKD, EnsembleTargets, MCKDStudent, MindDistiller, task_loss
from mindkit.evaluate.heads import evaluate_student, validation_score
from mindkit.evaluate.predictions import student_predictions
from mindkit.evaluate.profile import profile_models
from mindkit.models import MultiHeadStudent, TeacherEnsemble, UnimodalNet
from mindkit.notebook import NOTEBOOK_DIR, ParameterError, declared_parameters, run_params
from mindkit.train import DeviceError, TrainConfig, Trainer, resolve_device, seed_everything
from mindkit.train.device import check_amp, module_device, move_model, parse_device, place_split
from mindkit.train.trainer import _EpochSums

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def no_accelerator(monkeypatch, cuda: bool = False, mps: bool = False, count: int = 1):
    """Make torch report (or not) CUDA and MPS, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


# ------------------------------------------------------------------ the resolver


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    no_accelerator(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")  # "auto" is the default
    no_accelerator(monkeypatch, mps=True)
    assert resolve_device("auto") == torch.device("mps")
    no_accelerator(monkeypatch, cuda=True, mps=True)
    assert resolve_device("auto") == torch.device("cuda", 0)  # CUDA first, with its index
    assert resolve_device("cuda") == torch.device("cuda", 0)


def test_auto_is_the_cpu_on_this_machine():
    if CUDA or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    assert resolve_device("auto").type == "cpu" and TrainConfig().device == "auto"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:1", "mps:0", "", "cuda:", 0, None,
                                 "auto:1"])
def test_what_is_not_a_device_option_is_refused(bad):
    with pytest.raises(DeviceError, match=r"unknown device .*use 'auto' \(CUDA, else MPS"):
        resolve_device(bad)
    with pytest.raises(DeviceError, match="unknown device"):
        TrainConfig(device=bad)


def test_options_are_normalised():
    assert parse_device(" CPU ") == "cpu" and parse_device(torch.device("cpu")) == "cpu"
    assert parse_device("cuda:1") == "cuda:1" and TrainConfig(device="CPU").device == "cpu"
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_a_device_this_machine_lacks_is_refused_with_what_to_use(monkeypatch):
    no_accelerator(monkeypatch)
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match=rf"device '{spec}' is not available here .*"
                                              r"use device='auto'"):
            resolve_device(spec)
    with pytest.raises(DeviceError, match="device 'mps' is not available here"):
        resolve_device("mps")
    with pytest.raises(DeviceError, match="not available"):  # refused before any training
        TrainConfig(device="cuda")
    no_accelerator(monkeypatch, cuda=True, count=1)
    with pytest.raises(DeviceError, match=r"torch sees 1 GPU\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:1")


def test_bf16_is_refused_off_cuda(monkeypatch):
    with pytest.raises(DeviceError, match=r"amp='bf16' .* CUDA only, and the device is 'cpu'.*"
                                          r"drop amp \(amp=None\) or train on device='cuda'"):
        TrainConfig(device="cpu", amp="bf16")
    no_accelerator(monkeypatch)
    with pytest.raises(DeviceError, match="what device='auto' found here"):
        TrainConfig(amp="bf16")
    no_accelerator(monkeypatch, mps=True)
    with pytest.raises(DeviceError, match="the device is 'mps'"):
        TrainConfig(device="mps", amp="bf16")
    with pytest.raises(DeviceError, match="unknown amp 'fp16'"):
        TrainConfig(device="cpu", amp="fp16")
    check_amp(None, "cpu")  # full precision is fine anywhere


def test_fit_checks_the_device_again(toy_dataset):
    """A config changed after it was made is checked where it is used."""
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu")
    cfg.amp = "bf16"
    model = UnimodalNet(toy_dataset.modalities["image"], 3, "xs")
    with pytest.raises(DeviceError, match="CUDA only"):
        Trainer(cfg, progress=False).fit(model, toy_dataset["train"], _image_loss)


# ------------------------------------------------------------------ the Trainer on a device


def _image_loss(m, b):
    return {"total": task_loss("multiclass", m.forward_batch(b), b.y)}


def _mind(ds, seed=1):
    torch.manual_seed(seed)
    ens = {m: TeacherEnsemble([UnimodalNet(ds.modalities[m], 3, "xs")])
           for m in ds.modality_names}
    student = MultiHeadStudent(ds.modalities, 3, "xs")
    return MindDistiller(student, ds.task, EnsembleTargets(ens), 0.5, 2.0)


def _plain_fit(method, split, cfg):
    """The training loop as it was before devices (per-step reads): AdamW, the schedule,
    clipping, the same seeded order; returns each epoch's mean training loss."""
    gen = seed_everything(cfg.seed)
    split = method.prepare(split)
    params = method.main_parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(split) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, Trainer(cfg)._lr_lambda(steps))
    means = []
    for _ in range(cfg.epochs):
        method.train()
        order = torch.randperm(len(split), generator=gen)
        total = []
        for start in range(0, len(split), cfg.batch_size):
            batch = split.batch(order[start: start + cfg.batch_size])
            loss = method.forward_train(batch)["total"]
            total.append(float(loss.detach()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
        means.append(sum(total) / len(total))
    return means


def test_cpu_training_gives_the_weights_of_the_plain_loop(toy_dataset):
    cfg = TrainConfig(epochs=3, batch_size=16, seed=7, device="cpu")
    a, b = _mind(toy_dataset), _mind(toy_dataset)
    hist = Trainer(cfg, progress=False).fit(a, toy_dataset["train"])
    means = _plain_fit(b, toy_dataset["train"], cfg)
    for (k, va), vb in zip(a.student.state_dict().items(), b.student.state_dict().values()):
        assert torch.equal(va, vb), k
    assert [r["train/total"] for r in hist.records] == means  # the same sums, read per epoch
    assert module_device(a) == torch.device("cpu") and a.device == torch.device("cpu")


def test_a_non_finite_loss_names_its_epoch(toy_dataset):
    calls = {"n": 0}

    def loss_fn(m, b):
        calls["n"] += 1
        loss = task_loss("multiclass", m.forward_batch(b), b.y)
        return {"total": loss * float("nan") if calls["n"] == 8 else loss}

    model = UnimodalNet(toy_dataset.modalities["image"], 3, "xs")
    cfg = TrainConfig(epochs=4, batch_size=16, device="cpu")  # 96 samples: 6 steps an epoch
    with pytest.raises(FloatingPointError,
                       match=r"non-finite loss at epoch 1 \(the mean training loss over its 6 "
                             r"steps is nan\); lower the learning rate"):
        Trainer(cfg, progress=False, desc="toy").fit(model, toy_dataset["train"], loss_fn)
    assert calls["n"] == 12  # checked once, at the end of the epoch (not at every step)


def test_epoch_sums_on_a_device_equal_the_host_sums():
    """The GPU path of the per-epoch sums (stacked, float64 on the device), run on the CPU."""
    torch.manual_seed(0)
    steps = [[("total", torch.rand((), requires_grad=True) * 3), ("kd", torch.rand(())),
              ("coef", 0.5)] for _ in range(5)]
    steps.append([("total", torch.rand(())), ("coef", 0.25)])  # a step without "kd"
    host, dev = _EpochSums(torch.device("cpu")), _EpochSums(torch.device("cpu"))
    dev.on_host = False
    for items in steps:
        host.add(items)
        dev.add(items)
    assert dev.groups and not host.groups  # the device path kept tensors, the host one floats
    h, d = host.means(), dev.means()
    assert list(h) == list(d) == ["total", "kd", "coef"]
    assert all(math.isclose(h[k], d[k], rel_tol=1e-12) for k in h)
    assert math.isclose(h["kd"], sum(float(s[1][1]) for s in steps[:5]) / 5, rel_tol=1e-12)


# ------------------------------------------------------------------ splits: in memory or streamed


def test_split_to_and_its_size(toy_dataset):
    sp = toy_dataset["train"]
    assert sp.to("cpu") is sp and sp.device == torch.device("cpu")
    assert sp.nbytes == sum(t.numel() * t.element_size() for t in (
        *sp.inputs.values(), *sp.present.values(), *sp.lengths.values(), sp.y, sp.ids))
    assert place_split(sp, torch.device("cpu")) == (sp, False)  # the CPU has no budget
    assert place_split(sp, torch.device("cpu"), max_bytes=sp.nbytes) == (sp, False)
    assert place_split(sp, torch.device("cpu"), max_bytes=sp.nbytes - 1) == (sp, True)


def test_a_split_moves_whole_when_it_fits_in_half_the_free_memory(toy_dataset, monkeypatch):
    """``meta`` stands in for a GPU whose free memory is mocked."""
    import mindkit.device as device  # place_split looks it up here (train.device re-exports)

    sp, meta = toy_dataset["train"], torch.device("meta")
    monkeypatch.setattr(device, "free_memory_bytes", lambda d: 2 * sp.nbytes)
    moved, stream = place_split(sp, meta)
    assert not stream and moved.device == meta and moved.inputs["image"].is_meta
    monkeypatch.setattr(device, "free_memory_bytes", lambda d: 2 * sp.nbytes - 2)
    assert place_split(sp, meta) == (sp, True)  # stays in CPU memory: its batches stream


def test_streamed_batches_equal_the_in_memory_ones(toy_dataset):
    sp = toy_dataset["train"]
    kept = list(iterate_batches(sp, 20, shuffle=True, generator=torch.Generator().manual_seed(3)))
    streamed = list(iterate_batches(sp, 20, shuffle=True, stream=True,
                                    generator=torch.Generator().manual_seed(3)))
    assert len(kept) == len(streamed) == 5
    for a, b in zip(kept, streamed):
        for name in ("y", "idx", "ids"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        for field in ("inputs", "present", "lengths"):
            da, db = getattr(a, field), getattr(b, field)
            assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da), field


def test_training_on_a_streamed_split_equals_training_in_memory(toy_dataset, monkeypatch):
    seen = []
    real = trainer_module.iterate_batches

    def spy(*args, **kw):
        seen.append(kw.get("stream"))
        return real(*args, **kw)

    monkeypatch.setattr(trainer_module, "iterate_batches", spy)
    runs = {}
    for name, budget in (("memory", None), ("stream", 0)):
        method = _mind(toy_dataset)
        cfg = TrainConfig(epochs=2, batch_size=16, seed=4, device="cpu", max_split_bytes=budget)
        hist = Trainer(cfg, progress=False).fit(method, toy_dataset["train"])
        runs[name] = (method.student.state_dict(), [r["train/total"] for r in hist.records])
    assert seen == [False, False, True, True]  # a zero budget streamed every epoch's batches
    (wa, ha), (wb, hb) = runs["memory"], runs["stream"]
    assert ha == hb and all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(ValueError, match="max_split_bytes must be >= 0"):
        TrainConfig(device="cpu", max_split_bytes=-1)


def test_held_out_batches_follow_the_training_split(toy_dataset):
    """MCKD's meta-validation split (carved in prepare) streams when the training split does."""
    out = []
    for budget in (None, 0):
        torch.manual_seed(0)
        student = MCKDStudent(toy_dataset.modalities, 3, "xs", width=8, hidden=8)
        method = MCKD(student, toy_dataset.task, meta_every=2, warmup_epochs=0)
        cfg = TrainConfig(epochs=2, batch_size=16, seed=1, device="cpu", max_split_bytes=budget)
        hist = Trainer(cfg, progress=False).fit(method, toy_dataset["train"])
        out.append((student.state_dict(), hist.records[-1]["train/total"]))
    assert out[0][1] == out[1][1]
    assert all(torch.equal(out[0][0][k], out[1][0][k]) for k in out[0][0])


# ------------------------------------------------------------------ methods move as a whole


def test_a_method_moves_with_its_teachers_and_keeps_them_frozen(toy_dataset):
    """``meta`` tensors stand in for a GPU: every parameter, the teachers held outside the
    module tree included, moves; the teachers stay frozen and in eval mode."""
    method = _mind(toy_dataset)
    teachers = method.teacher_modules()
    assert teachers and not any(t in set(method.modules()) for t in teachers)
    method.train()
    method.to("meta")
    assert method.device == torch.device("meta")
    assert all(p.is_meta for p in method.student.parameters())
    for t in teachers:
        assert all(p.is_meta for p in t.parameters()) and not t.training
        assert not any(p.requires_grad for p in t.parameters())
    # MCKD made its optimizer of w before any move: it follows w (meta makes new parameter
    # objects, unlike CPU <-> CUDA moves), and so does the state it holds after a step
    mckd = MCKD(MCKDStudent(toy_dataset.modalities, 3, "xs", width=8, hidden=8), "multiclass")
    opt = mckd.extra_optimizers()[0]
    mckd.student.w.grad = torch.ones_like(mckd.student.w)
    opt.step()
    mckd.to("meta")
    w = mckd.student.w
    assert w.is_meta and opt.param_groups[0]["params"] == [w]
    assert set(opt.state) == {w} and opt.state[w]["exp_avg"].is_meta
    assert not opt.state[w]["step"].is_meta  # Adam's step counter stays a CPU scalar


# ------------------------------------------------------------------ scoring on a device option


def test_scoring_takes_a_device_and_leaves_models_where_they_are_without_one(toy_dataset):
    method = _mind(toy_dataset)
    Trainer(TrainConfig(epochs=1, batch_size=16, device="cpu"), progress=False).fit(
        method, toy_dataset["train"])
    st = method.student
    a = evaluate_student(st, toy_dataset["test"], "multiclass", n_boot=20, device="cpu")
    b = evaluate_student(st, toy_dataset["test"], "multiclass", n_boot=20)
    assert a == b and all("device" not in r for r in a)  # device is an argument, not a field
    frame = student_predictions(st, toy_dataset["test"], "multiclass", device="cpu")
    assert len(frame) == len(toy_dataset["test"])
    assert move_model(st) == torch.device("cpu") == move_model({"x": st}, "cpu")
    assert 0 <= validation_score(st, toy_dataset["val"], "multiclass", device="cpu") <= 1
    prof = profile_models({"student": st}, toy_dataset["test"], batch_sizes=[2],
                          min_run_time=0.01, rounds=1, device="cpu")
    assert prof["device"].tolist() == ["cpu"]


# ------------------------------------------------------------------ notebooks and the command line


def test_notebooks_that_train_or_score_declare_device():
    for name in ("01_teachers", "01b_kd_in_ten_minutes", "02_mind_distillation",
                 "03_baselines_and_ablations", "04_missing_modalities", "05_explain",
                 "06_bottleneck_gm", "07_mckd_and_comparison", "08_sweep_analysis"):
        assert declared_parameters(name)["device"] == "auto", name
    assert "device" not in declared_parameters("00_data_tour")  # it only loads data


def test_every_trainconfig_in_the_notebooks_gets_the_device():
    import ast

    import nbformat

    for path in sorted(NOTEBOOK_DIR.glob("0[1-8]*_*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "TrainConfig":
                    assert any(k.arg == "device" for k in node.keywords), (path.name, cell.source)


def test_device_is_not_part_of_a_runs_identity():
    ns = {**declared_parameters("02_mind_distillation"), "device": "cuda"}
    assert "device" not in run_params("02_mind_distillation", ns)


def test_setup_refuses_a_device_before_loading_data(tmp_path):
    from mindkit.notebook import setup

    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        setup("no-such-dataset", 0, True, str(tmp_path / "r"), "02_mind_distillation",
              params={"device": "gpu"})


@pytest.fixture
def executed(monkeypatch):
    """``mindkit run`` with its notebook execution and results table replaced: the parameters
    each notebook would receive, by name (nothing runs)."""
    calls: dict[str, dict] = {}

    def fake_execute(name, run_dir, parameters, notebook_dir=NOTEBOOK_DIR):
        calls[name] = dict(parameters)
        (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
        return run_dir / "notebooks" / f"{name}.ipynb"

    monkeypatch.setattr(cli, "execute_notebook", fake_execute)
    monkeypatch.setattr(cli, "results_table", lambda run_dir: pd.DataFrame())
    return calls


def _run(tmp_path, *args) -> int:
    return main(["run", "--quick", "--run-dir", str(tmp_path / "run"), *args])


def _refusal(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mindkit: ") and "\n" not in err, err
    return err


def test_the_device_flag_reaches_the_notebooks_that_declare_it(executed, tmp_path):
    assert _run(tmp_path, "--device", "CPU") == 0
    assert executed["01_teachers"]["device"] == executed["02_mind_distillation"]["device"] == "cpu"
    assert "device" not in executed["00_data_tour"]
    executed.clear()
    assert _run(tmp_path, "--notebooks", "05_explain", "07_mckd_and_comparison",
                "--device", "auto") == 0
    assert {p["device"] for p in executed.values()} == {"auto"}
    executed.clear()
    assert _run(tmp_path, "--notebooks", "02_mind_distillation") == 0
    assert "device" not in executed["02_mind_distillation"]  # the notebook's own default


def test_a_bad_or_missing_device_is_refused_before_anything_runs(executed, tmp_path, capsys,
                                                                   monkeypatch):
    assert _run(tmp_path, "--device", "gpu") == 2
    assert "--device gpu: unknown device 'gpu'" in _refusal(capsys)
    assert _run(tmp_path, "--param", "device=cpu") == 2
    assert "'device' is refused: it has its own flag: use --device" in _refusal(capsys)
    no_accelerator(monkeypatch)
    assert _run(tmp_path, "--device", "cuda") == 2
    assert "device 'cuda' is not available here" in _refusal(capsys)
    assert not executed and not (tmp_path / "run").exists()


# ------------------------------------------------------------------ sweeps: one GPU per run


def test_gpu_workers_declare_one_gpu_each_and_see_only_it():
    specs = runner.gpu_worker_specs(["0", "3"])
    assert list(specs) == ["gpu-0", "gpu-3"]
    for gid, spec in zip(("0", "3"), specs.values()):
        opts = spec["options"]
        assert spec["cls"].__name__ == "Nanny" and opts["nthreads"] == 1
        assert opts["resources"] == {"GPU": 1} and opts["env"]["CUDA_VISIBLE_DEVICES"] == gid
        assert opts["env"]["OMP_NUM_THREADS"] == "1"


def test_gpu_ids_come_from_what_this_process_sees(monkeypatch):
    no_accelerator(monkeypatch, cuda=True, count=3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert runner._gpu_ids(2) == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6,7")
    assert runner._gpu_ids(2) == ["4", "6"]  # the parent's own restriction is kept
    with pytest.raises(ParameterError, match=r"gpus=4: this machine shows 3 GPU\(s\)"):
        runner._gpu_ids(4)
    no_accelerator(monkeypatch)
    with pytest.raises(ParameterError, match="shows 0 GPU"):
        runner._gpu_ids(1)


def test_gpus_with_workers_0_or_a_negative_count_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="gpus needs Dask workers"):
        runner.run_sweep(str(NOTEBOOK_DIR / "02_mind_distillation.ipynb"), {"alpha": [0.5]},
                         tmp_path / "sw", workers=0, gpus=1)
    with pytest.raises(ParameterError, match="gpus must be a whole number"):
        runner.run_sweep(str(NOTEBOOK_DIR / "02_mind_distillation.ipynb"), {"alpha": [0.5]},
                         tmp_path / "sw", gpus=-1)


def test_sweep_gpus_on_a_machine_without_them_is_one_line(tmp_path, capsys, monkeypatch):
    no_accelerator(monkeypatch)
    rc = main(["sweep", "02_mind_distillation", "--out", str(tmp_path / "sw"), "-p", "alpha",
               "0.5", "--gpus", "2"])
    assert rc == 2 and "gpus=2: this machine shows 0 GPU(s)" in _refusal(capsys)


def test_a_scheduler_without_gpu_workers_is_refused():
    class FakeClient:
        def __init__(self, workers):
            self.workers = workers

        def scheduler_info(self):
            return {"workers": self.workers}

    runner._check_gpu_workers(FakeClient({}), "tcp://h:1")  # none yet: nothing to check
    runner._check_gpu_workers(FakeClient({"a": {"resources": {"GPU": 1}}}), "tcp://h:1")
    with pytest.raises(ParameterError, match=r"none of the 2 workers of tcp://h:1 declares a GPU "
                                             r"resource.*--resources GPU=1"):
        runner._check_gpu_workers(FakeClient({"a": {"resources": {}}, "b": {}}), "tcp://h:1")


GPU_NOTEBOOK_PARAMS = '''x = 1  # the run's number
run_dir = "."  # where metrics.json goes
'''
GPU_NOTEBOOK_BODY = '''import json, os, pathlib
rec = {"dataset": "gpu", "method": "m", "model": "-", "head": "-", "metric": "x",
       "value": float(x), "ci_low": None, "ci_high": None, "seed": 0, "split": "test",
       "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
pathlib.Path(run_dir, "metrics.json").write_text(json.dumps([rec]))
'''


@pytest.mark.slow
def test_a_gpu_sweep_gives_each_run_one_gpu(tmp_path, monkeypatch):
    """Two GPU workers (faked: no GPU is touched), four runs: each run's kernel sees exactly the
    GPU of the worker that ran it, and both workers take runs."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(GPU_NOTEBOOK_PARAMS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(GPU_NOTEBOOK_BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "gpu.ipynb"
    nbformat.write(nb, str(path))
    no_accelerator(monkeypatch, cuda=True, count=2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    s = runner.run_sweep(str(path), {"x": [1, 2, 3, 4]}, tmp_path / "sw", gpus=2, stagger=0.2,
                         progress=False)
    assert (s.ok, s.failed) == (4, 0)
    seen = {r["cuda_visible_devices"] for r in s.runs}
    assert seen == {"0", "1"}
    from mindkit.sweep import collect

    df = collect(tmp_path / "sw")
    by_run = dict(zip(df["run"], df["visible"]))
    status = {r["folder"].rsplit("/", 1)[-1]: r["cuda_visible_devices"] for r in s.runs}
    assert by_run == status  # the notebook saw the GPU its worker declared


# ------------------------------------------------------------------ on a GPU (skipped here)


@gpu
def test_on_cuda_the_pipeline_trains_scores_explains_and_profiles(toy_dataset):
    from mindkit.evaluate.robustness import missingness_curves
    from mindkit.explain import class_prior, input_attributions, modality_attributions

    method = _mind(toy_dataset)
    hist = Trainer(TrainConfig(epochs=2, batch_size=16, device="cuda"), progress=False).fit(
        method, toy_dataset["train"],
        score_fn=lambda m: validation_score(m, toy_dataset["val"], "multiclass"))
    assert all(math.isfinite(r["train/total"]) for r in hist.records)
    assert method.device.type == "cuda"
    assert all(p.is_cuda for t in method.teacher_modules() for p in t.parameters())
    st, test = method.student, toy_dataset["test"]
    recs = evaluate_student(st, test, "multiclass", n_boot=20)
    assert recs and all(math.isfinite(r["value"]) for r in recs)
    curves = missingness_curves({"mind": st}, test, "multiclass", [0.0, 1.0], n_boot=10)
    assert curves.records
    prior = class_prior(toy_dataset["train"], "multiclass", 3)
    attr = modality_attributions(st, test, "multiclass", prior=prior, max_samples=10)
    assert attr.values.device.type == "cpu" and attr.gap.abs().max() < 1e-4
    ig = input_attributions(st, test, "image", "multiclass", n_steps=8, max_samples=4)
    assert ig.attributions.device.type == "cpu"
    prof = profile_models({"student": st}, test, batch_sizes=[1, 8], min_run_time=0.01,
                          rounds=1)
    assert prof["device"].str.startswith("cuda").all()


@gpu
def test_on_cuda_streaming_equals_in_memory(toy_dataset):
    out = []
    for budget in (None, 0):
        method = _mind(toy_dataset)
        cfg = TrainConfig(epochs=2, batch_size=16, seed=4, device="cuda", max_split_bytes=budget)
        Trainer(cfg, progress=False).fit(method, toy_dataset["train"])
        out.append({k: v.cpu() for k, v in method.student.state_dict().items()})
    assert all(torch.allclose(out[0][k].float(), out[1][k].float(), atol=1e-5) for k in out[0])


@gpu
def test_on_cuda_bf16_autocast_trains(toy_dataset):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    method = _mind(toy_dataset)
    hist = Trainer(TrainConfig(epochs=2, batch_size=16, device="cuda", amp="bf16"),
                   progress=False).fit(method, toy_dataset["train"])
    assert all(math.isfinite(r["train/total"]) for r in hist.records)
