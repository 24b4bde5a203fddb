"""Reuse trained models across notebooks: find a method's student or the teachers in earlier
runs, refuse stale ones, train only what is missing; and the train-time scarcity curve.

Notebook 02 saves its students in ``run_dir/students/<method>.safetensors``, notebook 03 (through
:func:`mindkit.distill.compare.compare_methods`) in ``run_dir/03/seed<k>/students``, and notebook
01 its teachers in ``run_dir/teachers``. A checkpoint is reused only when it was made for the same
dataset and split (provenance), by the same method with the same settings and the same student
architecture; otherwise the reason is said in a warning and the model is trained anew.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from mindkit.data import load
from mindkit.data.scarcity import paired_count, with_paired_share
from mindkit.distill.jobs import pretrain
from mindkit.distill.methods import (
    STEP_LOGS,
    MethodContext,
    build_method,
    needs_teachers,
    run_method,
    step_log_path,
)
from mindkit.distill.recipes import load_teacher_nets, train_teachers
from mindkit.evaluate.heads import evaluate_student
from mindkit.models.build import model_config
from mindkit.provenance import StaleStateError
from mindkit.train.checkpoint import checkpoint_path, load_model, read_meta
from mindkit.train.trainer import TrainConfig


class ReuseWarning(UserWarning):
    """A saved model was found but could not be reused (the reason is in the message)."""


def find_teachers(ds, sizes: Sequence[str], dirs: Sequence[str | Path]):
    """``(nets, scores, dir)`` from the first of ``dirs`` holding teachers of ``sizes`` made for
    ``ds`` (:func:`load_teacher_nets`), or ``None``. A stale folder is named in a warning."""
    for d in dirs:
        try:
            nets, scores = load_teacher_nets(d, ds, sizes)
            return nets, scores, Path(d)
        except FileNotFoundError:
            continue
        except StaleStateError as err:
            warnings.warn(f"not reusing the teachers in {d}: {err}", ReuseWarning, stacklevel=2)
    return None


def _settings_match(meta: dict, method) -> str | None:
    """Why the checkpoint ``meta`` does not hold ``method``'s student (None when it does)."""
    if meta.get("method") != method.name:
        return f"it was made by method {meta.get('method')!r}, not {method.name!r}"
    saved = json.loads(json.dumps(meta.get("settings", {}), default=str))
    now = json.loads(json.dumps(method.settings(), default=str))
    if saved != now:
        return f"its settings {saved} differ from the ones asked for {now}"
    if meta.get("model") != model_config(method.student):
        return "its student architecture differs from the one asked for"
    return None


def load_or_train(name: str, ctx: MethodContext, search: Sequence[str | Path] = (),
                  save_to: str | Path | None = None):
    """``(student, info)`` for method ``name`` on ``ctx.dataset``: loaded from the first
    ``<dir>/<name>.safetensors`` in ``search`` that matches (module docstring), else trained
    with :func:`run_method` and saved to ``save_to/<name>``. ``info["source"]`` says which. A
    checkpoint that cannot vouch for itself (damaged, altered, swapped, old-format) is reported
    in a :class:`ReuseWarning` and retrained, never loaded half-way. With a model store
    (``ctx.store``) the store decides (:func:`run_method`): ``search`` is not looked at, and
    ``save_to/<name>`` gets links to the stored files."""
    if ctx.store is not None:
        return run_method(name, ctx, None if save_to is None else Path(save_to) / name)
    method = None
    for d in search:
        path = checkpoint_path(Path(d) / name)
        if not path.exists() and not path.with_suffix(".pt").exists():
            continue
        try:
            meta = read_meta(path)
        except StaleStateError as err:
            warnings.warn(f"not reusing {path}: {err}; training {name!r} anew", ReuseWarning,
                          stacklevel=2)
            continue
        method = method or build_method(name, ctx)
        why = _settings_match(meta, method)
        if why is None:
            try:
                model = load_model(path, map_location=ctx.config.device, dataset=ctx.dataset)
            except StaleStateError as err:
                why = str(err)
            else:
                logs = {k: step_log_path(path, k) for k in STEP_LOGS}
                return model, {"source": str(path), "settings": meta.get("settings", {}),
                               **{f"{k}_log": pd.read_csv(f) if f.exists() else None
                                  for k, f in logs.items()},
                               "params": sum(p.numel() for p in model.parameters()),
                               "best_epoch": meta.get("best_epoch"),
                               "val_score": meta.get("best_val_score"),
                               "epochs_run": meta.get("epochs_run"),
                               "still_improving": meta.get("still_improving")}
        warnings.warn(f"not reusing {path}: {why}; training {name!r} anew", ReuseWarning,
                      stacklevel=2)
    ckpt = None if save_to is None else Path(save_to) / name
    model, info = run_method(name, ctx, checkpoint=ckpt)
    return model, {**info, "source": "trained"}


@dataclass
class SeedModels:
    """One seed's dataset, method context, teachers' folder and students (with their info)."""

    dataset: object
    ctx: MethodContext
    teacher_dir: Path
    students: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def models_for_seed(dataset: str, seed: int, methods: Sequence[str], run_dir: str | Path,
                    run_seed: int | None = None, dataset_options: dict | None = None,
                    max_per_split: int | None = None,
                    teacher_sizes: Sequence[str] = ("xs", "s", "m"),
                    teacher_config: TrainConfig | None = None,
                    student_config: TrainConfig | None = None, progress: bool = True,
                    stage: str = "04", **context) -> SeedModels:
    """The dataset of ``seed`` (subsampled to ``max_per_split`` when given, as quick notebooks
    do), its teachers and the students of ``methods``, reused from earlier notebooks where they
    match and trained otherwise (saved under ``run_dir/04/seed<k>``). Teachers: notebook 01's
    ``run_dir/teachers`` (only for ``run_seed``, the seed notebook 01 used), notebook 03's
    ``run_dir/03/seed<k>/teachers``, then ``run_dir/04/seed<k>/teachers`` and
    ``run_dir/06/seed<k>/teachers``. Students: notebook 02's ``run_dir/students`` (``run_seed``
    only), then ``run_dir/<03|04|06>/seed<k>/students``. ``stage`` names the calling notebook's
    folder (``run_dir/<stage>/seed<k>``, default ``"04"``) where whatever is trained is saved
    (and searched last). Teachers are looked up only when a method distils from them.
    ``context`` sets :class:`MethodContext` fields."""
    run_dir = Path(run_dir)
    ds = load(dataset, seed=seed, **(dataset_options or {}))
    if max_per_split:
        ds = ds.subsample(max_per_split, seed)
    own = run_dir / stage / f"seed{seed}"
    mine = seed == run_seed
    stages = ["03"] + [st for st in ("04", "06") if st != stage]
    t_dirs = ([run_dir / "teachers"] if mine else []) + [
        run_dir / st / f"seed{seed}" / "teachers" for st in stages] + [own / "teachers"]
    store = context.get("store")
    if not any(map(needs_teachers, methods)):
        found = ({}, {}, None)  # e.g. the pooled-bottleneck methods distil from themselves
    else:  # with a store, the store decides (same config: same teachers), not the folders
        found = find_teachers(ds, teacher_sizes, t_dirs) if store is None else None
    if found is None:
        cfg = replace(teacher_config or TrainConfig(), seed=seed)
        nets, rows = train_teachers(ds, teacher_sizes, config=cfg, out_dir=own / "teachers",
                                    progress=progress, store=store)
        scores = {m: [r["val_score"] for r in rows if r["modality"] == m] for m in nets}
        found = nets, scores, own / "teachers"
    nets, scores, tdir = found
    ctx = MethodContext(ds, nets, scores, replace(student_config or TrainConfig(), seed=seed),
                        progress=progress, **context)
    out = SeedModels(ds, ctx, tdir)
    s_dirs = ([run_dir / "students"] if mine else []) + [
        run_dir / st / f"seed{seed}" / "students" for st in stages] + [own / "students"]
    for name in methods:
        out.students[name], out.info[name] = load_or_train(name, ctx, s_dirs, own / "students")
    return out


def models_for_seeds(dataset: str, seeds: Sequence[int], methods: Sequence[str],
                     run_dir: str | Path, workers: int = 0, paired_shares: Sequence[float] = (),
                     share_methods: Sequence[str] = (), **kwargs) -> dict[int, SeedModels]:
    """:func:`models_for_seed` for each of ``seeds`` (``kwargs`` as there, ``store`` among
    them). With a store and ``workers`` > 1 (-1: one per core), every teacher and student those
    calls need, and ``share_methods`` retrained at each of ``paired_shares`` (what
    :func:`scarcity_curve` will ask for), is first trained in parallel into the store
    (:func:`mindkit.distill.jobs.pretrain`); the calls then find them there."""
    keys = ("dataset_options", "max_per_split", "teacher_sizes", "teacher_config",
            "student_config", "progress")
    context = {k: v for k, v in kwargs.items() if k not in keys + ("run_seed", "stage")}
    pretrain(dataset, seeds, methods, workers, paired_shares=paired_shares,
             share_methods=share_methods, **{k: kwargs[k] for k in keys if k in kwargs},
             **context)
    return {s: models_for_seed(dataset, s, methods, run_dir, **kwargs) for s in seeds}


@dataclass
class ScarcityResult:
    records: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)


def scarcity_curve(ctx: MethodContext, methods: Sequence[str], shares: Sequence[float],
                   seed: int, full: dict | None = None, n_boot: int = 1000,
                   save_to: str | Path | None = None, **fields) -> ScarcityResult:
    """Train each method with a share ``q`` of the paired training samples kept paired (the rest
    as single-modality samples, :func:`mindkit.data.scarcity.with_paired_share`) and score it
    on the unchanged test split. ``full`` maps a method to its already trained full-data
    student, used at ``q = 1`` instead of retraining. Records carry ``paired_share``,
    ``n_paired_train`` and ``statistic="scarcity_curve"``."""
    ds = ctx.dataset
    shares = [float(q) for q in shares]
    if any(not 0 < q <= 1 for q in shares):
        raise ValueError(f"paired shares must lie in (0, 1], got {shares}")
    out = ScarcityResult()
    for q in shares:
        ds_q = with_paired_share(ds, q, seed)
        ctx_q = replace(ctx, dataset=ds_q)
        for name in methods:
            if q == 1.0 and full and name in full:
                model, info = full[name], {"source": "full-data student"}
            else:
                ckpt = None if save_to is None else Path(save_to) / f"share{q:g}"
                model, info = load_or_train(name, ctx_q, [ckpt] if ckpt else (), ckpt)
            n_pairs = paired_count(ds_q["train"])
            out.runs.append({"method": name, "paired_share": q, "n_paired_train": n_pairs,
                             "seed": seed, "source": info.get("source"),
                             "still_improving": info.get("still_improving")})
            out.records += evaluate_student(
                model, ds["test"], ds.task, n_boot, seed, method=name, seed=seed,
                paired_share=q, n_paired_train=n_pairs, statistic="scarcity_curve", **fields)
    return out


__all__ = ["ReuseWarning", "ScarcityResult", "SeedModels", "find_teachers", "load_or_train",
           "models_for_seed", "models_for_seeds", "scarcity_curve"]
