"""Training throughput: the earlier training step against the fast one, measured in one run.

On AV-Digits (real data, default difficulty), for
  * the xs MIND student (method ``mind``: multi-head student, KD from teacher ensembles),
  * the pooled-bottleneck model (method ``pb_kd_gm``: bottleneck fusion, self-distillation under
    modality dropout, OGM-GE gradient modulation),
  * two teachers of size m (``UnimodalNet``: the audio GRU and the image CNN),
prints, for the earlier step and the new step:
  1. samples per second (the median step over interleaved rounds; wall clock, and per second of
     the process's CPU time, which waiting for a core shared with other jobs does not inflate;
     with N threads it counts all N) and the speed-up (goal >= 3x for the student and the
     bottleneck model);
  2. FLOPs per step (torch.utils.flop_counter.FlopCounterMode over one forward + backward, the
     gradient-modulation passes included) and the achieved GFLOP/s, against a single-thread
     1024x1024 matmul (torch.utils.benchmark.Timer) measured in the same run;
and the teacher-output cache built once and reused by a second method on the same split.

The earlier step is the real earlier computation, switched back on in the same code: nn.GRU over
the whole padded input (``RNNEncoder.impl = "torch"``), the bottleneck fusion through
nn.TransformerEncoderLayer (``BottleneckFusion.impl = "torch"``) and one gradient-modulation pass
per modality (``GradModulator.merged_passes = False``). Teachers of the MIND student are random
(untrained) for the timing: their outputs are computed once before training.

With ``--accuracy`` it also trains each model with both steps for 3 seeds (``--seeds``) at a short
budget (``--epochs``) with mindkit's Trainer, on avdigits (and avdigits3 for the bottleneck
model), and prints the test accuracy (routed prediction for students; the samples with the
modality for teachers) as mean, standard deviation and range per step: the new step's accuracy
should lie within the seed-to-seed spread. The MIND student distils from xs teachers trained
for that purpose (3 epochs).

    python benchmarks/train_throughput.py [--steps 20] [--rounds 5] [--threads 1]
        [--accuracy] [--epochs 5] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn
from torch.utils.benchmark import Timer
from torch.utils.flop_counter import FlopCounterMode

from mindkit.data import load
from mindkit.data.base import iterate_batches
from mindkit.distill.cache import TEACHER_MEMO, TeacherCache
from mindkit.distill.methods import MethodContext, build_method
from mindkit.encoders import set_rnn_impl
from mindkit.fusion.bottleneck import BottleneckFusion
from mindkit.models import UnimodalNet
from mindkit.notebook import configure_threads
from mindkit.train import TrainConfig
from mindkit.train.method import Method, Supervised

GOAL = 3.0  # new step / earlier step, for the student and the bottleneck model
BATCH = 64
MODELS = {  # key: (label, goal applies)
    "mind": ("MIND xs student (mind)", True),
    "pb_kd_gm": ("pooled bottleneck KD+GM (pb_kd_gm)", True),
    "teacher:audio": ("audio GRU teacher, size m", False),
    "teacher:image": ("image CNN teacher, size m", False),
}


def use_step(method: Method, earlier: bool) -> Method:
    """Switch ``method`` to the earlier training step (``earlier=True``) or the new one."""
    student = method.student
    set_rnn_impl(student, "torch" if earlier else "auto")
    for mod in student.modules():
        if isinstance(mod, BottleneckFusion):
            mod.impl = "torch" if earlier else "fast"
    if method.gradmod is not None:
        method.gradmod.merged_passes = not earlier
    return method


def build(key: str, ds, teachers, seed: int) -> Method:
    """A fresh method object for ``key`` (same weights for the same seed)."""
    if key.startswith("teacher:"):
        m = key.split(":")[1]
        torch.manual_seed(seed)
        return Supervised(UnimodalNet(ds.modalities[m], ds.num_outputs, "m"), ds.task, [m])
    ctx = MethodContext(ds, teachers, {m: [0.5] * len(v) for m, v in teachers.items()},
                        TrainConfig(batch_size=BATCH, seed=seed))
    return build_method(key, ctx)


def random_teachers(ds, sizes=("xs", "s", "m")):
    torch.manual_seed(0)
    return {m: [UnimodalNet(ds.modalities[m], ds.num_outputs, s) for s in sizes]
            for m in ds.modality_names}


class Stepper:
    """One training step as the Trainer takes it: transform, forward, backward, the method's
    after-backward hook (gradient modulation), clipping, AdamW."""

    def __init__(self, method: Method, split, seed: int = 0) -> None:
        self.method = method
        self.gen = torch.Generator().manual_seed(seed)
        split = method.prepare(split)
        self.params = method.main_parameters()
        self.opt = torch.optim.AdamW(self.params, lr=3e-3, weight_decay=1e-4)
        self.batches = list(iterate_batches(split, BATCH, shuffle=True,
                                            generator=torch.Generator().manual_seed(seed)))
        self.i = 0
        method.train()

    def next_batch(self):
        b = self.batches[self.i % len(self.batches)]
        self.i += 1
        return b

    def forward_backward(self, batch) -> None:
        batch = self.method.transform_batch(batch, self.gen)
        terms = self.method.forward_train(batch)
        self.opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.method.after_backward(batch, terms)

    def step(self) -> int:
        batch = self.next_batch()
        self.forward_backward(batch)
        nn.utils.clip_grad_norm_(self.params, 5.0)
        self.opt.step()
        return len(batch)


def flops_per_step(stepper: Stepper) -> int:
    with FlopCounterMode(display=False) as counter:
        stepper.forward_backward(stepper.next_batch())
    return int(counter.get_total_flops())


def time_steps(steppers: dict[str, Stepper], steps: int, rounds: int) -> dict[str, dict]:
    """Per variant, the median over ``rounds`` of the seconds per sample (wall clock and process
    CPU time) of ``steps`` steps; variants interleaved, their order alternating by round."""
    for s in steppers.values():  # warm-up
        for _ in range(3):
            s.step()
    res = {k: {"wall": [], "cpu": []} for k in steppers}
    names = list(steppers)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            s = steppers[k]
            w0, c0, n = time.perf_counter(), time.process_time(), 0
            for _ in range(steps):
                n += s.step()
            res[k]["wall"].append((time.perf_counter() - w0) / n)
            res[k]["cpu"].append((time.process_time() - c0) / n)
    return {k: {t: statistics.median(v) for t, v in d.items()} for k, d in res.items()}


def matmul_rate(threads: int) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    t = Timer("a @ b", globals={"a": a, "b": b}, num_threads=threads).blocked_autorange(
        min_run_time=1.0)
    return 2 * 1024 ** 3 / t.median / 1e9


def throughput(args, datasets) -> None:
    ds = datasets["avdigits"]
    train = ds["train"]
    teachers = random_teachers(ds)
    mm = matmul_rate(args.threads)
    print(f"AV-Digits train split: {len(train)} samples, batch {BATCH}, torch threads "
          f"{args.threads}; {args.rounds} interleaved rounds of {args.steps} steps per step kind")
    print(f"1024x1024 matmul on {args.threads} thread(s): {mm:.1f} GFLOP/s")

    # the teacher-output cache: built by the first method, reused by the next on the same split
    TEACHER_MEMO.clear()
    ens = MethodContext(ds, teachers, {m: [0.5] * 3 for m in teachers}).ensembles()
    t0 = time.perf_counter()
    TeacherCache.build(ens, train, ds.task)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    TeacherCache.build(ens, train, ds.task)
    again = time.perf_counter() - t0
    print(f"teacher-output cache (6 teachers, train split): first build {first:.2f} s, the next "
          f"method on the same teachers and split {again:.3f} s (memo: {TEACHER_MEMO.hits} hits)")

    header = (f"{'model':38s} {'step':8s} {'samples/s':>10s} {'(cpu)':>8s} {'GFLOP/step':>11s} "
              f"{'GFLOP/s':>8s} {'of mm':>6s}")
    print()
    print(header)
    print("-" * len(header))
    for key, (label, goal) in MODELS.items():
        split = train
        steppers = {}
        for kind in ("earlier", "new"):
            method = use_step(build(key, ds, teachers, seed=0), earlier=kind == "earlier")
            steppers[kind] = Stepper(method, split)
        flops = {k: flops_per_step(s) for k, s in steppers.items()}
        times = time_steps(steppers, args.steps, args.rounds)
        for kind in ("earlier", "new"):
            t = times[kind]
            rate = flops[kind] / (t["wall"] * BATCH) / 1e9
            print(f"{label if kind == 'earlier' else '':38s} {kind:8s} {1 / t['wall']:10.0f} "
                  f"{1 / t['cpu']:8.0f} {flops[kind] / 1e9:11.3f} {rate:8.2f} "
                  f"{rate / mm:6.1%}")
        up, up_cpu = (times["earlier"][t] / times["new"][t] for t in ("wall", "cpu"))
        verdict = f"  goal >= {GOAL:.0f}x: {'met' if up >= GOAL else 'NOT met'}" if goal else ""
        print(f"{'':38s} {'speed-up':8s} {up:9.2f}x {up_cpu:7.2f}x{verdict}")


def train_teachers_xs(ds, epochs: int) -> dict[str, list[UnimodalNet]]:
    from mindkit.distill.recipes import train_teacher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short budget: still improving, as intended
        return {m: [train_teacher(ds, m, "xs",
                                  config=TrainConfig(epochs=epochs, batch_size=BATCH),
                                  progress=False)[0]] for m in ds.modality_names}


def accuracy(args, datasets) -> None:
    from mindkit.distill.recipes import fit_method
    from mindkit.evaluate.heads import validation_score

    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [("mind", "avdigits"), ("pb_kd_gm", "avdigits"), ("pb_kd_gm", "avdigits3"),
            ("teacher:audio", "avdigits"), ("teacher:image", "avdigits")]
    print()
    print(f"test accuracy after {args.epochs} epochs (best validation epoch), seeds {seeds}")
    header = f"{'model':38s} {'data':10s} {'step':8s} {'mean':>6s} {'sd':>6s} {'min':>6s} " \
             f"{'max':>6s}  train s"
    print(header)
    print("-" * len(header))
    teachers = {}
    for key, name in runs:
        ds = datasets[name]
        if key == "mind" and name not in teachers:
            teachers[name] = train_teachers_xs(ds, 3)
        scores, secs = {}, {}
        for kind in ("earlier", "new"):
            scores[kind], secs[kind] = [], 0.0
            for seed in seeds:
                method = use_step(build(key, ds, teachers.get(name, {}), seed),
                                  earlier=kind == "earlier")
                cfg = TrainConfig(epochs=args.epochs, batch_size=BATCH, seed=seed)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # short budgets: still improving
                    fit_method(method, ds, cfg, progress=False)
                secs[kind] += time.perf_counter() - t0
                scores[kind].append(validation_score(method.student, ds["test"], ds.task))
        for kind in ("earlier", "new"):
            v = scores[kind]
            sd = statistics.stdev(v) if len(v) > 1 else float("nan")
            label = MODELS[key][0] if kind == "earlier" else ""
            print(f"{label:38s} {name if kind == 'earlier' else '':10s} {kind:8s} "
                  f"{statistics.mean(v):6.3f} {sd:6.3f} {min(v):6.3f} {max(v):6.3f}  "
                  f"{secs[kind]:7.1f}")
        diff = statistics.mean(scores["new"]) - statistics.mean(scores["earlier"])
        spread = max(statistics.stdev(scores[k]) if len(seeds) > 1 else 0.0
                     for k in scores)
        inside = min(scores["earlier"]) <= statistics.mean(scores["new"]) <= max(
            scores["earlier"])
        print(f"{'':38s} {'':10s} {'new-old':8s} {diff:+6.3f}  (|difference| <= the larger "
              f"sd {spread:.3f}: {'yes' if abs(diff) <= spread else 'no'}; new mean inside the "
              f"earlier step's seed range: {'yes' if inside else 'no'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="steps per timing round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--accuracy", action="store_true",
                    help="also train with both steps over seeds and compare test accuracy")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per training (--accuracy)")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (--accuracy)")
    args = ap.parse_args()
    args.threads = configure_threads(args.threads)
    datasets = {"avdigits": load("avdigits", seed=0)}
    if args.accuracy:
        datasets["avdigits3"] = load("avdigits3", seed=0)
    throughput(args, datasets)
    if args.accuracy:
        accuracy(args, datasets)


if __name__ == "__main__":
    main()
