"""The kit at clinical scale: MedFuse-sized data and image encoders, timed per epoch.

The MIMIC tasks are trained in the literature on about 18,000 stays with 224-pixel chest X-rays
and ResNet-sized image encoders (MedFuse: ResNet-34). This benchmark builds ``synthetic_ihm``
(laid out like MIMIC-IV + MIMIC-CXR: 48 h x 76 series and a chest-X-ray-like image) at that
scale and times, on the CPU and, when ``torch.cuda.is_available()``, on the GPU:

1. an image teacher with the ResNet-34 layout (``UnimodalNet(cxr, size="34", arch="resnet")``,
   the kit's ``Supervised`` method, trained on every train stay with an image);
2. the MIND student (``MultiHeadStudent``: a ``ts`` GRU and a ``cxr`` CNN of the student size
   plus joint fusion, trained with the MIND loss on all train stays) through the same method
   object ``run_method("mind", ctx)`` builds (``MindDistiller`` with ``EnsembleTargets``); its
   teachers are the ResNet-34 image teacher above and an ``xs`` GRU on ``ts`` (random weights:
   they do not change what is timed). The teacher outputs are computed once per training
   (``prepare``), timed on their own row.

Each training step is the Trainer's (:class:`mindkit.train.Trainer`): gather the batch by index,
forward, the method's loss, backward, gradient clipping at 5, AdamW (its defaults: lr 3e-3,
weight decay 1e-4); validation passes are not included. Per phase it prints wall time per step,
samples/s, the epoch time and the peak memory: on the CPU the process's resident set sampled
every 5 ms with psutil during the phase (the rise above the RSS before it; ``resource``'s max
RSS when psutil is missing), on a GPU ``torch.cuda.max_memory_allocated``. A full CPU epoch of
ResNet-34 at 224 px takes most of an hour on a few cores, so by default ``--steps`` steps (after
``--warmup`` untimed ones) are timed on a random sample of the train stays and the epoch is
**extrapolated** (mean step time x steps per epoch), labelled so in the table; ``--full-epoch``
times every step of one epoch instead. It also prints the parameters and forward FLOPs per
image of the ResNet-18/34 layouts at 224 px (``torch.utils.flop_counter.FlopCounterMode``).

    python benchmarks/clinical_scale.py [--n 18000] [--image-size 224] [--batch-size 32]
        [--steps 3] [--warmup 1] [--full-epoch] [--devices auto|cpu|cuda|cpu,cuda]
        [--teacher-size 34] [--student-size xs] [--threads N] [--seed 0] [--keep-conv-layout]
        [--amp bf16]

Devices go through the kit's :mod:`mindkit.train.device` as the Trainer's do (no ``.cuda()``):
``--devices`` names are resolved by ``resolve_device``, methods move with ``.to(device)`` (their
teachers with them), the training split is placed by ``place_split`` (moved to the device once
when it fits, else its batches stream there from pinned memory) and ``--amp bf16`` runs the
forward passes on a GPU under bfloat16 autocast (``TrainConfig.amp``).
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import resource
import threading
import time
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mindkit.data import load
from mindkit.data.base import ModalitySpec, Split, iterate_batches
from mindkit.distill.cache import TEACHER_MEMO, EnsembleTargets
from mindkit.distill.mind import MindDistiller
from mindkit.encoders import PRESETS, build_encoder, count_parameters
from mindkit.models.student import MultiHeadStudent
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet
from mindkit.notebook import configure_threads
from mindkit.train.device import DeviceError, autocast, check_amp, place_split, resolve_device
from mindkit.train.method import Method, Supervised

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the dev environment
    psutil = None

GRAD_CLIP, LR, WEIGHT_DECAY = 5.0, 3e-3, 1e-4  # TrainConfig's defaults


# -- memory and time ---------------------------------------------------------------------------

def _rss() -> int:
    return psutil.Process().memory_info().rss if psutil else _max_rss()


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _trim() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``) so that a phase's RSS rise
    is not hidden by memory an earlier phase freed but the allocator kept; no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def peak_memory(device: torch.device):
    """Yields a dict filled on exit with ``peak_bytes``: on a GPU the most memory torch
    allocated there during the block above what was allocated at entry; on the CPU the rise of
    the resident set above its size at entry (after :func:`_trim`), sampled every 5 ms
    (psutil), or the process's max RSS rise (``resource``: only seen when the block sets a new
    lifetime peak) without psutil; ``peak_rss`` is the process's whole resident set at that
    peak (data included; on a GPU, the CPU side's)."""
    out: dict = {}
    _trim()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield out
        torch.cuda.synchronize(device)
        out.update(peak_bytes=torch.cuda.max_memory_allocated(device) - base,
                   peak_rss=_rss())
        return
    base = _rss()
    if psutil is None:
        yield out
        out.update(peak_bytes=max(0, _max_rss() - base), peak_rss=_max_rss())
        return
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        proc = psutil.Process()
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            stop.wait(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        yield out
    finally:
        stop.set()
        th.join()
    peak[0] = max(peak[0], _rss())
    out.update(peak_bytes=peak[0] - base, peak_rss=peak[0])


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


# -- FLOPs ---------------------------------------------------------------------------------------

def forward_flops(module: nn.Module, x: torch.Tensor) -> int:
    """Forward FLOPs of one pass as ``FlopCounterMode`` counts them: 2 per multiply-accumulate
    of convolutions and matrix products (batch norm, ReLU, pooling and additions uncounted)."""
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        module(x)
    return int(fc.get_total_flops())


def flops_table(image_size: int) -> list[dict]:
    rows = []
    for arch, size, ch in (("resnet", "18", 1), ("resnet", "34", 1), ("resnet", "18", 3),
                           ("resnet", "34", 3), ("cnn", "xs", 1), ("cnn", "s", 1),
                           ("cnn", "m", 1)):
        spec = ModalitySpec("cxr", "image", (ch, image_size, image_size))
        enc = build_encoder(spec, size, arch)
        flops = forward_flops(enc, torch.zeros(1, ch, image_size, image_size))
        tokens = enc.tokens(torch.zeros(1, ch, image_size, image_size))[0].shape[1]
        rows.append({"encoder": f"{arch} {size}", "in_ch": ch, "params": count_parameters(enc),
                     "gflops": flops / 1e9, "gmacs": flops / 2e9, "tokens": tokens,
                     "width": enc.out_dim})
    return rows


# -- training steps ----------------------------------------------------------------------------

def contiguous_convs(module: nn.Module) -> nn.Module:
    """Store every 2-D convolution weight of ``module`` NCHW-contiguous. With channels-last
    weights, torch 2.13.0+cpu (oneDNN 3.12) corrupted the heap here in the backward pass of
    the ``cnn xs`` encoder on 128- and 224-pixel batches of 32 (a segfault or a glibc abort
    within ten steps, in most runs); the same steps with contiguous weights ran clean. Values
    are unchanged; ``--keep-conv-layout`` keeps the layout the models were built with."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and not m.weight.is_contiguous():
            m.weight.data = m.weight.data.contiguous()
    return module


def time_steps(method: Method, split: Split, batch_size: int, warmup: int, steps: int | None,
               device: torch.device, gen: torch.Generator, amp: str | None) -> dict:
    """Run ``warmup`` untimed steps, then time ``steps`` steps (``None``: every batch of one
    shuffled epoch over ``split``), each the Trainer's step: the split placed as the Trainer
    places it (:func:`place_split`: moved to the device once when it fits, else its batches
    stream there), the method's transform, its loss under ``amp``, backward, clip, AdamW.
    ``method`` must already be on ``device``. Returns the timed steps, samples, wall and data
    seconds and the peak memory."""
    split, stream = place_split(split, device)
    params = method.main_parameters()
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY)
    method.train()

    def batches():
        return iterate_batches(split, batch_size, shuffle=True, generator=gen, device=device,
                               stream=stream)

    def step(it) -> tuple[float, int] | None:
        """One step on the next batch of ``it``: its data seconds and samples (None: ``it`` is
        done)."""
        td = time.perf_counter()
        batch = next(it, None)
        if batch is None:
            return None
        batch = method.transform_batch(batch, gen)
        data_s = time.perf_counter() - td
        with autocast(amp, device):
            terms = method.forward_train(batch)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        method.after_backward(batch, terms)
        nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        return data_s, len(batch)

    it = batches()
    for _ in range(warmup):
        step(it)
    if steps is None:  # a full epoch: a fresh pass over the split after the warm-up steps
        it, steps = batches(), math.ceil(len(split) / batch_size)
    _sync(device)
    data_s, done, samples = 0.0, 0, 0
    with peak_memory(device) as mem:
        t0 = time.perf_counter()
        for _ in range(steps):
            got = step(it)
            if got is None:
                break
            data_s, done, samples = data_s + got[0], done + 1, samples + got[1]
        _sync(device)
        wall = time.perf_counter() - t0
    return {"steps": done, "samples": samples, "wall_s": wall, "data_s": data_s, **mem}


def sample_rows(rows: torch.Tensor, k: int | None, gen: torch.Generator) -> torch.Tensor:
    """``k`` of ``rows`` drawn at random (all of them when ``k`` is None or too large)."""
    if k is None or k >= len(rows):
        return rows
    return rows[torch.randperm(len(rows), generator=gen)[:k]].sort().values


def run_device(ds, device: torch.device, args) -> list[dict]:
    """The three timed phases on ``device``: ResNet teacher steps, the MIND target cache and
    MIND student steps. Returns one table row per phase."""
    train = ds["train"]
    bs, full = args.batch_size, args.full_epoch
    per_run = None if full else (args.warmup + args.steps) * bs
    steps = None if full else args.steps
    amp = args.amp if device.type == "cuda" else None  # the CPU rows run in float32
    gen = torch.Generator().manual_seed(args.seed)
    layout = (lambda m: m) if args.keep_conv_layout else contiguous_convs
    rows = []

    # 1. the ResNet image teacher on every train stay with an image
    torch.manual_seed(args.seed)
    teacher = layout(UnimodalNet(ds.modalities["cxr"], ds.num_outputs, args.teacher_size,
                                 "resnet"))
    method = Supervised(teacher, ds.task, ["cxr"]).to(device)
    cxr_rows = train.present["cxr"].nonzero().flatten()
    sub = method.prepare(train.subset(sample_rows(cxr_rows, per_run, gen)))
    r = time_steps(method, sub, bs, args.warmup, steps, device, gen, amp)
    rows.append(_row(device, f"teacher resnet {args.teacher_size} (cxr)", teacher, bs, r,
                     len(cxr_rows), full))
    del method, sub

    # 2. MIND: the teachers' soft targets over the training stays, once per training (the
    # process's teacher-output memo is emptied first, so they are computed, not looked up)
    torch.manual_seed(args.seed + 1)
    ts_teacher = layout(UnimodalNet(ds.modalities["ts"], ds.num_outputs, "xs"))
    ensembles = {"cxr": TeacherEnsemble([teacher]), "ts": TeacherEnsemble([ts_teacher])}
    torch.manual_seed(args.seed)
    student = layout(MultiHeadStudent(ds.modalities, ds.num_outputs, args.student_size,
                                      fusion=args.fusion))
    mind = MindDistiller(student, ds.task, EnsembleTargets(ensembles), alpha=0.5, T=2.0)
    mind.to(device)  # the student and, through Method._apply, its teachers
    sub, _ = place_split(train.subset(sample_rows(torch.arange(len(train)), per_run, gen)),
                         device)
    TEACHER_MEMO.clear()
    with peak_memory(device) as mem:
        t0 = time.perf_counter()
        sub = mind.prepare(sub)
        _sync(device)
        cache_s = time.perf_counter() - t0
    # the image teacher dominates and runs only on stays with an image: scale by those
    with_img, sub_img = int(train.present["cxr"].sum()), int(sub.present["cxr"].sum())
    rows.append({"device": device.type, "phase": f"MIND teacher targets (resnet "
                 f"{args.teacher_size} + gru xs), once per training",
                 "params": count_parameters(teacher) + count_parameters(ts_teacher),
                 "batch": 512, "timed": f"{len(sub)} stays", "s_step": math.nan,
                 "samples_s": len(sub) / cache_s,
                 "epoch_s": cache_s * with_img / max(1, sub_img),
                 "basis": "measured" if len(sub) == len(train) else
                 f"EXTRAPOLATED: {sub_img} -> {with_img} images", "peak": mem["peak_bytes"],
                 "peak_rss": mem["peak_rss"], "data_s": math.nan})

    # 3. the MIND student on every train stay
    r = time_steps(mind, sub, bs, args.warmup, steps, device, gen, amp)
    rows.append(_row(device, f"MIND student {args.student_size} (ts gru + cxr cnn, "
                     f"{args.fusion})", student, bs, r, len(train), full))
    return rows


def _row(device, phase, model, bs, r, n_epoch, full) -> dict:
    per_step = r["wall_s"] / r["steps"]
    epoch_steps = math.ceil(n_epoch / bs)
    return {"device": device.type, "phase": phase, "params": count_parameters(model),
            "batch": bs, "timed": f"{r['steps']} steps", "s_step": per_step,
            "samples_s": r["samples"] / r["wall_s"],
            "epoch_s": r["wall_s"] if full else per_step * epoch_steps,
            "basis": (f"measured: full epoch, {epoch_steps} steps" if full else
                      f"EXTRAPOLATED: {r['steps']} steps x {epoch_steps} steps/epoch"),
            "peak": r["peak_bytes"], "peak_rss": r["peak_rss"],
            "data_s": r["data_s"] / r["steps"]}


# -- output --------------------------------------------------------------------------------------

def print_table(rows: list[dict], cols: list[tuple[str, str, str]]) -> None:
    """``cols``: (key, header, format); right-aligned except the first two columns."""
    cells = [[h for _, h, _ in cols]] + [[format(r[k], f) if f else str(r[k])
                                          for k, _, f in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for j, line in enumerate(cells):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min ({s:.0f} s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=18000, help="stays (patients) to generate")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per phase (extrapolated "
                    "to the epoch); ignored with --full-epoch")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    ap.add_argument("--full-epoch", action="store_true",
                    help="time every step of one epoch instead of --steps (slow on a CPU)")
    ap.add_argument("--devices", default="auto", help="'auto' (the CPU, and the GPU when torch "
                    "sees one), or a comma-separated list such as 'cpu', 'cuda', 'cpu,cuda'")
    ap.add_argument("--teacher-size", default="34", choices=sorted(PRESETS["resnet"]))
    ap.add_argument("--student-size", default="xs", choices=sorted(PRESETS["cnn"]))
    ap.add_argument("--fusion", default="joint", help="the student's fusion")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: $MINDKIT_THREADS, else 1, as the kit's "
                    "configure_threads; on cores shared with other work more threads were "
                    "slower here, on a machine of its own raise it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amp", default=None, choices=["bf16"],
                    help="bfloat16 autocast of the training forward pass on CUDA devices "
                    "(TrainConfig.amp); the CPU rows always run in float32")
    ap.add_argument("--keep-conv-layout", action="store_true",
                    help="keep the models' convolution weight layout (default: NCHW-contiguous, "
                    "see contiguous_convs)")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1:
        ap.error("--steps and --batch-size must be at least 1, --warmup at least 0")
    threads = configure_threads(args.threads)
    try:
        if args.devices == "auto":  # the CPU, and the accelerator "auto" picks when there is one
            best = resolve_device("auto")
            devices = [torch.device("cpu")] + ([best] if best.type != "cpu" else [])
        else:
            devices = [resolve_device(d.strip()) for d in args.devices.split(",") if d.strip()]
        for d in devices:
            if args.amp is not None and d.type != "cpu":
                check_amp(args.amp, d)
    except DeviceError as err:
        ap.error(str(err))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, {threads} CPU threads of {os.cpu_count()} cores, "
          f"GPU: {gpu}; devices timed: {', '.join(d.type for d in devices)}; "
          f"memory: {'psutil' if psutil else 'resource'}")

    print(f"\n== Image encoders at {args.image_size} px: parameters and forward FLOPs per image ==")
    print("FlopCounterMode counts 2 FLOPs per multiply-accumulate of convolutions and matrix "
          "products (batch norm, ReLU, pooling uncounted); GMACs = GFLOPs / 2, the convention "
          "of the '1.8 GFLOPs' usually quoted for ResNet-18 (3 channels, with its classifier).")
    print_table(flops_table(args.image_size), [
        ("encoder", "encoder", ""), ("in_ch", "in_ch", ""), ("params", "params", ",d"),
        ("gflops", "GFLOPs", ".3f"), ("gmacs", "GMACs", ".3f"), ("tokens", "tokens", "d"),
        ("width", "width", "d")])

    print(f"\n== Data: synthetic_ihm, {args.n} stays, image {args.image_size} px ==")
    t0, rss0 = time.perf_counter(), _rss()
    ds = load("synthetic_ihm", n_samples=args.n, image_size=args.image_size, seed=args.seed)
    build_s = time.perf_counter() - t0
    nbytes = sum(x.numel() * x.element_size() for sp in ds.splits.values()
                 for x in sp.inputs.values())
    train = ds["train"]
    print(f"built in {build_s:.1f} s; inputs {gib(nbytes)}; process RSS {gib(_rss())} "
          f"(+{gib(_rss() - rss0)}), max RSS so far {gib(_max_rss())}; splits "
          + ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items())
          + f"; train stays with an image {int(train.present['cxr'].sum())}")

    rows = []
    for device in devices:
        print(f"\n.. timing on {device} ..", flush=True)
        rows += run_device(ds, device, args)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    mode = ("one full epoch timed" if args.full_epoch else
            f"{args.steps} steps timed after {args.warmup} warm-up, epoch EXTRAPOLATED")
    print(f"\n== Training throughput: batch {args.batch_size}, {mode} ==")
    print("epoch = training steps only (no validation pass); s/step includes batch gathering "
          "and the copy to the device (data s/step); process RSS: the whole process's resident "
          "set at the phase's peak (data included); peak mem: "
          + ("GPU max_memory_allocated above the phase's start, " if any(
              d.type == "cuda" for d in devices) else "")
          + ("CPU RSS rise above the phase's start (psutil, 5 ms samples)" if psutil
             else "CPU max-RSS rise (resource)"))
    for r in rows:
        r["epoch"] = fmt_time(r["epoch_s"])
        r["mem"] = gib(r["peak"])
        r["rss"] = gib(r["peak_rss"])
        r["s_step_txt"] = "-" if not math.isfinite(r["s_step"]) else f"{r['s_step']:.3f}"
        r["data_txt"] = "-" if not math.isfinite(r["data_s"]) else f"{r['data_s']:.3f}"
    print_table(rows, [
        ("device", "device", ""), ("phase", "phase", ""), ("params", "params", ",d"),
        ("batch", "batch", "d"), ("timed", "timed", ""), ("s_step_txt", "s/step", ""),
        ("data_txt", "data s/step", ""), ("samples_s", "samples/s", ".1f"),
        ("epoch", "epoch (or once)", ""), ("basis", "epoch basis", ""),
        ("mem", "peak mem", ""), ("rss", "process RSS", "")])
    print(f"\nprocess max RSS over the whole run: {gib(_max_rss())} (includes the data, "
          f"{gib(nbytes)} of inputs)")


if __name__ == "__main__":
    main()
