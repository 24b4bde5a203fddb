"""Recipes: train unimodal teacher ensembles, and distil them into a multi-head student (MIND).

These are the calls the notebooks make. Each returns models plus tidy rows, so notebooks stay thin.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from mindkit.data.base import MultimodalDataset, Split, iterate_batches
from mindkit.distill.cache import TeacherCache
from mindkit.distill.losses import task_loss
from mindkit.distill.mind import MindLoss, modality_informed_weights
from mindkit.encoders import count_parameters
from mindkit.evaluate.metrics import compute_metrics, primary_metric
from mindkit.models.student import MultiHeadStudent, StudentOutput
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, to_probs
from mindkit.train.checkpoint import load_model, read_meta
from mindkit.train.trainer import Callback, History, TrainConfig, Trainer


@torch.no_grad()
def predict_unimodal(model: UnimodalNet | TeacherEnsemble, split: Split, task: str,
                     batch_size: int = 512) -> Tensor:
    """Probabilities ``[N, C]`` of a teacher (or an ensemble) on every row of ``split``.

    Every row must have the model's modality: pass ``split.only_modalities([m])``.
    """
    m = model.modality
    if not bool(split.present[m].all()):
        raise ValueError(f"split {split.name!r} has samples without {m!r}; select them first "
                         f"with split.only_modalities([{m!r}])")
    model.eval()
    if len(split) == 0:  # e.g. a test split where no sample has this modality
        n_out = model.members[0].num_outputs if isinstance(model, TeacherEnsemble) \
            else model.num_outputs
        return torch.zeros(0, n_out)
    out = []
    for b in iterate_batches(split, batch_size):
        x, lens = b.inputs[m], b.lengths.get(m)
        if isinstance(model, TeacherEnsemble):
            out.append(model.predict_proba(x, lens, task))
        else:
            out.append(to_probs(model(x, lens), task))
    return torch.cat(out)


@torch.no_grad()
def predict_student(student: MultiHeadStudent, split: Split, batch_size: int = 512
                    ) -> StudentOutput:
    """The student's per-head logits and masks over every row of ``split``."""
    student.eval()
    outs = [student.forward_batch(b) for b in iterate_batches(split, batch_size)]
    heads = outs[0].logits.keys()
    return StudentOutput({h: torch.cat([o.logits[h] for o in outs]) for h in heads},
                         {h: torch.cat([o.mask[h] for o in outs]) for h in heads})


def _score(task: str, y: Tensor, probs: Tensor) -> float:
    metric = primary_metric(task)
    return compute_metrics(task, y, probs, [metric], from_probs=True)[metric]


def train_teacher(dataset: MultimodalDataset, modality: str, size: str, arch: str | None = None,
                  config: TrainConfig | None = None, checkpoint: str | Path | None = None,
                  callbacks: Sequence[Callback] = (), progress: bool = True
                  ) -> tuple[UnimodalNet, History]:
    """Train one unimodal teacher on every train sample that has ``modality``.

    Early stopping and model selection use validation samples with that modality. No test
    sample is ever seen (splits are item-disjoint).
    """
    config = config or TrainConfig()
    task = dataset.task
    train = dataset["train"].only_modalities([modality])
    val = dataset["val"].only_modalities([modality])
    torch.manual_seed(config.seed)
    model = UnimodalNet(dataset.modalities[modality], dataset.num_outputs, size, arch)

    def loss_fn(net, b):
        return {"total": task_loss(task, net.forward_batch(b), b.y)}

    def score_fn(net):
        return _score(task, val.y, predict_unimodal(net, val, task))

    trainer = Trainer(config, callbacks, progress, desc=f"teacher {modality}/{size}")
    hist = trainer.fit(model, train, loss_fn, score_fn, checkpoint)
    return model, hist


def train_teachers(dataset: MultimodalDataset, sizes: Sequence[str] = ("xs", "s", "m"),
                   modalities: Sequence[str] | None = None, archs: dict[str, str] | None = None,
                   config: TrainConfig | None = None, out_dir: str | Path | None = None,
                   progress: bool = True) -> tuple[dict[str, list[UnimodalNet]], list[dict]]:
    """Train a teacher of each size for each modality; checkpoints go to ``out_dir``.

    Returns the teachers per modality and one row per teacher (parameters, validation score,
    best epoch, training seconds).
    """
    config = config or TrainConfig()
    modalities = list(modalities or dataset.modality_names)
    archs = archs or {}
    teachers: dict[str, list[UnimodalNet]] = {}
    rows = []
    for m in modalities:
        teachers[m] = []
        for i, size in enumerate(sizes):
            ckpt = None if out_dir is None else Path(out_dir) / f"{m}_{size}.pt"
            cfg = replace(config, seed=config.seed * 1000 + i)
            model, hist = train_teacher(dataset, m, size, archs.get(m), cfg, ckpt,
                                        progress=progress)
            teachers[m].append(model)
            rows.append({"modality": m, "size": size, "arch": model.encoder.__class__.__name__,
                         "params": count_parameters(model), "val_score": hist.best_score,
                         "metric": primary_metric(dataset.task), "best_epoch": hist.best_epoch,
                         "epochs_run": len(hist.records),
                         "train_s": sum(r["train_s"] for r in hist.records)})
    return teachers, rows


def load_teachers(teacher_dir: str | Path, dataset: MultimodalDataset,
                  weighting: str = "uniform") -> dict[str, TeacherEnsemble]:
    """Load every teacher checkpoint in ``teacher_dir`` into one frozen ensemble per modality.

    ``weighting="val_score"`` weights members by their validation score; ``"uniform"`` equally.
    """
    teacher_dir = Path(teacher_dir)
    paths = sorted(teacher_dir.glob("*.pt"))
    if not paths:
        raise FileNotFoundError(
            f"no teacher checkpoints in {teacher_dir}; run notebooks/01_teachers.ipynb first with "
            "the same run_dir and dataset")
    if weighting not in ("uniform", "val_score"):
        raise ValueError(f"unknown ensemble weighting {weighting!r}; use uniform or val_score")
    by_mod: dict[str, list] = {}
    for p in paths:
        net = load_model(p)
        spec = dataset.modalities.get(net.modality)
        if spec is None or tuple(spec.shape[1:]) != tuple(net.spec.shape[1:]):
            raise ValueError(f"teacher {p.name} was trained for modality {net.modality!r} "
                             f"{net.spec.shape}, which dataset {dataset.name!r} does not match; "
                             "rerun notebook 01 for this dataset")
        by_mod.setdefault(net.modality, []).append((p.stem, net, read_meta(p)))
    missing = set(dataset.modality_names) - set(by_mod)
    if missing:
        raise FileNotFoundError(f"no teachers for modalities {sorted(missing)} in {teacher_dir}")
    out = {}
    for m, items in sorted(by_mod.items()):
        w = None
        if weighting == "val_score":
            w = [max(1e-6, float(meta.get("best_val_score", 1.0))) for _, _, meta in items]
        out[m] = TeacherEnsemble([n for _, n, _ in items], w, [s for s, _, _ in items])
    return out


def teacher_val_scores(ensembles: dict[str, TeacherEnsemble], dataset: MultimodalDataset
                       ) -> dict[str, float]:
    """Each ensemble's primary metric on the validation samples with its modality."""
    val = dataset["val"]
    return {m: _score(dataset.task, sub.y, predict_unimodal(e, sub, dataset.task))
            for m, e in ensembles.items() for sub in [val.only_modalities([m])]}


def train_student(dataset: MultimodalDataset, ensembles: dict[str, TeacherEnsemble] | None,
                  alpha: float = 0.5, T: float = 2.0,
                  head_weights: dict[str, float] | str = "uniform",
                  size: str = "xs", archs: dict[str, str] | None = None, fusion: str = "joint",
                  config: TrainConfig | None = None, checkpoint: str | Path | None = None,
                  callbacks: Sequence[Callback] = (), progress: bool = True,
                  desc: str = "student", student: torch.nn.Module | None = None,
                  targets: dict[str, Tensor] | None = None, train_split: Split | None = None,
                  extra_loss=None) -> tuple[MultiHeadStudent, History, dict]:
    """Train a multi-head student with the MIND loss (``alpha=0``: the no-KD student).

    ``head_weights``: a dict per head, or ``"uniform"``, ``"proportional"`` / ``"inverse"``
    (from the teacher ensembles' validation scores, :func:`modality_informed_weights`).
    Teacher targets on the training split are computed once (:class:`TeacherCache`).
    Model selection: the routed prediction's primary metric on the whole validation split.
    Returns the student, its history and a dict of what was used (head weights, cache seconds).

    Baselines and ablations reuse this loop: ``student`` replaces the default multi-head
    student (any model with ``forward_batch``/``route``/``head_names``), ``targets`` replaces the
    ensembles' soft targets (head -> ``[N_train, C]`` probabilities at ``T``), ``train_split``
    replaces ``dataset["train"]`` (e.g. paired samples only), ``alpha`` may be a dict per head,
    and ``extra_loss(model, batch, out) -> {name: tensor}`` adds terms (e.g. hint KD) to the total.
    """
    config = config or TrainConfig()
    task = dataset.task
    loss = MindLoss(task, alpha, T)  # validates alpha and T before any work
    if loss.uses_kd and not ensembles and targets is None:
        raise ValueError("alpha > 0 needs teacher ensembles (or targets); pass alpha=0 for the "
                         "no-KD student")
    if isinstance(head_weights, str):
        if head_weights == "uniform":
            head_weights = {}
        else:
            if not ensembles:
                raise ValueError(f"head_weights={head_weights!r} needs teacher ensembles")
            head_weights = modality_informed_weights(teacher_val_scores(ensembles, dataset),
                                                     head_weights)
    train = dataset["train"] if train_split is None else train_split
    val = dataset["val"]
    t0 = time.perf_counter()
    if targets is None and loss.uses_kd:
        targets = TeacherCache.build(ensembles, train, task).soft_targets(T)
    elif not loss.uses_kd:
        targets = None
    cache_s = time.perf_counter() - t0
    torch.manual_seed(config.seed)
    if student is None:
        student = MultiHeadStudent(dataset.modalities, dataset.num_outputs, size, archs, fusion)
    loss.head_weights = dict(head_weights)

    def loss_fn(model, b):
        out = model.forward_batch(b)
        tg = None if targets is None else {h: t[b.idx] for h, t in targets.items()}
        terms = loss(out, b.y, tg)
        if extra_loss is not None:
            for k, v in extra_loss(model, b, out).items():
                terms[k] = v.detach()
                terms["total"] = terms["total"] + v
        return terms

    def score_fn(model):
        probs, _ = model.route(predict_student(model, val), task)
        return _score(task, val.y, probs)

    hist = Trainer(config, callbacks, progress, desc=desc).fit(student, train, loss_fn, score_fn,
                                                               checkpoint)
    return student, hist, {"head_weights": head_weights, "cache_s": cache_s}
