"""scikit-learn references shared by the metric tests (not a test module)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import softmax
from sklearn.metrics import average_precision_score, roc_auc_score


def sk_macro_fixed(task, y, s, rows, metric):
    """scikit-learn macro AUROC/AUPRC of ``rows`` over the FIXED label set (labels, or
    one-vs-rest classes, with both classes on all of ``y``); nan if one of them has a single
    class among ``rows`` (or the set is empty)."""
    fn = roc_auc_score if metric == "auroc" else average_precision_score
    if task == "multiclass":
        ys, ss = np.eye(s.shape[1], dtype=bool)[y], softmax(s, axis=1)
    else:
        ys = np.asarray(y).reshape(len(y), -1).astype(bool)
        ss = np.asarray(s, dtype=float).reshape(len(s), -1)
    vals = []
    for j in [j for j in range(ys.shape[1]) if 0 < ys[:, j].sum() < len(ys)]:
        col = ys[rows, j]
        if col.all() or not col.any():
            return math.nan
        vals.append(fn(col, ss[rows, j]))
    return float(np.mean(vals)) if vals else math.nan
