"""Student against teacher ensembles: size and CPU latency, measured in one run.

On AV-Digits (real data, default difficulty, seed 0) profiles, with mindkit.evaluate.profile,
the MultiHeadStudent (default size xs), each teacher (sizes xs, s, m per modality), each
per-modality ensemble and both ensembles together, all on the same samples (the test split's
samples that have both modalities), and prints, for each ensemble and for both together:
  1. parameter ratio student / ensemble                        goal <= 1/10
  2. latency speed-up (ensemble median / student median), batch 1     goal >= 5
  3. the same at batch 256                                     goal >= 5
Latency is the median of torch.utils.benchmark blocks (IQR printed beside it) with one thread by
default; the models are timed in interleaved rounds, so machine noise hits all of them.
Weights are random (untrained) unless --teacher-dir names trained teachers: parameter counts,
sizes, FLOPs and latency do not depend on the weights' values (these models have no
data-dependent control flow), so untrained nets measure the same thing.

    python benchmarks/student_vs_teachers.py [--student-size xs] [--threads 1]
        [--min-run-time 0.3] [--rounds 3] [--teacher-dir DIR]
"""

from __future__ import annotations

import argparse

import torch

from mindkit.data import load
from mindkit.evaluate.profile import profile_models, profile_ratios
from mindkit.models import MultiHeadStudent, TeacherEnsemble, UnimodalNet
from mindkit.notebook import configure_threads

PARAMS_GOAL = 0.10  # student params / ensemble params, at most
SPEEDUP_GOAL = 5.0  # ensemble latency / student latency, at least


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student-size", default="xs", help="student encoder preset")
    ap.add_argument("--teacher-sizes", default="xs,s,m", help="comma-separated teacher presets")
    ap.add_argument("--teacher-dir", default=None,
                    help="load trained teachers <modality>_<size>.safetensors from this folder")
    ap.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    ap.add_argument("--min-run-time", type=float, default=0.3,
                    help="seconds of timing per model, batch size and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    configure_threads(args.threads)
    sizes = [s.strip() for s in args.teacher_sizes.split(",") if s.strip()]

    ds = load("avdigits", seed=0)
    torch.manual_seed(0)
    if args.teacher_dir:
        from mindkit.distill.recipes import load_teacher_nets

        nets, _ = load_teacher_nets(args.teacher_dir, ds, sizes)
        origin = f"trained, from {args.teacher_dir}"
    else:
        nets = {m: [UnimodalNet(ds.modalities[m], ds.num_outputs, s) for s in sizes]
                for m in ds.modality_names}
        origin = "untrained (random weights)"
    student = MultiHeadStudent(ds.modalities, ds.num_outputs, args.student_size)
    ens = {m: TeacherEnsemble(nets[m], names=[f"{m}_{s}" for s in sizes])
           for m in ds.modality_names}

    models = {f"student {args.student_size}": student}
    for m in ds.modality_names:
        for s, net in zip(sizes, nets[m]):
            models[f"teacher {m} {s}"] = net
    for m in ds.modality_names:
        models[f"ensemble {m}"] = ens[m]
    models["all ensembles"] = ens
    split = ds[args.split]
    df = profile_models(models, split, batch_sizes=(1, 256), threads=args.threads,
                        min_run_time=args.min_run_time, rounds=args.rounds)

    print(f"AV-Digits (default difficulty, seed 0), split {args.split!r}: {df['samples'][0]} "
          f"samples with both modalities (batch 256 = the first 256); teachers {origin}; "
          f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds x "
          f"{args.min_run_time} s per model and batch size")
    print(f"{'model':<20} {'params':>8} {'size kB':>8} {'MFLOP/smp':>9} {'peak kB b1':>10} "
          f"{'peak kB b256':>12} {'b1 ms (IQR)':>16} {'b256 ms (IQR)':>17}")
    for _, r in df.iterrows():
        print(f"{r['model']:<20} {r['params']:>8,} {r['size_bytes'] / 1e3:>8.1f} "
              f"{r['flops_per_sample'] / 1e6:>9.3f} {r['peak_memory_bytes_b1'] / 1e3:>10.1f} "
              f"{r['peak_memory_bytes_b256'] / 1e3:>12.1f} "
              f"{r['latency_median_s_b1'] * 1e3:>8.3f} ({r['latency_iqr_s_b1'] * 1e3:.3f}) "
              f"{r['latency_median_s_b256'] * 1e3:>8.2f} ({r['latency_iqr_s_b256'] * 1e3:.2f})")
    uncounted = df[df["flops_uncounted"] != ""]
    for _, r in uncounted.iterrows():
        print(f"  note: FLOPs of {r['model']} miss ops without a formula: {r['flops_uncounted']}")

    against = [f"ensemble {m}" for m in ds.modality_names] + ["all ensembles"]
    ratios = profile_ratios(df, f"student {args.student_size}", against)
    print(f"\nstudent {args.student_size} against the ensembles (goals: params <= 1/10, "
          f"speed-up >= {SPEEDUP_GOAL:g}x at batch 1 and 256)")
    for _, r in ratios.iterrows():
        print(f"{r['model']:<16} params ratio {r['params_ratio']:.3f} "
              f"({_met(r['params_ratio'] <= PARAMS_GOAL)}); "
              f"speed-up b1 {r['speedup_b1']:.2f}x ({_met(r['speedup_b1'] >= SPEEDUP_GOAL)}), "
              f"b256 {r['speedup_b256']:.2f}x ({_met(r['speedup_b256'] >= SPEEDUP_GOAL)}); "
              f"FLOPs ratio {r['flops_ratio']:.3f}")


if __name__ == "__main__":
    main()
