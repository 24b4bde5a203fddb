"""The built-in metrics, one :class:`~.registry.Metric` definition each.

* multiclass: ``accuracy``; ``macro_f1`` (F1 averaged over all ``C`` classes, a class never
  true nor predicted scoring 0, as scikit-learn's ``zero_division=0``); ``auroc`` (macro
  one-vs-rest on softmax probabilities over the classes present in ``y_true``; absent classes
  are skipped with a :class:`~.inputs.MetricWarning`); ``nll`` (mean negative log-likelihood,
  lower is better).
* binary / multilabel: ``auroc`` and ``auprc`` (scikit-learn ``roc_auc_score`` /
  ``average_precision_score`` per label, macro-averaged over the labels whose ``y_true`` holds
  both classes; ``nan`` when none does); ``accuracy`` (share of correct label decisions at
  probability 0.5, i.e. logit >= 0, over all ``N * L`` entries); ``f1`` (binary F1 per label
  at the same threshold, macro-averaged over all labels, 0 where undefined).

Defaults: multiclass ``accuracy``, ``macro_f1``; binary/multilabel ``auroc``, ``auprc``.

Point values use scikit-learn as the reference implementation. The per-resample values are
vectorised (``bincount`` of resampled rows into confusion matrices and, for AUROC/AUPRC, into
class counts per distinct score) and agree on every resample with scikit-learn on the
resampled rows. The macro AUROC/AUPRC of a resample use the fixed label set of all the samples
(:func:`~.inputs.fixed_labels`): a label of the set with a single class in the resample makes
the resample's value ``nan`` (it is not averaged over the remaining labels).
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from mindkit.evaluate.metrics.inputs import (
    MetricWarning,
    Prepared,
    Resamples,
    fixed_labels,
    label_column,
    label_columns,
)
from mindkit.evaluate.metrics.registry import Metric, register_metric

LABEL_TASKS = ("binary", "multilabel")


# ---------------------------------------------------------------------------------------------
# macro ranking metrics (AUROC, AUPRC)
# ---------------------------------------------------------------------------------------------


def _macro_ranking(p: Prepared, fn: Callable[..., float], name: str) -> float:
    ys, ss, names = label_columns(p)
    keep = set(fixed_labels(p).tolist())
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


def _group_codes(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int]:
    """Per sample ``y * G + g`` where ``g`` ranks the ``G`` distinct score values (ascending)."""
    uniq, g = np.unique(s, return_inverse=True)
    n_groups = int(uniq.shape[0])
    return y.astype(np.int64) * n_groups + g.astype(np.int64).ravel(), n_groups


def _rank_counts(p: Prepared, r: Resamples, j: int) -> dict[str, np.ndarray]:
    """Counts per distinct score of label ``j`` (ascending), per resample, each ``[B, G]``.

    Counting resampled rows per (class, score value) turns AUROC and AUPRC of every resample
    into cumulative sums (exact, ties included); the two metrics of one chunk share them.
    """
    key = f"rank_counts_{j}"
    if key not in r.cache:
        codes, n_groups = p.cached(f"group_codes_{j}", lambda: _group_codes(*label_column(p, j)))
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


def _macro_ranking_boot(
    p: Prepared, r: Resamples, from_counts: Callable[[dict[str, np.ndarray]], np.ndarray]
) -> np.ndarray:
    # the fixed label set of the full sample; a label of it with a single class in a
    # resample makes the macro value of that resample nan (the mean propagates it)
    labels = fixed_labels(p)
    if labels.size == 0:
        return np.full(r.b, np.nan)
    per_label = np.stack([from_counts(_rank_counts(p, r, int(j))) for j in labels], axis=1)
    return per_label.mean(axis=1)


# ---------------------------------------------------------------------------------------------
# point and per-resample values
# ---------------------------------------------------------------------------------------------


def _accuracy(p: Prepared) -> float:
    return float(np.mean(p.pred == p.y))


def _accuracy_boot(p: Prepared, r: Resamples) -> np.ndarray:
    correct = p.cached("correct", lambda: (p.pred == p.y).reshape(p.n, -1).mean(axis=1))
    return correct[r.idx].mean(axis=1)


def _macro_f1(p: Prepared) -> float:
    return float(
        f1_score(p.y, p.pred, average="macro", labels=np.arange(p.n_classes), zero_division=0)
    )


def _macro_f1_boot(p: Prepared, r: Resamples) -> np.ndarray:
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


def _f1(p: Prepared) -> float:
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


def _f1_boot(p: Prepared, r: Resamples) -> np.ndarray:
    tp_m = p.cached("tp_m", lambda: (p.y & p.pred).astype(np.float64))
    sum_m = p.cached("sum_m", lambda: p.y.astype(np.float64) + p.pred.astype(np.float64))
    w = r.counts
    tp = w @ tp_m  # [B, L]
    denom = w @ sum_m  # 2 tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
    return f1.mean(axis=1)


def _auroc(p: Prepared) -> float:
    return _macro_ranking(p, roc_auc_score, "auroc")


def _auroc_boot(p: Prepared, r: Resamples) -> np.ndarray:
    return _macro_ranking_boot(p, r, _auroc_from_counts)


def _auprc(p: Prepared) -> float:
    return _macro_ranking(p, average_precision_score, "auprc")


def _auprc_boot(p: Prepared, r: Resamples) -> np.ndarray:
    return _macro_ranking_boot(p, r, _auprc_from_counts)


def _nll(p: Prepared) -> float:
    return float(p.sample_nll.mean())


def _nll_boot(p: Prepared, r: Resamples) -> np.ndarray:
    return p.sample_nll[r.idx].mean(axis=1)


# ---------------------------------------------------------------------------------------------
# the definitions (registration order sets the order of AVAILABLE_METRICS and METRICS_BY_TASK)
# ---------------------------------------------------------------------------------------------

ACCURACY = register_metric(Metric(
    "accuracy", ("binary", "multilabel", "multiclass"), True, _accuracy, _accuracy_boot,
    default_for=("multiclass",),
))
MACRO_F1 = register_metric(Metric(
    "macro_f1", ("multiclass",), True, _macro_f1, _macro_f1_boot, default_for=("multiclass",),
))
F1 = register_metric(Metric("f1", LABEL_TASKS, True, _f1, _f1_boot))
AUROC = register_metric(Metric(
    "auroc", ("binary", "multilabel", "multiclass"), True, _auroc, _auroc_boot,
    default_for=LABEL_TASKS,
))
AUPRC = register_metric(Metric(
    "auprc", LABEL_TASKS, True, _auprc, _auprc_boot, default_for=LABEL_TASKS,
))
NLL = register_metric(Metric("nll", ("multiclass",), False, _nll, _nll_boot))
