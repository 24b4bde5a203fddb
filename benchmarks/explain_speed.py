"""Speed of mindkit.explain on a two-modality MIND student: Shapley values and integrated gradients.

On AV-Digits (real data, default difficulty, seed 0) with notebook 02's MIND student (and its
teachers) times, on CPU with 2 threads by default (the CI machine's cores):
  1. modality Shapley values (exact Captum ShapleyValues, baseline "absent": the student's own
     missing-modality path, the training-set prior with nothing left) for 1,000 samples
                                                                      goal < 30 s
     and, for comparison, baseline "zero" (ShapleyValues with a cross-tensor feature mask)
     and leave-one-out ablation (method "ablation", Captum FeatureAblation) on the same samples;
  2. integrated gradients (n_steps 50) over the image input of the student's image head for
     100 images                                                       goal < 30 s
     and the same for the audio head (100 clips) and for the image teacher ensemble.
AV-Digits' test split has 750 samples, so the 1,000 samples are the 750 test rows followed by
the first 250 validation rows (said in the output). Each figure is the median and the min of
--repeats timed calls (time.perf_counter) after one untimed warm-up call. Beside each time the
output's own check is printed, so the time is that of correct output: for Shapley values the
largest |sum of a sample's values - (full - none)| (0 up to rounding by efficiency; leave-one-out
ablation need not sum to it), for integrated gradients the median relative convergence delta
(|delta| / sum |attribution|, shrinking with n_steps).

Models come from --run-dir (notebook 02's students in run_dir/students, notebook 01's teachers in
run_dir/teachers) through mindkit.studies.models.models_for_seed; what does not match is trained
(--epochs epochs, so a fallback takes minutes, not an hour) and saved under
run_dir/04/seed<k>; the output says which models were loaded and which trained.

    python benchmarks/explain_speed.py [--run-dir runs/lab] [--seed 0] [--epochs 3]
        [--threads 2] [--repeats 3] [--samples 1000] [--ig-samples 100] [--n-steps 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

SHAPLEY_GOAL_S = 30.0  # modality Shapley values of --samples samples, at most
IG_GOAL_S = 30.0  # integrated gradients of --ig-samples images, at most


def concat_splits(a, b, name: str):
    """One Split holding the rows of ``a`` followed by those of ``b`` (same modalities)."""
    from mindkit.data.base import Split

    return Split({m: torch.cat([a.inputs[m], b.inputs[m]]) for m in a.inputs},
                 {m: torch.cat([a.present[m], b.present[m]]) for m in a.present},
                 torch.cat([a.y, b.y]), torch.cat([a.ids, b.ids]),
                 {m: torch.cat([a.lengths[m], b.lengths[m]]) for m in a.lengths}, name)


def explain_split(ds, n: int):
    """``(split, description)``: ``n`` samples, the test split's rows first, then validation
    rows when the test split has fewer."""
    test, val = ds["test"], ds["val"]
    if n <= len(test):
        return test.subset(torch.arange(n), "test"), f"the first {n} of {len(test)} test rows"
    extra = n - len(test)
    if extra > len(val):
        raise SystemExit(f"--samples {n} exceeds the test and validation rows together "
                         f"({len(test) + len(val)})")
    split = concat_splits(test, val.subset(torch.arange(extra)), "test+val")
    dup = len(split) - int(torch.unique(split.ids).numel())
    return split, (f"{len(test)} test rows + the first {extra} of {len(val)} validation rows "
                   f"(the test split has only {len(test)}; {dup} duplicate ids)")


def timed(fn, repeats: int):
    """``(last result, [seconds of each repeat])`` after one untimed warm-up call."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def load_models(run_dir: Path, seed: int, epochs: int):
    """Notebook 02's MIND student and its teachers for ``seed``, loaded or (briefly) trained;
    ``(SeedModels, origin lines)``."""
    from mindkit.studies.models import models_for_seed
    from mindkit.train import TrainConfig

    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sm = models_for_seed("avdigits", seed, ["mind"], run_dir, run_seed=seed,
                             teacher_config=TrainConfig(epochs=epochs),
                             student_config=TrainConfig(epochs=epochs), progress=False)
    took = time.time() - t0
    t_new = [p for p in sm.teacher_dir.glob("*.safetensors") if p.stat().st_mtime >= t0]
    teachers = (f"trained now ({epochs} epoch(s)) and saved to {sm.teacher_dir}" if t_new
                else f"loaded from {sm.teacher_dir}")
    src = sm.info.mind.get("source", "?")
    student = (f"trained now ({epochs} epoch(s)) and saved under {run_dir / '04' / f'seed{seed}'}"
               if src == "trained" else f"loaded from {src}")
    lines = [f"teachers: {teachers}", f"student (mind): {student}",
             f"(loading/training took {took:.1f} s)"]
    for w in caught:
        if issubclass(w.category, UserWarning) and "reus" in str(w.message):
            lines.append(f"note: {w.message}")
    return sm, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run-dir", default="runs/lab",
                    help="notebook 01/02 run folder (teachers/, students/); missing models are "
                         "trained and saved under RUN_DIR/04/seed<k>")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (and notebook run seed)")
    ap.add_argument("--epochs", type=int, default=3,
                    help="epochs of a fallback training of teachers and student")
    ap.add_argument("--threads", type=int, default=2, help="torch threads while timing")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls after one warm-up")
    ap.add_argument("--samples", type=int, default=1000, help="samples for modality Shapley")
    ap.add_argument("--ig-samples", type=int, default=100,
                    help="samples for integrated gradients, per modality")
    ap.add_argument("--n-steps", type=int, default=50, help="integrated-gradients steps")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    torch.set_num_threads(args.threads)

    import captum

    from mindkit.explain import class_prior, input_attributions, modality_attributions

    load_start = os.getloadavg()[0]
    run_dir = Path(args.run_dir)
    sm, origin = load_models(run_dir, args.seed, args.epochs)
    ds, student = sm.dataset, sm.students["mind"]
    student.eval()
    ensembles = sm.ctx.ensembles()
    task = ds.task
    prior = class_prior(ds["train"], task, ds.num_outputs)
    split, split_note = explain_split(ds, args.samples)
    test = ds["test"]

    rows = []

    def add(name, n, times, goal, check_name, check_value):
        med = statistics.median(times)
        rows.append({"task": name, "samples": n, "median s": med, "min s": min(times),
                     "goal s": goal if goal is not None else float("nan"),
                     "ok": ("yes" if med <= goal else "NO") if goal is not None else "",
                     "check": check_name, "value": check_value})

    shapley_cases = [
        ("Shapley absent", dict(baseline="absent", method="shapley"), SHAPLEY_GOAL_S),
        ("Shapley zero", dict(baseline="zero", method="shapley"), None),
        ("ablation absent (LOO)", dict(baseline="absent", method="ablation"), None),
    ]
    for name, kw, goal in shapley_cases:
        attr, times = timed(lambda: modality_attributions(student, split, task, prior=prior,
                                                          **kw), args.repeats)
        label = ("max |gap|" if kw["method"] == "shapley"
                 else "max |gap| (LOO: need not be 0)")
        add(f"{name} [{attr.method}]", len(attr), times, goal, label,
            float(attr.gap.abs().max()))

    ig_cases = [
        ("IG image, student image head", student, "image", IG_GOAL_S),
        ("IG audio, student audio head", student, "audio", None),
        (f"IG image, teacher ensemble ({len(ensembles['image'].members)} nets)",
         ensembles["image"], "image", None),
    ]
    for name, model, m, goal in ig_cases:
        attr, times = timed(lambda: input_attributions(model, test, m, task,
                                                       n_steps=args.n_steps,
                                                       max_samples=args.ig_samples),
                            args.repeats)
        add(name, len(attr), times, goal, "median rel. delta",
            float(attr.relative_delta().median()))

    print(f"AV-Digits (default difficulty, seed {args.seed}), run dir {run_dir}; "
          f"torch {torch.__version__}, captum {captum.__version__}, "
          f"{torch.get_num_threads()} thread(s); median and min of {args.repeats} timed call(s) "
          "after one warm-up")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load_start:.2f} before and "
          f"{os.getloadavg()[0]:.2f} after timing (other work on the cores shows as median >> min)")
    for line in origin:
        print(line)
    print(f"Shapley/ablation samples ({len(split)}): {split_note}; "
          f"prior: training-set class frequencies ({len(ds['train'])} rows)")
    print(f"integrated gradients: {args.n_steps} steps, up to {args.ig_samples} test samples "
          f"that have the modality (seeded choice), target the true class, output prob")
    df = pd.DataFrame(rows)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-"))
    for r in rows:
        if r["ok"]:
            print(f"goal {r['task']}: median {r['median s']:.2f} s <= {r['goal s']:g} s "
                  f"for {r['samples']} samples: {'met' if r['ok'] == 'yes' else 'NOT met'}")


if __name__ == "__main__":
    main()
