"""Reuse trained models across the notebooks of a study: find a method's student or the teachers
in earlier runs, refuse stale ones, train only what is missing, seed by seed.

Notebook 02 saves its students in ``run_dir/students/<method>.safetensors``, notebook 03 (through
:func:`mindkit.studies.compare.compare_methods`) in ``run_dir/03/seed<k>/students``, and notebook
01 its teachers in ``run_dir/teachers``. Which stage folders are searched, and where a stage saves
what it trains, is this module's :data:`STAGES` and :data:`DEFAULT_STAGE` (the studies' own
defaults; the method layer knows no notebook). A checkpoint is reused only when it was made for the
same dataset and split (provenance), by the same method with the same settings and the same student
architecture; otherwise the reason is said in a warning and the model is trained anew.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from mindkit.common import KitWarning
from mindkit.data import load
from mindkit.distill.methods import (
    MethodContext,
    build_method,
    needs_teachers,
    read_step_logs,
    run_method,
)
from mindkit.distill.recipes import load_teacher_nets, teacher_scores, train_teachers
from mindkit.models.build import model_config
from mindkit.provenance import StaleStateError
from mindkit.studies.jobs import pretrain
from mindkit.train.checkpoint import checkpoint_path, load_model, read_meta
from mindkit.train.trainer import RunInfo, TrainConfig

# the stage folders (``run_dir/<stage>/seed<k>``) of the notebooks that train per seed, searched in
# this order for reusable teachers and students; a notebook saves into its own stage folder
STAGES = ("03", "04", "06")
DEFAULT_STAGE = "04"


class ReuseWarning(KitWarning):
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


def teachers_for(ds, sizes: Sequence[str], config: TrainConfig, search: Sequence[str | Path],
                 out_dir: Path, progress: bool = True, store=None):
    """``(nets, scores, dir)``: the teachers of ``sizes`` for every modality of ``ds``, from
    the first folder of ``search`` that holds them for this dataset and split
    (:func:`find_teachers`), else trained with ``config`` and saved to ``out_dir``. With a
    ``store`` (a :class:`~mindkit.train.store.ModelStore`) the store decides (same config:
    same teachers), not the folders."""
    found = find_teachers(ds, sizes, search) if store is None else None
    if found is not None:
        return found
    nets, rows = train_teachers(ds, list(sizes), config=config, out_dir=out_dir,
                                progress=progress, store=store)
    return nets, teacher_scores(rows), Path(out_dir)


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
    with :func:`run_method` and saved to ``save_to/<name>``. ``info.source`` says which. A
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
                return model, RunInfo.from_meta(
                    meta, str(path), params=sum(p.numel() for p in model.parameters()),
                    step_logs=read_step_logs(path))
        warnings.warn(f"not reusing {path}: {why}; training {name!r} anew", ReuseWarning,
                      stacklevel=2)
    ckpt = None if save_to is None else Path(save_to) / name
    return run_method(name, ctx, checkpoint=ckpt)


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
                    stage: str = DEFAULT_STAGE, **context) -> SeedModels:
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
    stages = [st for i, st in enumerate(STAGES) if i == 0 or st != stage]  # the first: always
    t_dirs = ([run_dir / "teachers"] if mine else []) + [
        run_dir / st / f"seed{seed}" / "teachers" for st in stages] + [own / "teachers"]
    store = context.get("store")
    if not any(map(needs_teachers, methods)):
        nets, scores, tdir = {}, {}, None  # e.g. the pooled-bottleneck methods need none
    else:
        nets, scores, tdir = teachers_for(ds, teacher_sizes,
                                          replace(teacher_config or TrainConfig(), seed=seed),
                                          t_dirs, own / "teachers", progress, store)
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
    :func:`mindkit.studies.scarcity.scarcity_curve` will ask for), is first trained in parallel into
    the store (:func:`mindkit.studies.jobs.pretrain`); the calls then find them there."""
    keys = ("dataset_options", "max_per_split", "teacher_sizes", "teacher_config",
            "student_config", "progress")
    context = {k: v for k, v in kwargs.items() if k not in keys + ("run_seed", "stage")}
    pretrain(dataset, seeds, methods, workers, paired_shares=paired_shares,
             share_methods=share_methods, **{k: kwargs[k] for k in keys if k in kwargs},
             **context)
    return {s: models_for_seed(dataset, s, methods, run_dir, **kwargs) for s in seeds}


__all__ = ["DEFAULT_STAGE", "STAGES", "ReuseWarning", "SeedModels", "find_teachers",
           "load_or_train", "models_for_seed", "models_for_seeds", "teachers_for"]
