"""Run several methods over several seeds on one dataset and collect tidy records.

Per seed: the dataset is built with that seed (splits, pairing), teachers of each size are
trained (or reloaded from ``run_dir/seed<k>/teachers`` when their provenance matches this
dataset and split), then every method is trained and scored per head on the test split with
bootstrap CIs. Each method's test predictions are kept in
``run_dir/seed<k>/predictions/<method>.parquet`` and its student in
``run_dir/seed<k>/students/<method>.safetensors`` (notebook 04 reuses them), so paired comparisons
(within a seed and pooled over seeds, :func:`mindkit.studies.claims.claim_table`) are
computed on the same samples.
Aggregate with :func:`mindkit.evaluate.aggregate.seed_aggregate`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from mindkit.atomic import write_text
from mindkit.data import load
from mindkit.distill.methods import MethodContext, parse_method, run_method
from mindkit.distill.mind import (
    WEIGHT_MODES,
    chance_level,
    modality_informed_weights,
    teacher_val_scores,
)
from mindkit.evaluate.heads import evaluate_student
from mindkit.provenance import dataset_provenance
from mindkit.studies.jobs import pretrain
from mindkit.studies.models import teachers_for
from mindkit.train.trainer import TrainConfig

# notebook 03's methods: CORE_DESIGN is its default (every claim of its claim table: KD helps,
# multi-head beats single-head, KD helps with late fusion; and the main ablations), FULL_DESIGN
# the whole study (its parameter full_design=True)
CORE_DESIGN = ("mind", "no_kd", "mind_no_unimodal_kd", "single_teacher_kd", "single_head_zero",
               "single_head_learned", "mind_late", "no_kd_late")
FULL_DESIGN = ("mind", "no_kd", "mind_no_unimodal_kd", "single_teacher_kd", "mind@alpha=0.2,T=1",
               "mind@alpha=0.8,T=4", "mind_size_xs", "mind_size_m", "mind_informed",
               "mind_balanced", "mind_paired_only", "mm_teacher_kd", "feature_kd",
               "single_head_zero", "single_head_learned", "single_head_ensemble_kd", "mind_early",
               "no_kd_early", "mind_late", "no_kd_late", "mind_attention", "no_kd_attention")


def predictions_path(run_dir: str | Path, seed: int, method: str) -> Path:
    return Path(run_dir) / f"seed{seed}" / "predictions" / f"{method}.parquet"


def compare_methods(dataset: str, methods: Sequence[str], seeds: Sequence[int],
                    run_dir: str | Path, dataset_options: dict | None = None,
                    max_per_split: int | None = None,
                    teacher_sizes: Sequence[str] = ("xs", "s", "m"),
                    teacher_config: TrainConfig | None = None,
                    student_config: TrainConfig | None = None, alpha: float = 0.5,
                    T: float = 2.0, student_size: str = "xs", n_boot: int = 1000,
                    progress: bool = True, workers: int = 0,
                    **context) -> tuple[list[dict], list[dict]]:
    """Returns ``(records, runs)``: metric records (one per method, seed, head, group and
    metric; KD settings only on KD methods; ``params`` = the deployed student's) and one row
    per trained method (seconds, best epoch, validation score, whether still improving).
    ``context`` sets other :class:`MethodContext` fields (e.g. ``head_weights="softmax"``)."""
    for m in methods:
        parse_method(m)  # fail before any training on an unknown name or bad setting
    teacher_config = teacher_config or TrainConfig()
    student_config = student_config or TrainConfig()
    pretrain(dataset, seeds, methods, workers, dataset_options,
             max_per_split, teacher_sizes, teacher_config, student_config, progress=progress,
             alpha=alpha, T=T, student_size=student_size, **context)
    records, runs = [], []
    for seed in seeds:
        ds = load(dataset, seed=seed, **(dataset_options or {}))
        if max_per_split:
            ds = ds.subsample(max_per_split, seed)
        out = Path(run_dir) / f"seed{seed}" / "teachers"
        nets, scores, _ = teachers_for(ds, list(teacher_sizes),
                                       replace(teacher_config, seed=seed), [out], out, progress,
                                       context.get("store"))
        ctx = MethodContext(ds, nets, scores, replace(student_config, seed=seed),
                            progress=progress, alpha=alpha, T=T, student_size=student_size,
                            **context)
        prov = dataset_provenance(ds)
        val = teacher_val_scores(ctx.ensembles(), ds)
        write_text(out.parent / "teacher_scores.json", json.dumps(val, indent=1))
        for name in methods:
            t0 = time.perf_counter()
            model, info = run_method(name, ctx,
                                     checkpoint=Path(run_dir) / f"seed{seed}" / "students" / name)
            secs = time.perf_counter() - t0
            row = {k: v for k, v in info.row().items() if k != "source"}
            runs.append({"dataset": ds.display_name, "method": name, "seed": seed,
                         "train_s": secs, **row, **info.settings})
            records += evaluate_student(
                model, ds["test"], ds.task, n_boot=n_boot, boot_seed=seed,
                predictions_to=predictions_path(run_dir, seed, name),
                provenance={**prov, "method": name},
                dataset=ds.display_name, method=name, model=type(model).__name__,
                seed=seed, params=info.params, **info.settings)
    return records, runs


def head_weight_table(run_dir: str | Path, seeds: Sequence[int], task: str, num_outputs: int,
                      sharpness: float = 0.1, modes: Sequence[str] = WEIGHT_MODES):
    """What each modality-informed mapping makes of the teacher ensembles' validation scores
    (``run_dir/seed<k>/teacher_scores.json``, written by :func:`compare_methods`): one row per
    seed and mode, one column per head."""
    import pandas as pd

    rows = []
    for seed in seeds:
        path = Path(run_dir) / f"seed{seed}" / "teacher_scores.json"
        if not path.exists():
            raise FileNotFoundError(f"no {path}: run compare_methods for seed {seed} first")
        scores = json.loads(path.read_text())
        for mode in modes:
            row = {"seed": seed, "mode": mode,
                   **{f"score {m}": v for m, v in sorted(scores.items())}}
            try:
                w = modality_informed_weights(scores, mode, sharpness=sharpness,
                                              chance=chance_level(task, num_outputs))
                row.update({f"weight {h}": round(v, 3) for h, v in w.items()})
            except ValueError as err:  # e.g. margin weights of a teacher at chance
                row["undefined"] = str(err)
            rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["CORE_DESIGN", "FULL_DESIGN", "compare_methods", "head_weight_table",
           "predictions_path", "teachers_for"]
