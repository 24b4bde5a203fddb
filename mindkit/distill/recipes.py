"""Recipes: train unimodal teacher ensembles, fit any method, distil into a student (MIND).

These are the calls the notebooks make. Each returns models plus tidy rows, so notebooks stay
thin. Every method is one object (:class:`mindkit.train.method.Method`) fitted by
:func:`fit_method`, the one training loop; checkpoints record their provenance.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch

from mindkit.common import TEACHERS_NOTEBOOK
from mindkit.data.base import MultimodalDataset
from mindkit.encoders import count_parameters
from mindkit.evaluate.heads import validation_score
from mindkit.evaluate.metrics import primary_metric
from mindkit.models.build import model_config
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, teacher_ensembles
from mindkit.parallel import Task, run_tasks
from mindkit.provenance import dataset_provenance
from mindkit.train.checkpoint import (
    WEIGHTS_EXT,
    CheckpointError,
    checkpoint_path,
    load_model,
    read_meta,
)
from mindkit.train.method import Method, Supervised
from mindkit.train.store import (
    ModelStore,
    dataset_ident,
    export,
    history_from,
    history_summary,
    train_ident,
)
from mindkit.train.trainer import Callback, History, TrainConfig, Trainer

# the notebook that trains the teachers is named where the notebooks are declared
TEACHER_FIX = (f"rerun notebooks/{TEACHERS_NOTEBOOK}.ipynb with this run_dir and dataset "
               "parameters, or use another run_dir")


def fit_method(method: Method, dataset: MultimodalDataset, config: TrainConfig | None = None,
               checkpoint: str | Path | None = None, callbacks: Sequence[Callback] = (),
               progress: bool = True, desc: str | None = None) -> History:
    """Train ``method`` on ``dataset["train"]``, selecting the epoch by the primary metric of
    its student on ``dataset["val"]`` (:func:`validation_score`). The checkpoint's JSON records
    the dataset's provenance, the training config and the method's settings."""
    config = config or TrainConfig()
    def score_fn(model):
        return validation_score(model, dataset["val"], dataset.task)

    trainer = Trainer(config, callbacks, progress, desc=desc or method.name)
    return trainer.fit(method, dataset["train"], score_fn=score_fn, checkpoint=checkpoint,
                       meta={"provenance": dataset_provenance(dataset)})


def train_teacher(dataset: MultimodalDataset, modality: str, size: str, arch: str | None = None,
                  config: TrainConfig | None = None, checkpoint: str | Path | None = None,
                  callbacks: Sequence[Callback] = (), progress: bool = True
                  ) -> tuple[UnimodalNet, History]:
    """Train one unimodal teacher on every train sample that has ``modality``.

    Early stopping and model selection use validation samples with that modality. No test
    sample is ever seen (splits are item-disjoint).
    """
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    model = UnimodalNet(dataset.modalities[modality], dataset.num_outputs, size, arch)
    method = Supervised(model, dataset.task, [modality])
    hist = fit_method(method, dataset, config, checkpoint, callbacks, progress,
                      desc=f"teacher {modality}/{size}")
    return model, hist


def teacher_spec(dataset: MultimodalDataset, modality: str, size: str, arch: str | None,
                 config: TrainConfig) -> dict:
    """A teacher's store spec (:mod:`mindkit.train.store`): the dataset's fingerprint, the
    network's config (modality spec, size, architecture, outputs) and the training config
    (the device left out)."""
    net = UnimodalNet(dataset.modalities[modality], dataset.num_outputs, size, arch)
    return {"kind": "teacher", "method": "supervised", "dataset": dataset_ident(dataset),
            "model": model_config(net), "train": train_ident(config)}


def train_teachers(dataset: MultimodalDataset, sizes: Sequence[str] = ("xs", "s", "m"),
                   modalities: Sequence[str] | None = None, archs: dict[str, str] | None = None,
                   config: TrainConfig | None = None, out_dir: str | Path | None = None,
                   progress: bool = True, store=None, workers: int = 0
                   ) -> tuple[dict[str, list[UnimodalNet]], list[dict]]:
    """Train a teacher of each size for each modality; checkpoints go to ``out_dir``
    (``<modality>_<size>.safetensors``). With ``store`` (a
    :class:`~mindkit.train.store.ModelStore`), a teacher the store holds is taken from it
    (``source`` says which) and one it lacks is trained into it; ``out_dir`` then gets links.
    With a store and ``workers`` > 1 (-1: one per core), the missing teachers are first
    trained in parallel, each on one worker process (:func:`mindkit.parallel.run_tasks`),
    through the same code as the serial loop, which then finds them all in the store.

    Returns the teachers per modality and one row per teacher (parameters, validation score,
    best epoch, training seconds, whether it was still improving, source).
    """
    config = config or TrainConfig()
    modalities = list(modalities or dataset.modality_names)
    archs = archs or {}
    teachers: dict[str, list[UnimodalNet]] = {}
    rows = []
    sources = {}
    if store is not None and workers:
        sources = run_tasks(
            [Task(_teacher_name(dataset, m, size, config.seed), stored_teacher_job,
                  (str(store.root), dataset, m, size, archs.get(m), teacher_config(config, i)))
             for m in modalities for i, size in enumerate(sizes)], workers, progress,
            label="teachers")
    for m in modalities:
        teachers[m] = []
        for i, size in enumerate(sizes):
            ckpt = None if out_dir is None else Path(out_dir) / f"{m}_{size}"
            cfg = teacher_config(config, i)
            if store is None:
                model, hist = train_teacher(dataset, m, size, archs.get(m), cfg, ckpt,
                                            progress=progress)
                source = "trained"
            else:
                model, hist, source = _stored_teacher(store, dataset, m, size, archs.get(m),
                                                      cfg, ckpt, progress)
                source = sources.get(_teacher_name(dataset, m, size, config.seed), source)
            teachers[m].append(model)
            rows.append({"modality": m, "size": size, "arch": model.encoder.__class__.__name__,
                         "params": count_parameters(model), "val_score": hist.best_score,
                         "metric": primary_metric(dataset.task), "best_epoch": hist.best_epoch,
                         "epochs_run": len(hist.records),
                         "still_improving": hist.still_improving,
                         "train_s": sum(r["train_s"] for r in hist.records), "source": source})
    return teachers, rows


def teacher_scores(rows: list[dict]) -> dict[str, list[float]]:
    """Each modality's teachers' validation scores, in training order, from
    :func:`train_teachers`' rows."""
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r["modality"], []).append(r["val_score"])
    return out


def teacher_config(config: TrainConfig, i: int) -> TrainConfig:
    """The training config of the ``i``-th size of a teacher set: its own seed,
    ``config.seed * 1000 + i``, so the sizes start from different weights."""
    return replace(config, seed=config.seed * 1000 + i)


def _teacher_name(dataset, modality: str, size: str, seed: int) -> str:
    return f"teacher {modality}/{size} {dataset.display_name} seed {seed}"


def stored_teacher_job(store_root: str, dataset, modality: str, size: str, arch: str | None,
                       cfg: TrainConfig) -> str:
    """One teacher trained into (or found in) the store at ``store_root``: a parallel job."""
    return _stored_teacher(ModelStore(store_root), dataset, modality, size, arch, cfg, None,
                           False)[2]


def _stored_teacher(store, dataset, modality, size, arch, cfg, ckpt, progress):
    fitted = {}

    def train(path):
        fitted["model"], fitted["hist"] = train_teacher(dataset, modality, size, arch, cfg, path,
                                                        progress=progress)
        return {"summary": history_summary(fitted["hist"]), "history": fitted["hist"].records}

    stored = store.get_or_train(
        teacher_spec(dataset, modality, size, arch, cfg), train,
        describe=f"teacher {modality}/{size} on {dataset.display_name}, seed {cfg.seed}",
        verify=lambda path: load_model(path, dataset=dataset, fix=TEACHER_FIX))
    if ckpt is not None:
        export(stored, ckpt)
    if stored.trained:
        return fitted["model"], fitted["hist"], stored.source
    return stored.loaded, history_from(stored.history, stored.summary), stored.source


def load_teacher_nets(teacher_dir: str | Path, dataset: MultimodalDataset,
                      sizes: Sequence[str] = ("xs", "s", "m"),
                      modalities: Sequence[str] | None = None
                      ) -> tuple[dict[str, list[UnimodalNet]], dict[str, list[float]]]:
    """The teachers ``<modality>_<size>.safetensors`` of ``teacher_dir`` for the sizes asked
    for, and their validation scores. A missing file is refused (``FileNotFoundError``) naming
    what the folder has; a damaged, altered, swapped or old-format checkpoint, a teacher of
    another modality or size than its file name says, or one made for other data (dataset,
    options, split, task, outputs) is refused (:class:`CheckpointError`, a
    ``StaleStateError``) naming the file, what differs and the fix."""
    teacher_dir = Path(teacher_dir)
    modalities = list(modalities or dataset.modality_names)
    paths = {(m, s): checkpoint_path(teacher_dir / f"{m}_{s}") for m in modalities
             for s in sizes}
    lacking = [p.name for p in paths.values()
               if not p.exists() and not p.with_suffix(".pt").exists()]
    if lacking:
        have = sorted(p.name for p in teacher_dir.glob(f"*{WEIGHTS_EXT}")
                      ) if teacher_dir.exists() else []
        raise FileNotFoundError(
            f"no teacher checkpoints {lacking} in {teacher_dir} (it has {have or 'none'}): "
            f"{TEACHER_FIX}, or ask for the sizes that were trained")
    nets: dict[str, list[UnimodalNet]] = {m: [] for m in modalities}
    scores: dict[str, list[float]] = {m: [] for m in modalities}
    for (m, s), path in paths.items():
        net = load_model(path, dataset=dataset, fix=TEACHER_FIX)
        if (net.spec.name, net.size) != (m, s):
            raise CheckpointError(
                f"checkpoint {path} holds a teacher of modality {net.spec.name!r}, size "
                f"{net.size!r}, not {m!r}/{s!r} as its name says (copied in from another "
                f"file?). Rebuild it: {TEACHER_FIX}")
        nets[m].append(net)
        scores[m].append(float(read_meta(path)["best_val_score"]))
    return nets, scores


def load_teachers(teacher_dir: str | Path, dataset: MultimodalDataset,
                  weighting: str = "uniform", sizes: Sequence[str] = ("xs", "s", "m")
                  ) -> dict[str, TeacherEnsemble]:
    """One frozen ensemble per modality of the teachers of ``sizes`` in ``teacher_dir``
    (checked against ``dataset``, :func:`load_teacher_nets`).

    ``weighting="val_score"`` weights members by their validation score; ``"uniform"`` equally.
    """
    nets, scores = load_teacher_nets(teacher_dir, dataset, sizes)
    return teacher_ensembles({m: nets[m] for m in sorted(nets)}, scores, weighting)
