"""Train the models a study needs in parallel, into a model store, before the study runs.

A study (notebooks 01, 03, 04, 06, 07) trains teachers and students that do not depend on each
other across seeds and methods. :func:`pretrain` turns the study's own inputs into jobs (a
teacher job per seed, modality and size; a method job per seed and method, after its seed's
teachers) and runs them on Dask workers (:func:`mindkit.parallel.run_tasks`), each job
training through exactly the code the serial path uses (:func:`train_teachers`,
:func:`run_method`) into the shared :class:`~mindkit.train.store.ModelStore`. The study then
runs as before and finds every model in the store, so its results are those of the serial path
at the same seeds, by construction (a test checks it). A job sends only a recipe (dataset name,
options, seed, subsample, paired share; settings; training config): each worker rebuilds the
dataset, once per worker, and loads the teachers from the store.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Sequence

from mindkit.data import load
from mindkit.data.scarcity import with_paired_share
from mindkit.distill.methods import MethodContext, needs_teachers, parse_method, run_method
from mindkit.distill.recipes import stored_teacher_job, teacher_scores, train_teachers
from mindkit.distill.recipes import teacher_config as size_config
from mindkit.parallel import Task, resolve_workers, run_tasks
from mindkit.train.store import ModelStore
from mindkit.train.trainer import TrainConfig


@dataclass(frozen=True)
class DataRecipe:
    """How to rebuild a dataset anywhere: ``load(name, seed=seed, **options)``, subsampled to
    ``max_per_split`` (with ``seed``), then with ``paired_share`` of its paired training
    samples kept paired (:func:`mindkit.data.scarcity.with_paired_share`), as the studies do."""

    name: str
    options: str = "{}"  # JSON, so the recipe is hashable
    seed: int = 0
    max_per_split: int | None = None
    paired_share: float = 1.0

    def build(self):
        return _build(self)

    def full(self) -> "DataRecipe":
        return replace(self, paired_share=1.0)


@functools.lru_cache(maxsize=8)
def _build(recipe: DataRecipe):
    ds = load(recipe.name, seed=recipe.seed, **json.loads(recipe.options))
    if recipe.max_per_split:
        ds = ds.subsample(recipe.max_per_split, recipe.seed)
    return with_paired_share(ds, recipe.paired_share, recipe.seed)


def recipe(dataset: str, seed: int, dataset_options: dict | None = None,
           max_per_split: int | None = None, paired_share: float = 1.0) -> DataRecipe:
    return DataRecipe(dataset, json.dumps(dataset_options or {}, sort_keys=True), int(seed),
                      max_per_split, float(paired_share))


def _teachers(data: DataRecipe, sizes: tuple, config: TrainConfig, store_root: str):
    """The teachers of ``data``'s full dataset, through the store (trained or found)."""
    ds = data.full().build()
    nets, rows = train_teachers(ds, list(sizes), config=config, progress=False,
                                store=ModelStore(store_root))
    return nets, teacher_scores(rows)


def teacher_job(data: DataRecipe, modality: str, size: str, config: TrainConfig,
                store_root: str) -> str:
    """One teacher of ``data``'s full dataset (``config`` already the size's own,
    :func:`~mindkit.distill.recipes.teacher_config`), into the store."""
    return stored_teacher_job(store_root, data.full().build(), modality, size, None, config)


def method_job(name: str, data: DataRecipe, sizes: tuple, teacher_config: TrainConfig | None,
               student_config: TrainConfig, context: dict, store_root: str) -> str:
    """Train method ``name`` as the studies do: the context of ``data``'s (full) teachers, the
    dataset of ``data`` (with its paired share), ``context`` settings, into the store."""
    nets, scores = (_teachers(data, sizes, teacher_config, store_root)
                    if teacher_config is not None else ({}, {}))
    ctx = MethodContext(data.build(), nets, scores, student_config, progress=False,
                        store=ModelStore(store_root), **context)
    return run_method(name, ctx)[1].source


def pretrain(dataset: str, seeds: Sequence[int], methods: Sequence[str], workers: int,
             dataset_options: dict | None = None, max_per_split: int | None = None,
             teacher_sizes: Sequence[str] = ("xs", "s", "m"),
             teacher_config: TrainConfig | None = None,
             student_config: TrainConfig | None = None, paired_shares: Sequence[float] = (),
             share_methods: Sequence[str] = (), progress: bool = True, **context) -> dict:
    """Train, in parallel into ``store``, every teacher and student that a study over
    ``seeds`` x ``methods`` needs (and, for the scarcity curve, ``share_methods`` at each of
    ``paired_shares`` below 1), exactly as :func:`mindkit.studies.models.models_for_seed` and
    :func:`mindkit.studies.compare.compare_methods` would train them one by one. Teachers are
    trained only for seeds where some method distils from them. ``context``: MethodContext
    settings (alpha, T, ...) with ``store``, the :class:`~mindkit.train.store.ModelStore`.
    Does nothing with ``workers`` 0 or 1 or without a store: the study then trains serially
    as before. Returns ``{job: source}``."""

    store = context.get("store")
    if store is None or resolve_workers(workers) <= 1:
        return {}
    for m in [*methods, *share_methods]:
        parse_method(m)  # fail before any job on an unknown name
    t_cfg, s_cfg = teacher_config or TrainConfig(), student_config or TrainConfig()
    context = {k: v for k, v in context.items() if k not in ("store", "progress")}
    sizes, root = tuple(teacher_sizes), str(store.root)
    tasks = []
    for seed in seeds:
        data = recipe(dataset, seed, dataset_options, max_per_split)
        teachers = any(map(needs_teachers, [*methods, *share_methods]))
        tcfg = replace(t_cfg, seed=seed) if teachers else None
        after: tuple = ()
        if teachers:
            for m in data.build().modality_names:
                for i, size in enumerate(sizes):
                    after += (f"teacher {m}/{size} seed {seed}",)
                    tasks.append(Task(after[-1], teacher_job,
                                      (data, m, size, size_config(tcfg, i), root)))
        scfg = replace(s_cfg, seed=seed)
        jobs = [(m, data) for m in methods] + [
            (m, replace(data, paired_share=float(q))) for q in paired_shares if float(q) < 1
            for m in share_methods]
        for m, d in jobs:
            share = "" if d.paired_share == 1 else f" paired {d.paired_share:g}"
            tasks.append(Task(f"{m} seed {seed}{share}", method_job,
                              (m, d, sizes, tcfg, scfg, dict(context), root), after))
    return run_tasks(tasks, workers, progress, label="train")


__all__ = ["DataRecipe", "method_job", "pretrain", "recipe", "teacher_job"]
