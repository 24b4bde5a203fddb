"""Task metrics, percentile-bootstrap confidence intervals and tidy metric records.

Conventions (DESIGN.md sections 3 and 6):

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

Bootstrap: resample ``b`` uses row ``b`` of
``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))``, so two models evaluated on
the same ``N`` samples with the same seed see the same resamples (paired comparisons can
subtract the per-resample values of :func:`bootstrap_distribution`). The per-resample metrics
are vectorised (``bincount`` of resampled rows into confusion matrices and, for
AUROC/AUPRC, into class counts per distinct score) and agree with scikit-learn on every resample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

TASKS = ("binary", "multilabel", "multiclass")

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


def _macro_ranking(p: _Prepared, fn: Callable[..., float], name: str) -> float:
    ys, ss, names = _label_columns(p)
    values, skipped = [], []
    for j in range(ys.shape[1]):
        col = ys[:, j]
        n_pos = int(col.sum())
        if n_pos == 0 or n_pos == col.shape[0]:
            skipped.append(names[j])
            continue
        values.append(float(fn(col, ss[:, j])))
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


def _nan_mean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over axis 1 ignoring nan; nan where a row has no finite value (no warning)."""
    ok = np.isfinite(values)
    count = ok.sum(axis=1)
    total = np.where(ok, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _boot_metric(p: _Prepared, r: _Resamples, metric: str) -> np.ndarray:
    if metric in ("auroc", "auprc"):
        fn = _auroc_from_counts if metric == "auroc" else _auprc_from_counts
        n_cols = p.n_classes if p.task == "multiclass" else p.y.shape[1]
        per_label = np.stack([fn(_rank_counts(p, r, j)) for j in range(n_cols)], axis=1)
        return _nan_mean_rows(per_label)
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


def _distribution(p: _Prepared, names: list[str], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for r in _iter_resamples(p.n, n_boot, seed):
        for m in names:
            out[m].append(_boot_metric(p, r, m))
    return {m: np.concatenate(v) if v else np.empty(0, dtype=np.float64) for m, v in out.items()}


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

    A resample where the metric is undefined holds ``nan``. Resample ``b`` is row ``b`` of
    ``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))``, so equal seeds and
    sample counts give paired resamples across models.
    """
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot)
    p = _prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    return _distribution(p, names, int(n_boot), seed)


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

    The point estimate is :func:`compute_metrics` on all samples; the interval holds the
    ``alpha / 2`` and ``1 - alpha / 2`` percentiles of the metric over ``n_boot`` resamples of
    the rows (with replacement), skipping resamples where the metric is undefined. The bounds
    are ``nan`` when ``n_boot == 0`` or no resample is defined.
    """
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, alpha)
    p = _prepare(task, y_true, scores, from_probs)
    if p.n == 0:
        raise ValueError("no samples: y_true and scores are empty")
    point = {m: _full_metric(p, m) for m in names}
    dist = _distribution(p, names, int(n_boot), seed)
    out: dict[str, tuple[float, float, float]] = {}
    for m in names:
        vals = dist[m][np.isfinite(dist[m])]
        if vals.size == 0:
            lo = hi = float("nan")
        else:
            lo, hi = (
                float(v) for v in np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            )
        out[m] = (point[m], lo, hi)
    return out


_RESERVED_FIELDS = ("metric", "value", "ci_low", "ci_high", "n")


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

    Each record is ``{**fields, "metric", "value", "ci_low", "ci_high", "n"}``, e.g.
    ``metric_records("binary", y, logits, dataset="pbc", method="mind", head="mm", seed=0)``
    (``seed`` there is a record field: the run's seed; ``boot_seed`` seeds the bootstrap and
    ``ci_alpha`` sets the CI level, so ``alpha``/``seed`` stay free for record fields).
    With no samples (``N == 0``) the result is ``[]``: a group with no samples has no metric.
    ``n_boot=0`` skips the bootstrap (``ci_low``/``ci_high`` are ``nan``).
    """
    clash = [k for k in fields if k in _RESERVED_FIELDS]
    if clash:
        raise ValueError(
            f"fields {clash} clash with record keys; reserved: {', '.join(_RESERVED_FIELDS)}"
        )
    names = _resolve_metrics(task, metrics)
    _check_boot_args(n_boot, ci_alpha)
    y = _to_numpy(y_true, "y_true")
    if y.shape and y.shape[0] == 0:
        return []
    cis = bootstrap_ci(
        task, y, scores, names, n_boot=n_boot, alpha=ci_alpha, seed=boot_seed, from_probs=from_probs
    )
    n = int(y.shape[0])
    return [
        {**fields, "metric": m, "value": v, "ci_low": lo, "ci_high": hi, "n": n}
        for m, (v, lo, hi) in cis.items()
    ]
