"""Evaluate students per head and per sample group, and teachers on the same samples.

Both go through a prediction frame (:mod:`mindkit.evaluate.predictions`), so the records
written now and the ones recomputed later from the saved predictions are the same. Records
carry ``split`` = the evaluated split's name unless ``fields`` set it; ``boot_seed`` seeds the
bootstrap, so ``fields`` may carry the run's own ``seed``. Pass ``predictions_to=`` a path to
keep the frame (Parquet).

``device=`` (a device option, :func:`mindkit.device.resolve_device`) moves the model there
(in place) before it predicts; ``None`` scores it where it is. Either way the predictions are
computed on the model's device and come back to the CPU before any metric is computed.
"""

from __future__ import annotations

import math

from mindkit.data.base import Split, validate_for_model
from mindkit.device import move_model
from mindkit.evaluate.metrics import compute_metrics, primary_metric
from mindkit.evaluate.predictions import (
    records_from_predictions,
    student_predictions,
    unimodal_predictions,
    write_predictions,
)
from mindkit.models.predict import predict_student, predict_unimodal


def evaluate_student(student, split: Split, task: str, /, n_boot: int = 1000,
                     boot_seed: int = 0, predictions_to=None, provenance: dict | None = None,
                     device=None, **fields) -> list[dict]:
    """Tidy metric records (with bootstrap CIs) for a student on ``split``: each unimodal head
    on ``has_<m>``, ``mm`` on ``paired``, ``routed`` on ``all``, ``paired`` and ``only_<m>``.
    ``split`` is checked first against the student's specs and ``task``
    (:func:`~mindkit.data.base.validate_for_model`): a NaN, an infinite value, a bad target or
    a sample with no modality is named with its split, modality and rows, not scored.
    ``device``: see the module docstring."""
    validate_for_model(split, student, task, "evaluate_student")
    frame = student_predictions(student, split, task, device=device)
    if predictions_to is not None:
        write_predictions(frame, predictions_to, provenance)
    return records_from_predictions(frame, task, n_boot=n_boot, boot_seed=boot_seed,
                                    **{"split": split.name, **fields})


def evaluate_unimodal(model, split: Split, task: str, /, n_boot: int = 1000, boot_seed: int = 0,
                      predictions_to=None, provenance: dict | None = None, device=None,
                      **fields) -> list[dict]:
    """Records for a teacher or ensemble on every sample of ``split`` that has its modality
    (``split`` checked first, as in :func:`evaluate_student`; ``device`` as there)."""
    validate_for_model(split, model, task, "evaluate_unimodal")
    frame = unimodal_predictions(model, split, task, device=device)
    if predictions_to is not None:
        write_predictions(frame, predictions_to, provenance)
    return records_from_predictions(frame, task, n_boot=n_boot, boot_seed=boot_seed,
                                    **{"split": split.name, **fields})


def validation_score(model, split: Split, task: str, device=None) -> float:
    """The primary metric of ``model`` on ``split``: a student's routed prediction on every
    sample, or a unimodal model on the samples with its modality. A NaN score (e.g. AUROC on a
    split with one class) is an error naming the metric and split; so is bad data in ``split``
    (checked once per call, i.e. once per epoch when it scores training). The model predicts
    where it is (``device`` moves it first, as in :func:`evaluate_student`)."""
    validate_for_model(split, model, task, "validation_score")
    move_model(model, device)
    metric = primary_metric(task)
    if hasattr(model, "route"):
        probs, _ = model.route(predict_student(model, split), task)
        y = split.y
    else:
        sub = split.only_modalities([model.modality])
        probs, y = predict_unimodal(model, sub, task), sub.y
    if len(y) == 0:
        raise ValueError(f"no samples in split {split.name!r} to compute the validation {metric}")
    score = compute_metrics(task, y, probs, [metric], from_probs=True)[metric]
    if not math.isfinite(score):
        raise ValueError(f"validation {metric} on split {split.name!r} ({len(y)} samples) is "
                         f"undefined ({score}): e.g. AUROC needs both classes of a label among "
                         "the samples; use a larger validation split or another seed")
    return score
