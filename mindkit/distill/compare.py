"""Run several methods over several seeds on one dataset and collect tidy records.

Per seed: the dataset is built with that seed (splits, pairing), teachers of each size are
trained (or reloaded from ``run_dir/seed<k>/teachers``), then every method is trained and scored
per head on the test split with bootstrap CIs. Aggregate with
:func:`mindkit.evaluate.aggregate.seed_aggregate`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from mindkit.data import load
from mindkit.distill.methods import MethodContext, parse_method, run_method
from mindkit.distill.recipes import train_teachers
from mindkit.encoders import count_parameters
from mindkit.evaluate.heads import evaluate_student
from mindkit.train.checkpoint import load_model, read_meta
from mindkit.train.trainer import TrainConfig


def _teachers(ds, sizes, config, out_dir: Path, progress: bool):
    paths = {(m, s): out_dir / f"{m}_{s}.pt" for m in ds.modality_names for s in sizes}
    if all(p.exists() for p in paths.values()):
        nets = {m: [load_model(paths[(m, s)]) for s in sizes] for m in ds.modality_names}
        scores = {m: [float(read_meta(paths[(m, s)])["best_val_score"]) for s in sizes]
                  for m in ds.modality_names}
        return nets, scores
    nets, rows = train_teachers(ds, sizes, config=config, out_dir=out_dir, progress=progress)
    scores = {m: [r["val_score"] for r in rows if r["modality"] == m] for m in nets}
    return nets, scores


def compare_methods(dataset: str, methods: Sequence[str], seeds: Sequence[int],
                    run_dir: str | Path, dataset_options: dict | None = None,
                    max_per_split: int | None = None,
                    teacher_sizes: Sequence[str] = ("xs", "s", "m"),
                    teacher_config: TrainConfig | None = None,
                    student_config: TrainConfig | None = None, alpha: float = 0.5,
                    T: float = 2.0, student_size: str = "xs", n_boot: int = 1000,
                    progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Returns ``(records, runs)``: metric records (one per method, seed, head, group and
    metric) and one row per trained method (seconds, best epoch, validation score)."""
    for m in methods:
        parse_method(m)  # fail before any training on an unknown name or bad setting
    teacher_config = teacher_config or TrainConfig()
    student_config = student_config or TrainConfig()
    records, runs = [], []
    for seed in seeds:
        ds = load(dataset, seed=seed, **(dataset_options or {}))
        if max_per_split:
            ds = ds.subsample(max_per_split, seed)
        out = Path(run_dir) / f"seed{seed}" / "teachers"
        nets, scores = _teachers(ds, list(teacher_sizes), replace(teacher_config, seed=seed),
                                 out, progress)
        ctx = MethodContext(ds, nets, scores, replace(student_config, seed=seed), alpha, T,
                            student_size, progress=progress)
        for name in methods:
            t0 = time.perf_counter()
            model, info = run_method(name, ctx)
            secs = time.perf_counter() - t0
            runs.append({"dataset": ds.display_name, "method": name, "seed": seed,
                         "train_s": secs, "params": count_parameters(model),
                         **{k: v for k, v in info.items() if k != "head_weights"}})
            settings = {"alpha": alpha, "T": T, **parse_method(name)[1]}
            records += evaluate_student(
                model, ds["test"], ds.task, n_boot=n_boot, boot_seed=seed,
                dataset=ds.display_name, method=name, model=type(model).__name__,
                seed=seed, params=count_parameters(model), **settings)
    return records, runs
