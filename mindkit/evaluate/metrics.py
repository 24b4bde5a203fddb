"""Task metrics, percentile-bootstrap confidence intervals and tidy metric records.

Conventions (docs/statistics.md describes the statistics):

* ``multiclass``: ``y_true`` holds class indices ``[N]``; ``scores`` are ``[N, C]`` **logits**
  (softmax is applied where probabilities are needed) or, with ``from_probs=True``,
  probabilities whose rows sum to one.
* ``binary`` / ``multilabel``: ``y_true`` holds float 0/1 of shape ``[N, L]`` (``[N]`` is also
  accepted for ``binary``); ``scores`` are ``[N, L]`` **logits**, or probabilities with
  ``from_probs=True``. There is no auto-detection: probabilities passed as logits would be
  thresholded at 0 instead of 0.5. Ranking metrics (AUROC, AUPRC) are computed on the scores as
  given, which is exact for logits and avoids ties from saturated sigmoids.

Metrics per task (defaults in :data:`METRICS_BY_TASK`, all valid names in
:data:`AVAILABLE_METRICS`):

* multiclass: ``accuracy``; ``macro_f1`` (F1 averaged over all ``C`` classes, a class never
  true nor predicted scoring 0, as scikit-learn's ``zero_division=0``); ``auroc`` (macro
  one-vs-rest on softmax probabilities over the classes present in ``y_true``; absent classes
  are skipped with a :class:`MetricWarning`); ``nll`` (mean negative log-likelihood, lower is
  better).
* binary / multilabel: ``auroc`` and ``auprc`` (scikit-learn ``roc_auc_score`` /
  ``average_precision_score`` per label, macro-averaged over the labels whose ``y_true`` holds
  both classes; ``nan`` when none does); ``accuracy`` (share of correct label decisions at
  probability 0.5, i.e. logit >= 0, over all ``N * L`` entries); ``f1`` (binary F1 per label
  at the same threshold, macro-averaged over all labels, 0 where undefined).

Fixed label set: the macro AUROC/AUPRC average over ONE set of labels (one-vs-rest classes for
multiclass), those holding both classes in ``y_true`` on all the samples given. The point
estimate and every bootstrap resample use that same set, so a resample's value is an estimate
of the same quantity. A resample in which a label of the set has a single class among its rows
has an undefined macro metric (``nan``): it is not averaged over the remaining labels. Such
resamples are skipped by the intervals and counted (``n_undefined`` of
:func:`bootstrap_summary`, ``boot_undefined`` of the records); the other metrics are always
defined.

Bootstrap: resample ``b`` uses row ``b`` of
``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))``, so two models evaluated on
the same ``N`` samples with the same seed see the same resamples. The per-resample metrics
are vectorised (``bincount`` of resampled rows into confusion matrices and, for
AUROC/AUPRC, into class counts per distinct score) and agree on every resample with
scikit-learn on the resampled rows (for AUROC/AUPRC: restricted to the fixed label set,
``nan`` when a label of the set has one class only).

Paired comparisons (docs/statistics.md): :func:`paired_bootstrap` / :func:`paired_records`
score two models on the same resampled rows and report the difference ``a - b`` with a
percentile CI and the share of resamples where ``a`` is better (for ``nll``: lower). Across
independent runs (seeds), :func:`paired_distribution` gives each run's paired bootstrap
distributions and :func:`pooled_paired_difference` pools them: the mean over runs of the
difference, with a CI from the resample-wise means over runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from mindkit.common import TASKS  # noqa: E402  (torch-free, shared with mindkit.data)

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "auprc"),
    "multilabel": ("auroc", "auprc"),
    "multiclass": ("accuracy", "macro_f1"),
}
"""Default metrics per task."""

AVAILABLE_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "auprc", "accuracy", "f1"),
    "multilabel": ("auroc", "auprc", "accuracy", "f1"),
    "multiclass": ("accuracy", "macro_f1", "auroc", "nll"),
}
"""Every metric name valid for each task."""

_HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "f1": True,
    "auroc": True,
    "auprc": True,
    "nll": False,
}

# Bootstrap work is done in chunks of resamples holding at most this many (resample, sample)
# entries, which bounds memory for large N without changing the resamples drawn.
_CHUNK_ENTRIES = 2_000_000
_PROB_TOL = 1e-3
_EPS = 1e-12


class MetricWarning(UserWarning):
    """A metric was computed on part of the labels/classes (the rest were undefined)."""


# ---------------------------------------------------------------------------------------------
# public helpers
# ---------------------------------------------------------------------------------------------


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def primary_metric(task: str) -> str:
    """The headline metric of a task: ``accuracy`` for multiclass, ``auroc`` otherwise."""
    _check_task(task)
    return "accuracy" if task == "multiclass" else "auroc"


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (False only for ``nll``)."""
    try:
        return _HIGHER_IS_BETTER[metric]
    except KeyError:
        raise ValueError(
            f"unknown metric {metric!r}; valid metrics: {', '.join(sorted(_HIGHER_IS_BETTER))}"
        ) from None


def _resolve_metrics(task: str, metrics: list[str] | tuple[str, ...] | str | None) -> list[str]:
    _check_task(task)
    if metrics is None:
        return list(METRICS_BY_TASK[task])
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    valid = AVAILABLE_METRICS[task]
    bad = [m for m in metrics if m not in valid]
    if bad:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, bad))} for task {task!r}; "
            f"valid metrics: {', '.join(valid)}"
        )
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"duplicate metric names in {metrics}")
    return metrics


# ---------------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------------


def _to_numpy(x: Any, name: str) -> np.ndarray:
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
class _Prepared:
    """Validated inputs plus lazily derived quantities shared by the metrics."""

    task: str
    y: np.ndarray  # multiclass: int64 [N]; binary/multilabel: bool [N, L]
    scores: np.ndarray  # float64 [N, C] or [N, L]
    from_probs: bool
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

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
                return -np.log(np.clip(self.scores[rows, self.y], _EPS, 1.0))
            return -log_softmax(self.scores, axis=1)[rows, self.y]

        return self.cached("nll", nll)


def _prepare(task: str, y_true: Any, scores: Any, from_probs: bool) -> _Prepared:
    _check_task(task)
    y = _to_numpy(y_true, "y_true")
    s = _to_numpy(scores, "scores")
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
        if task == "multiclass" and np.abs(s.sum(axis=1) - 1.0).max() > _PROB_TOL:
            raise ValueError("from_probs=True but multiclass score rows do not sum to 1")
    return _Prepared(task, y, s, from_probs)


# ---------------------------------------------------------------------------------------------
# metrics on the full data (scikit-learn as the reference implementation)
# ---------------------------------------------------------------------------------------------


def _label_columns(p: _Prepared) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """[N, K] 0/1 targets and ranking scores for the per-label/per-class ranking metrics."""
    if p.task == "multiclass":
        onehot = p.y[:, None] == np.arange(p.n_classes)[None, :]
        return onehot, p.probs, [f"class {c}" for c in range(p.n_classes)]
    return p.y, p.scores, [f"label {j}" for j in range(p.y.shape[1])]


def _label_column(p: _Prepared, j: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 target and ranking score of label (or one-vs-rest class) ``j``."""
    if p.task == "multiclass":
        return p.y == j, p.probs[:, j]
    return p.y[:, j], p.scores[:, j]


def _fixed_labels(p: _Prepared) -> np.ndarray:
    """The fixed label set of the macro ranking metrics: indices of the labels (one-vs-rest
    classes for multiclass) holding both classes in ``y_true`` on all of ``p``'s samples."""

    def defined() -> np.ndarray:
        ys = _label_columns(p)[0]
        n_pos = ys.sum(axis=0)
        return np.flatnonzero((n_pos > 0) & (n_pos < ys.shape[0]))

    return p.cached("fixed_labels", defined)


def _macro_ranking(p: _Prepared, fn: Callable[..., float], name: str) -> float:
    ys, ss, names = _label_columns(p)
    keep = set(_fixed_labels(p).tolist())
    values = [float(fn(ys[:, j], ss[:, j])) for j in sorted(keep)]
    skipped = [names[j] for j in range(ys.shape[1]) if j not in keep]
    if skipped:
        if p.task == "multiclass":
            what = "classes absent from (or alone in) y_true"
        else:
            what = "labels with a single class in y_true"
        listed = ", ".join(skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        warnings.warn(
            f"{name}: skipped {len(skipped)} of {ys.shape[1]} {what} ({listed}); "
            f"macro average over {len(values)}",
            MetricWarning,
            stacklevel=4,
        )
    return float(np.mean(values)) if values else float("nan")


def _full_metric(p: _Prepared, metric: str) -> float:
    if metric == "auroc":
        return _macro_ranking(p, roc_auc_score, "auroc")
    if metric == "auprc":
        return _macro_ranking(p, average_precision_score, "auprc")
    if metric == "accuracy":
        return float(np.mean(p.pred == p.y))
    if metric == "macro_f1":
        return float(
            f1_score(p.y, p.pred, average="macro", labels=np.arange(p.n_classes), zero_division=0)
        )
    if metric == "f1":
        # per-label binary F1 on the [N, L] indicator matrix, macro over labels
        return float(
            f1_score(
                p.y.astype(int),
                p.pred.astype(int),
                average="macro",
                labels=np.arange(p.y.shape[1]),
                zero_division=0,
            )
            if p.y.shape[1] > 1
            else f1_score(p.y[:, 0], p.pred[:, 0], zero_division=0)
        )
    if metric == "nll":
        return float(p.sample_nll.mean())
    raise AssertionError(metric)  # names are validated before we get here


def compute_metrics(
    task: str,
    y_true: Any,
    scores: Any,
    metrics: list[str] | None = None,
    *,
    from_probs: bool = False,
) -> dict[str, float]:
    """Metrics of one set of predictions, as ``{name: value}``.

    ``scores`` are logits (``[N, C]`` multiclass, ``[N, L]`` binary/multilabel) unless
    ``from_probs=True``. ``metrics`` defaults to ``METRICS_BY_TASK[task]``; see the module
    docstring for their definitions. An undefined metric (AUROC with one class only) is ``nan``.
    Raises ``ValueError`` for an unknown task or metric, mismatched shapes, or no samples.
    """
    names = _resolve_metrics(task, metrics)
    p = _prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return {m: _full_metric(p, m) for m in names}


# ---------------------------------------------------------------------------------------------
# vectorised per-resample metrics
# ---------------------------------------------------------------------------------------------


@dataclass
class _Resamples:
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


def _group_codes(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int]:
    """Per sample ``y * G + g`` where ``g`` ranks the ``G`` distinct score values (ascending)."""
    uniq, g = np.unique(s, return_inverse=True)
    n_groups = int(uniq.shape[0])
    return y.astype(np.int64) * n_groups + g.astype(np.int64).ravel(), n_groups


def _rank_counts(p: _Prepared, r: _Resamples, j: int) -> dict[str, np.ndarray]:
    """Counts per distinct score of label ``j`` (ascending), per resample, each ``[B, G]``.

    Counting resampled rows per (class, score value) turns AUROC and AUPRC of every resample
    into cumulative sums (exact, ties included); the two metrics of one chunk share them.
    """
    key = f"rank_counts_{j}"
    if key not in r.cache:
        codes, n_groups = p.cached(f"group_codes_{j}", lambda: _group_codes(*_label_column(p, j)))
        offset = (np.arange(r.b, dtype=np.int64) * (2 * n_groups))[:, None]
        counts = np.bincount((codes[r.idx] + offset).ravel(), minlength=r.b * 2 * n_groups)
        counts = counts.reshape(r.b, 2, n_groups)
        neg, pos = counts[:, 0], counts[:, 1]
        r.cache[key] = {
            "pos": pos.astype(np.float64),
            "neg": neg.astype(np.float64),
            "cumneg": np.cumsum(neg, axis=1).astype(np.float64),  # inclusive, ascending
        }
    return r.cache[key]


def _auroc_from_counts(c: dict[str, np.ndarray]) -> np.ndarray:
    """AUROC (Mann-Whitney, ties count 1/2) per resample; nan with one class only."""
    pos, neg, cumneg = c["pos"], c["neg"], c["cumneg"]
    num = (pos * (cumneg - 0.5 * neg)).sum(axis=1)  # negatives below + half the tied ones
    den = pos.sum(axis=1) * cumneg[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _auprc_from_counts(c: dict[str, np.ndarray]) -> np.ndarray:
    """Average precision (scikit-learn's step sum) per resample; nan with one class only."""
    pos, cumneg = c["pos"], c["cumneg"]
    cumpos = np.cumsum(pos, axis=1)
    n_pos, n_neg = cumpos[:, -1:], cumneg[:, -1:]
    tp = n_pos - cumpos + pos  # rows scoring >= this value (threshold at this value)
    fp = n_neg - cumneg + c["neg"]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp > 0)
        ap = (pos * precision).sum(axis=1) / n_pos[:, 0]
        return np.where((n_pos[:, 0] > 0) & (n_neg[:, 0] > 0), ap, np.nan)


def _boot_metric(p: _Prepared, r: _Resamples, metric: str) -> np.ndarray:
    if metric in ("auroc", "auprc"):
        # the fixed label set of the full sample; a label of it with a single class in a
        # resample makes the macro value of that resample nan (the mean propagates it)
        fn = _auroc_from_counts if metric == "auroc" else _auprc_from_counts
        labels = _fixed_labels(p)
        if labels.size == 0:
            return np.full(r.b, np.nan)
        per_label = np.stack([fn(_rank_counts(p, r, int(j))) for j in labels], axis=1)
        return per_label.mean(axis=1)
    if metric == "accuracy":
        correct = p.cached("correct", lambda: (p.pred == p.y).reshape(p.n, -1).mean(axis=1))
        return correct[r.idx].mean(axis=1)
    if metric == "nll":
        return p.sample_nll[r.idx].mean(axis=1)
    if metric == "macro_f1":
        c = p.n_classes
        codes = p.cached("codes", lambda: p.y * c + p.pred)
        offset = (np.arange(r.b, dtype=np.int64) * (c * c))[:, None]
        conf = np.bincount((codes[r.idx] + offset).ravel(), minlength=r.b * c * c)
        conf = conf.reshape(r.b, c, c).astype(np.float64)  # [B, true, pred]
        tp = np.diagonal(conf, axis1=1, axis2=2)
        denom = conf.sum(axis=2) + conf.sum(axis=1)  # (tp + fn) + (tp + fp)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
        return f1.mean(axis=1)
    if metric == "f1":
        tp_m = p.cached("tp_m", lambda: (p.y & p.pred).astype(np.float64))
        sum_m = p.cached("sum_m", lambda: p.y.astype(np.float64) + p.pred.astype(np.float64))
        w = r.counts
        tp = w @ tp_m  # [B, L]
        denom = w @ sum_m  # 2 tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
        return f1.mean(axis=1)
    raise AssertionError(metric)


def _iter_resamples(n: int, n_boot: int, seed: int) -> Iterator[_Resamples]:
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_ENTRIES // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        yield _Resamples(rng.integers(0, n, size=(b, n)), n)
        done += b


def _check_boot_args(n_boot: int, alpha: float | None = None) -> None:
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def _distributions(
    ps: list[_Prepared], names: list[str], n_boot: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """Per-resample metrics of each prepared input (all with the same ``N``) on the same
    resamples, drawn once: ``[{name: float64[n_boot]}]``, one dict per input."""
    out: list[dict[str, list[np.ndarray]]] = [{m: [] for m in names} for _ in ps]
    for r in _iter_resamples(ps[0].n, n_boot, seed):
        for i, p in enumerate(ps):
            # a fresh chunk object per input: the chunk caches per-input counts
            ri = r if i == 0 else _Resamples(r.idx, r.n)
            for m in names:
                out[i][m].append(_boot_metric(p, ri, m))
    return [
        {m: np.concatenate(v) if v else np.empty(0, dtype=np.float64) for m, v in o.items()}
        for o in out
    ]


def _distribution(p: _Prepared, names: list[str], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    return _distributions([p], names, n_boot, seed)[0]


def _percentiles(vals: np.ndarray, alpha: float) -> tuple[float, float]:
    """``alpha / 2`` and ``1 - alpha / 2`` percentiles of ``vals`` (nan, nan when empty)."""
    if vals.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def bootstrap_distribution(
    task: str,
    y_true: Any,
    scores: Any,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    from_probs: bool = False,
) -> dict[str, np.ndarray]:
    """Each metric on each of ``n_boot`` bootstrap resamples: ``{name: float64[n_boot]}``.

    A resample where the metric is undefined holds ``nan`` (macro AUROC/AUPRC: a label of the
    fixed label set has one class only in it). Resample ``b`` is row ``b`` of
    ``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))``, so equal seeds and
    sample counts give paired resamples across models.
    """
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot)
    p = _prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return _distribution(p, names, int(n_boot), seed)


@dataclass(frozen=True)
class BootstrapSummary:
    """One metric's point estimate and percentile-bootstrap interval.

    ``n_undefined`` counts the resamples (of ``n_boot``) where the metric was undefined and
    which the interval therefore skips; it is 0 for the metrics that are always defined.
    """

    value: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_undefined: int

    def as_tuple(self) -> tuple[float, float, float]:
        """``(value, ci_low, ci_high)``, the shape :func:`bootstrap_ci` returns."""
        return (self.value, self.ci_low, self.ci_high)


def bootstrap_summary(
    task: str,
    y_true: Any,
    scores: Any,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    from_probs: bool = False,
) -> dict[str, BootstrapSummary]:
    """``{name: BootstrapSummary(value, ci_low, ci_high, n_boot, n_undefined)}``.

    The point estimate is :func:`compute_metrics` on all samples; the interval holds the
    ``alpha / 2`` and ``1 - alpha / 2`` percentiles of the metric over ``n_boot`` resamples of
    the rows (with replacement), skipping the ``n_undefined`` resamples where the metric is
    undefined. The bounds are ``nan`` when ``n_boot == 0`` or no resample is defined.
    """
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, alpha)
    p = _prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    point = {m: _full_metric(p, m) for m in names}
    dist = _distribution(p, names, int(n_boot), seed)
    out: dict[str, BootstrapSummary] = {}
    for m in names:
        ok = np.isfinite(dist[m])
        lo, hi = _percentiles(dist[m][ok], alpha)
        out[m] = BootstrapSummary(point[m], lo, hi, int(n_boot), int(n_boot - ok.sum()))
    return out


def bootstrap_ci(
    task: str,
    y_true: Any,
    scores: Any,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    from_probs: bool = False,
) -> dict[str, tuple[float, float, float]]:
    """``{name: (point estimate, ci_low, ci_high)}`` with a percentile bootstrap.

    As :func:`bootstrap_summary` (which also returns the count of undefined resamples), as
    plain tuples.
    """
    summary = bootstrap_summary(
        task, y_true, scores, metrics, n_boot, alpha, seed, from_probs=from_probs
    )
    return {m: s.as_tuple() for m, s in summary.items()}


_RESERVED_FIELDS = ("metric", "value", "ci_low", "ci_high", "n", "boot_undefined")


def _check_fields(fields: dict[str, Any], reserved: tuple[str, ...]) -> None:
    clash = [k for k in fields if k in reserved]
    if clash:
        raise ValueError(f"fields {clash} clash with record keys; reserved: {', '.join(reserved)}")


def metric_records(
    task: str,
    y_true: Any,
    scores: Any,
    *,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    ci_alpha: float = 0.05,
    boot_seed: int = 0,
    from_probs: bool = False,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Tidy records, one per metric, for ``metrics.json`` and pandas.

    Each record is ``{**fields, "metric", "value", "ci_low", "ci_high", "n",
    "boot_undefined"}`` (``boot_undefined``: resamples where the metric was undefined, skipped
    by the CI), e.g.
    ``metric_records("binary", y, logits, dataset="pbc", method="mind", head="mm", seed=0)``
    (``seed`` there is a record field: the run's seed; ``boot_seed`` seeds the bootstrap and
    ``ci_alpha`` sets the CI level, so ``alpha``/``seed`` stay free for record fields).
    With no samples (``N == 0``) the result is ``[]``: a group with no samples has no metric.
    ``n_boot=0`` skips the bootstrap (``ci_low``/``ci_high`` are ``nan``).
    """
    _check_fields(fields, _RESERVED_FIELDS)
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, ci_alpha)
    y = _to_numpy(y_true, "y_true")
    if y.shape and y.shape[0] == 0:
        return []
    summary = bootstrap_summary(
        task, y, scores, names, n_boot=n_boot, alpha=ci_alpha, seed=boot_seed, from_probs=from_probs
    )
    n = int(y.shape[0])
    return [
        {
            **fields,
            "metric": m,
            "value": s.value,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": n,
            "boot_undefined": s.n_undefined,
        }
        for m, s in summary.items()
    ]


# ---------------------------------------------------------------------------------------------
# paired comparisons
# ---------------------------------------------------------------------------------------------


def _prepare_pair(
    task: str, y_true: Any, scores_a: Any, scores_b: Any, from_probs: bool
) -> tuple[_Prepared, _Prepared]:
    _check_task(task)
    sa = _to_numpy(scores_a, "scores_a")
    sb = _to_numpy(scores_b, "scores_b")
    if sa.shape != sb.shape:
        raise ValueError(
            f"paired comparison needs scores of the same shape: scores_a has shape "
            f"{list(sa.shape)}, scores_b {list(sb.shape)} (both models must score the same "
            "samples and labels/classes)"
        )
    y = _to_numpy(y_true, "y_true")
    pa = _prepare(task, y, sa, from_probs)
    pb = _prepare(task, y, sb, from_probs)
    if pa.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return pa, pb


def _paired_stats(
    point_a: float,
    point_b: float,
    dist_a: np.ndarray,
    dist_b: np.ndarray,
    alpha: float,
    higher_better: bool,
) -> dict[str, Any]:
    ok = np.isfinite(dist_a) & np.isfinite(dist_b)
    d = dist_a[ok] - dist_b[ok]
    lo, hi = _percentiles(d, alpha)
    if d.size:
        p_better = float(np.mean(d > 0) if higher_better else np.mean(d < 0))
    else:
        p_better = float("nan")
    return {
        "diff": float(point_a - point_b),
        "ci_low": lo,
        "ci_high": hi,
        "p_a_better": p_better,
        "n_boot": int(dist_a.shape[0]),
        "n_undefined": int(dist_a.shape[0] - ok.sum()),
    }


def paired_bootstrap(
    task: str,
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    from_probs: bool = False,
) -> dict[str, dict[str, Any]]:
    """Paired percentile bootstrap of ``metric(a) - metric(b)`` on the same samples.

    Both models are scored on the same resampled rows (resample ``b`` is row ``b`` of
    ``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))``). Returns, per metric,
    ``{"diff", "ci_low", "ci_high", "p_a_better", "n_boot", "n_undefined", "n", "value_a",
    "value_b"}``: ``diff = value_a - value_b`` on all samples; the CI holds the ``alpha / 2``
    and ``1 - alpha / 2`` percentiles of the per-resample difference; ``p_a_better`` is the
    share of defined resamples where ``a`` is strictly better (higher, or lower for ``nll``;
    the difference itself stays ``a - b``); ``n_undefined`` counts the resamples where either
    model's metric is undefined, which are skipped. CI bounds and ``p_a_better`` are ``nan``
    when no resample is defined (or ``n_boot == 0``). ``scores_a`` and ``scores_b`` must have
    the same shape (``ValueError`` otherwise).
    """
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, alpha)
    pa, pb = _prepare_pair(task, y_true, scores_a, scores_b, from_probs)
    point_a = {m: _full_metric(pa, m) for m in names}
    point_b = {m: _full_metric(pb, m) for m in names}
    dist_a, dist_b = _distributions([pa, pb], names, int(n_boot), seed)
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        stats = _paired_stats(
            point_a[m], point_b[m], dist_a[m], dist_b[m], alpha, higher_is_better(m)
        )
        out[m] = {**stats, "n": pa.n, "value_a": point_a[m], "value_b": point_b[m]}
    return out


_PAIRED_RESERVED_FIELDS = (
    "metric",
    "method_a",
    "method_b",
    "value",
    "ci_low",
    "ci_high",
    "p_a_better",
    "value_a",
    "value_b",
    "n",
    "boot_undefined",
)


def paired_records(
    task: str,
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    *,
    method_a: str,
    method_b: str,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    ci_alpha: float = 0.05,
    boot_seed: int = 0,
    from_probs: bool = False,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Tidy paired-difference records, one per metric (see :func:`paired_bootstrap`).

    Each record is ``{**fields, "metric", "method_a", "method_b", "value" (= value_a -
    value_b), "ci_low", "ci_high", "p_a_better", "value_a", "value_b", "n",
    "boot_undefined"}``. ``[]`` when there are no samples.
    """
    _check_fields(fields, _PAIRED_RESERVED_FIELDS)
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, ci_alpha)
    y = _to_numpy(y_true, "y_true")
    if y.shape and y.shape[0] == 0:
        sa, sb = _to_numpy(scores_a, "scores_a"), _to_numpy(scores_b, "scores_b")
        if sa.shape != sb.shape:
            _prepare_pair(task, y, sa, sb, from_probs)  # raises the shape error
        return []
    res = paired_bootstrap(
        task,
        y,
        scores_a,
        scores_b,
        names,
        n_boot=n_boot,
        alpha=ci_alpha,
        seed=boot_seed,
        from_probs=from_probs,
    )
    return [
        {
            **fields,
            "metric": m,
            "method_a": method_a,
            "method_b": method_b,
            "value": r["diff"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "p_a_better": r["p_a_better"],
            "value_a": r["value_a"],
            "value_b": r["value_b"],
            "n": r["n"],
            "boot_undefined": r["n_undefined"],
        }
        for m, r in res.items()
    ]


def paired_distribution(
    task: str,
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    from_probs: bool = False,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(point_a, point_b, dist_a, dist_b)`` of one metric for two models on the same
    samples: the values on all samples and the float64 ``[n_boot]`` per-resample values, both
    models on the same resamples (``nan`` where undefined). The input of
    :func:`pooled_paired_difference`, one call per independent run."""
    (name,) = _resolve_metrics(task, [metric])
    _check_boot_args(n_boot)
    pa, pb = _prepare_pair(task, y_true, scores_a, scores_b, from_probs)
    dist_a, dist_b = _distributions([pa, pb], [name], int(n_boot), seed)
    return _full_metric(pa, name), _full_metric(pb, name), dist_a[name], dist_b[name]


def pooled_paired_difference(
    dists_a: list[np.ndarray],
    dists_b: list[np.ndarray],
    points_a: list[float],
    points_b: list[float],
    alpha: float = 0.05,
    *,
    metric: str | None = None,
) -> dict[str, Any]:
    """Pool the paired bootstraps of several independent runs (seeds) of a comparison.

    Run ``k`` gives ``points_a[k]``/``points_b[k]`` (the metric of each model on all its test
    samples) and ``dists_a[k]``/``dists_b[k]`` (float ``[n_boot]``, both models on the same
    resamples, as :func:`paired_distribution` returns; every run with the same ``n_boot``).
    Returns ``{"diff", "ci_low", "ci_high", "p_a_better", "n_runs", "n_boot",
    "n_undefined"}``: ``diff`` is the mean over runs of ``point_a - point_b``; the CI holds the
    percentiles of the resample-wise mean over runs of ``dist_a - dist_b``, skipping the
    ``n_undefined`` resample indices undefined (``nan``) in any run; ``p_a_better`` is the
    share of those means favouring ``a``. ``metric`` sets the direction of ``p_a_better``
    (lower is better for ``nll``); without it higher is better.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    k = len(dists_a)
    if not (k == len(dists_b) == len(points_a) == len(points_b)):
        raise ValueError(
            f"one entry per run in each argument: got {len(dists_a)} dists_a, {len(dists_b)} "
            f"dists_b, {len(points_a)} points_a, {len(points_b)} points_b"
        )
    if k == 0:
        raise ValueError("no runs to pool")
    da = [np.asarray(d, dtype=np.float64) for d in dists_a]
    db = [np.asarray(d, dtype=np.float64) for d in dists_b]
    shapes = {d.shape for d in da + db}
    if len(shapes) != 1 or next(iter(shapes)) != (da[0].size,):
        raise ValueError(
            "every run's dists_a and dists_b must be 1-d arrays of the same length (n_boot), "
            f"got shapes {[list(d.shape) for d in da]} and {[list(d.shape) for d in db]}"
        )
    higher_better = True if metric is None else higher_is_better(metric)
    diff = float(
        np.mean(np.asarray(points_a, dtype=np.float64) - np.asarray(points_b, dtype=np.float64))
    )
    d = np.stack(da) - np.stack(db)  # [runs, n_boot]
    ok = np.isfinite(d).all(axis=0)
    means = d[:, ok].mean(axis=0)
    lo, hi = _percentiles(means, alpha)
    if means.size:
        p_better = float(np.mean(means > 0) if higher_better else np.mean(means < 0))
    else:
        p_better = float("nan")
    n_boot = int(d.shape[1])
    return {
        "diff": diff,
        "ci_low": lo,
        "ci_high": hi,
        "p_a_better": p_better,
        "n_runs": k,
        "n_boot": n_boot,
        "n_undefined": int(n_boot - ok.sum()),
    }
