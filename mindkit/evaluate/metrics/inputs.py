"""Validated metric inputs: what ``y_true`` and ``scores`` must look like for each task.

* ``multiclass``: ``y_true`` holds class indices ``[N]``; ``scores`` are ``[N, C]`` **logits**
  (softmax is applied where probabilities are needed) or, with ``from_probs=True``,
  probabilities whose rows sum to one.
* ``binary`` / ``multilabel``: ``y_true`` holds float 0/1 of shape ``[N, L]`` (``[N]`` is also
  accepted for ``binary``); ``scores`` are ``[N, L]`` **logits**, or probabilities with
  ``from_probs=True``. There is no auto-detection: probabilities passed as logits would be
  thresholded at 0 instead of 0.5. Ranking metrics (AUROC, AUPRC) are computed on the scores as
  given, which is exact for logits and avoids ties from saturated sigmoids.

:func:`prepare` checks the inputs once and returns a :class:`Prepared`, which every metric's
point and per-resample functions read (it caches derived arrays: probabilities, predictions,
per-sample NLL, the fixed label set of the macro ranking metrics).

Fixed label set (:func:`fixed_labels`): the macro AUROC/AUPRC average over ONE set of labels
(one-vs-rest classes for multiclass), those holding both classes in ``y_true`` on all the
samples given. The point estimate and every bootstrap resample use that same set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.special import log_softmax, softmax

from mindkit.common import TASKS, KitWarning  # torch-free, shared with mindkit.data

PROB_TOL = 1e-3
"""How far a multiclass probability row may sum from one with ``from_probs=True``."""
EPS = 1e-12
"""Floor of a probability before its log (NLL from probabilities)."""


class MetricWarning(KitWarning):
    """A metric was computed on part of the labels/classes (the rest were undefined)."""


def check_task(task: str) -> None:
    """``ValueError`` naming the valid tasks unless ``task`` is one of them."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` (array-like or torch tensor, float tensors as float64) as a numeric numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()  # numpy has no bfloat16
        x = x.numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric, got an object array")
    return arr


@dataclass
class Prepared:
    """Validated inputs plus lazily derived quantities shared by the metrics."""

    task: str
    y: np.ndarray  # multiclass: int64 [N]; binary/multilabel: bool [N, L]
    scores: np.ndarray  # float64 [N, C] or [N, L]
    from_probs: bool
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, computed once per ``key`` for these inputs."""
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]

    def subset(self, rows: np.ndarray) -> Prepared:
        """The same task and score kind on rows ``rows`` (e.g. one bootstrap resample)."""
        return Prepared(self.task, self.y[rows], self.scores[rows], self.from_probs)

    # multiclass ------------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return int(self.scores.shape[1])

    @property
    def probs(self) -> np.ndarray:
        return self.cached(
            "probs", lambda: self.scores if self.from_probs else softmax(self.scores, axis=1)
        )

    @property
    def pred(self) -> np.ndarray:
        if self.task == "multiclass":
            return self.cached("pred", lambda: self.scores.argmax(axis=1))
        thr = 0.5 if self.from_probs else 0.0
        return self.cached("pred", lambda: self.scores >= thr)

    @property
    def sample_nll(self) -> np.ndarray:
        def nll() -> np.ndarray:
            rows = np.arange(self.n)
            if self.from_probs:
                return -np.log(np.clip(self.scores[rows, self.y], EPS, 1.0))
            return -log_softmax(self.scores, axis=1)[rows, self.y]

        return self.cached("nll", nll)


def prepare(task: str, y_true: Any, scores: Any, from_probs: bool) -> Prepared:
    """Check ``y_true`` and ``scores`` for ``task`` (``ValueError`` naming the problem)."""
    check_task(task)
    y = to_numpy(y_true, "y_true")
    s = to_numpy(scores, "scores")
    if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"scores must be real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64, copy=False)
    kind = "probabilities" if from_probs else "logits"

    if task == "multiclass":
        if s.ndim != 2:
            raise ValueError(
                f"multiclass scores must be {kind} of shape [N, C], got shape {list(s.shape)}"
            )
        if y.ndim != 1:
            hint = " (one-hot? pass y.argmax(1))" if y.ndim == 2 and y.shape[1] > 1 else ""
            raise ValueError(
                f"multiclass y_true must be class indices of shape [N], got shape "
                f"{list(y.shape)}{hint}"
            )
        if y.shape[0] != s.shape[0]:
            raise ValueError(
                f"length mismatch: y_true has {y.shape[0]} samples, scores has {s.shape[0]}"
            )
        if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"multiclass y_true must hold integer class indices, got {y.dtype}")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise ValueError("multiclass y_true must hold integer class indices")
        y = y.astype(np.int64, copy=False)
        n_classes = s.shape[1]
        if n_classes < 2:
            raise ValueError(f"multiclass scores need at least 2 columns, got {n_classes}")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"multiclass y_true must lie in [0, {n_classes - 1}] (scores have {n_classes} "
                f"columns), got values in [{y.min()}, {y.max()}]"
            )
    else:
        if task == "binary":
            if y.ndim == 1:
                y = y[:, None]
            if s.ndim == 1:
                s = s[:, None]
        if y.ndim != 2 or s.ndim != 2:
            raise ValueError(
                f"{task} y_true and scores ({kind}) must have shape [N, L]"
                f"{' (or [N])' if task == 'binary' else ''}, got y_true {list(y.shape)} and "
                f"scores {list(s.shape)}"
            )
        if y.shape[0] != s.shape[0]:
            raise ValueError(
                f"length mismatch: y_true has {y.shape[0]} samples, scores has {s.shape[0]}"
            )
        if y.shape[1] != s.shape[1]:
            raise ValueError(
                f"label mismatch: y_true has {y.shape[1]} labels, scores has {s.shape[1]}"
            )
        if task == "binary" and y.shape[1] != 1:
            raise ValueError(
                f"binary task expects one label column, got {y.shape[1]}; use task='multilabel'"
            )
        if y.dtype != bool:
            if not np.issubdtype(y.dtype, np.number) or not np.all((y == 0) | (y == 1)):
                raise ValueError(f"{task} y_true must hold only 0 and 1")
        y = y.astype(bool, copy=False)

    if s.size and not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    if from_probs and s.size:
        if s.min() < 0.0 or s.max() > 1.0:
            raise ValueError("from_probs=True but scores lie outside [0, 1]")
        if task == "multiclass" and np.abs(s.sum(axis=1) - 1.0).max() > PROB_TOL:
            raise ValueError("from_probs=True but multiclass score rows do not sum to 1")
    return Prepared(task, y, s, from_probs)


def prepare_nonempty(task: str, y_true: Any, scores: Any, from_probs: bool) -> Prepared:
    """:func:`prepare`, with ``ValueError`` when there are no samples."""
    p = prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return p


def label_columns(p: Prepared) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """[N, K] 0/1 targets and ranking scores for the per-label/per-class ranking metrics."""
    if p.task == "multiclass":
        onehot = p.y[:, None] == np.arange(p.n_classes)[None, :]
        return onehot, p.probs, [f"class {c}" for c in range(p.n_classes)]
    return p.y, p.scores, [f"label {j}" for j in range(p.y.shape[1])]


def label_column(p: Prepared, j: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 target and ranking score of label (or one-vs-rest class) ``j``."""
    if p.task == "multiclass":
        return p.y == j, p.probs[:, j]
    return p.y[:, j], p.scores[:, j]


def fixed_labels(p: Prepared) -> np.ndarray:
    """The fixed label set of the macro ranking metrics: indices of the labels (one-vs-rest
    classes for multiclass) holding both classes in ``y_true`` on all of ``p``'s samples."""

    def defined() -> np.ndarray:
        ys = label_columns(p)[0]
        n_pos = ys.sum(axis=0)
        return np.flatnonzero((n_pos > 0) & (n_pos < ys.shape[0]))

    return p.cached("fixed_labels", defined)


@dataclass
class Resamples:
    """One chunk of bootstrap resamples: indices ``[B, N]`` and (lazily) counts ``[B, N]``."""

    idx: np.ndarray
    n: int
    _counts: np.ndarray | None = None
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def b(self) -> int:
        return int(self.idx.shape[0])

    @property
    def counts(self) -> np.ndarray:
        """How often each original sample appears in each resample (float64 ``[B, N]``)."""
        if self._counts is None:
            offset = (np.arange(self.b, dtype=np.int64) * self.n)[:, None]
            flat = np.bincount((self.idx + offset).ravel(), minlength=self.b * self.n)
            self._counts = flat.reshape(self.b, self.n).astype(np.float64)
        return self._counts
