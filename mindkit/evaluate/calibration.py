"""Calibration (expected calibration error, reliability tables) and per-label ranking tables.

Knowledge distillation is known to change calibration (a student trained on softened teacher
outputs can end up under- or over-confident), so teachers, ensembles and students are all
scored here the same way, from their prediction frames (:mod:`mindkit.evaluate.predictions`).

Definitions (these choices are mindkit's; they are stated so numbers can be compared):

* **Bins.** ``n_bins`` equal-width bins on ``[0, 1]`` with edges
  ``np.linspace(0, 1, n_bins + 1)``. Bins are closed on the right: bin ``k`` holds the
  probabilities in ``(edge_k, edge_k+1]``, except the first, which is ``[0, edge_1]``. So a
  probability exactly ``1.0`` lands in the last bin, ``0.0`` in the first, and one equal to an
  inner edge (as a float64) in the bin below that edge. This is the binning of scikit-learn's
  ``calibration_curve(strategy="uniform")``.
* **multiclass: top-label ECE.** Confidence = the largest probability of a row, correct =
  whether its class (``argmax``, ties to the lowest index, as the metrics) equals ``y``. With
  ``B_k`` the rows whose confidence falls in bin ``k``,
  ``ECE = sum_k |B_k| / N * |accuracy(B_k) - mean confidence(B_k)|``, which equals
  ``sum_k |sum_{i in B_k} (confidence_i - correct_i)| / N``.
* **binary / multilabel: per-label ECE, averaged over labels.** For each label ``j`` the bins
  are over the predicted probability of the positive class ``p_ij``, and the bin's gap is
  ``|fraction of positives - mean p|`` weighted by its share of the ``N`` rows; the ECE is the
  unweighted mean of these per-label values over the ``L`` labels (binary: ``L = 1``).
  Alternatives we did **not** choose: the top-label binary ECE (confidence ``max(p, 1 - p)``,
  correct = thresholded at 0.5), which folds the two halves of the diagram onto each other,
  and a pooled ("marginal") ECE over all ``N * L`` entries in one set of bins, which lets
  errors of opposite sign in different labels cancel (it is never larger than ours, by the
  triangle inequality); :func:`reliability_table` with ``pooled=True`` gives that diagram.
* Empty bins contribute nothing. The estimator is the usual binned one: it is biased (upwards
  for a well-calibrated model with few samples per bin) and depends on ``n_bins``; compare
  models only at the same ``n_bins`` on the same samples.

Bootstrap: as in :mod:`mindkit.evaluate.metrics`, resample ``b`` uses row ``b`` of
``np.random.default_rng(seed).integers(0, N, size=(n_boot, N))`` over the rows (a row keeps all
its labels), so two models scored on the same ``N`` rows with the same seed see the same
resamples (:func:`ece_distribution` gives the per-resample values for a paired comparison via
:func:`mindkit.evaluate.metrics.pooled_paired_difference`). The interval is the percentile one.
Because the binned ECE is an absolute value, its resampling distribution sits above the point
estimate when the model is nearly calibrated, so the percentile interval can then exclude the
point estimate; read a small ECE's interval as "how large it could be", not as centred on it.

Per-label tables (:func:`per_label_table`): AUROC and AUPRC per label of a binary/multilabel
head, scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on the head's scored rows,
with percentile-bootstrap CIs on the same resamples. A label with a single class among those
rows is undefined (``nan``) with a ``reason``, never 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mindkit.evaluate.metrics.bootstrap import (
    bootstrap_summary,
    check_boot_args,
    iter_resamples,
    percentiles,
)
from mindkit.evaluate.metrics.inputs import prepare, to_numpy
from mindkit.evaluate.metrics.records import check_fields
from mindkit.evaluate.predictions import (
    frame_groups,
    frame_heads,
    frame_modalities,
    frame_probs,
    frame_y,
    head_groups,
    scored_rows,
)

_CALIBRATION_RESERVED = (
    "metric", "value", "ci_low", "ci_high", "n", "boot_undefined", "n_bins", "head", "group",
)


# ---------------------------------------------------------------------------------------------
# validation and binning
# ---------------------------------------------------------------------------------------------


def _check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def _check_probs(probs: Any) -> np.ndarray:
    s = to_numpy(probs, "probs")
    if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"probs must be real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64, copy=False)
    if s.size and not np.all(np.isfinite(s)):
        raise ValueError(
            "probs contain NaN or infinite values (a prediction frame holds NaN where a head "
            "did not serve a row: pass only the rows it served)"
        )
    if s.size and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError(
            f"probs must be probabilities in [0, 1], got values in [{s.min():g}, {s.max():g}] "
            "(logits? apply softmax / sigmoid first)"
        )
    return s


def _confidence_outcome(task: str, y_true: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(confidence, outcome)``, both float64 ``[N, K]``: multiclass ``K = 1``
    (top-label confidence, 1.0 where correct), binary/multilabel ``K = L`` (p(positive), 1.0
    where positive)."""
    p = prepare(task, y_true, _check_probs(probs), from_probs=True)
    if p.n == 0:
        raise ValueError("no samples: y_true and probs are empty")
    if task == "multiclass":
        conf = p.scores.max(axis=1)
        correct = p.scores.argmax(axis=1) == p.y
        return conf[:, None], correct.astype(np.float64)[:, None]
    return p.scores, p.y.astype(np.float64)


def bin_edges(n_bins: int = 15) -> np.ndarray:
    """The ``n_bins + 1`` equal-width bin edges on ``[0, 1]``."""
    return np.linspace(0.0, 1.0, _check_n_bins(n_bins) + 1)


def bin_index(probs: Any, n_bins: int = 15) -> np.ndarray:
    """The bin of each probability: ``k`` for ``(edge_k, edge_k+1]``, ``0`` for ``[0, edge_1]``
    (so ``1.0`` is in bin ``n_bins - 1``)."""
    edges = bin_edges(n_bins)
    return np.searchsorted(edges[1:-1], np.asarray(probs, dtype=np.float64), side="left")


def _gap_matrix(conf: np.ndarray, outcome: np.ndarray, n_bins: int) -> sp.csc_matrix:
    """Sparse ``[N, K * n_bins]``: row ``i`` holds ``confidence - outcome`` of each label ``k``
    in column ``k * n_bins + bin``. ``w @ M`` sums the gaps per (label, bin) for row weights
    ``w``."""
    n, k = conf.shape
    cols = np.arange(k)[None, :] * n_bins + bin_index(conf, n_bins)
    rows = np.repeat(np.arange(n), k)
    return sp.csc_matrix(
        ((conf - outcome).ravel(), (rows, cols.ravel())), shape=(n, k * n_bins)
    )


def _ece_from_sums(sums: np.ndarray, n: int, k: int, n_bins: int) -> np.ndarray:
    """ECE per row of ``sums`` (``[B, K * n_bins]`` gap sums): sum over bins of
    ``|sum of gaps| / N``, mean over the ``K`` labels."""
    return np.abs(sums).reshape(-1, k, n_bins).sum(axis=2).mean(axis=1) / n


# ---------------------------------------------------------------------------------------------
# ECE and reliability tables
# ---------------------------------------------------------------------------------------------


def expected_calibration_error(task: str, y_true: Any, probs: Any, n_bins: int = 15) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins (see the module docstring).

    ``multiclass``: ``y_true`` class indices ``[N]``, ``probs`` ``[N, C]`` rows summing to 1;
    top-label ECE. ``binary``/``multilabel``: ``y_true`` 0/1 ``[N, L]`` (``[N]`` for binary),
    ``probs`` ``[N, L]`` probabilities of the positive class; per-label ECE averaged over the
    labels. Bins are ``(lo, hi]``, the first ``[0, 1 / n_bins]``. ``ValueError`` for
    probabilities outside ``[0, 1]`` or not finite, mismatched shapes, no samples, or
    ``n_bins < 1``.
    """
    n_bins = _check_n_bins(n_bins)
    conf, outcome = _confidence_outcome(task, y_true, probs)
    n, k = conf.shape
    sums = np.ones((1, n)) @ _gap_matrix(conf, outcome, n_bins)
    return float(_ece_from_sums(np.asarray(sums), n, k, n_bins)[0])


def ece_distribution(task: str, y_true: Any, probs: Any, n_bins: int = 15, n_boot: int = 1000,
                     seed: int = 0) -> np.ndarray:
    """The ECE on each of ``n_boot`` bootstrap resamples of the rows: float64 ``[n_boot]``.

    Resample ``b`` is row ``b`` of ``np.random.default_rng(seed).integers(0, N, size=(n_boot,
    N))`` (the scheme of :mod:`mindkit.evaluate.metrics`), so two models on the same rows with
    the same seed give paired distributions. Vectorised: one sparse product per chunk of
    resamples.
    """
    n_bins = _check_n_bins(n_bins)
    check_boot_args(n_boot)
    conf, outcome = _confidence_outcome(task, y_true, probs)
    return _ece_boot(conf, outcome, n_bins, int(n_boot), seed)


def _ece_boot(conf: np.ndarray, outcome: np.ndarray, n_bins: int, n_boot: int,
              seed: int) -> np.ndarray:
    n, k = conf.shape
    mt = _gap_matrix(conf, outcome, n_bins).T.tocsr()  # [K * n_bins, N]
    out = [
        _ece_from_sums(np.asarray(mt @ r.counts.T).T, n, k, n_bins)
        for r in iter_resamples(n, n_boot, seed)
    ]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float64)


def reliability_table(task: str, y_true: Any, probs: Any, n_bins: int = 15, *,
                      pooled: bool = False):
    """The reliability diagram as a table (pandas DataFrame), one row per bin.

    Columns: ``bin`` (0-based), ``bin_low``, ``bin_high`` (the bin is ``(bin_low, bin_high]``,
    the first includes 0), ``count`` (rows, or label entries, in the bin), ``weight``
    (``count / N``), ``confidence`` (mean confidence / predicted probability in the bin),
    ``accuracy`` (multiclass: share correct) or ``frequency`` (binary/multilabel: share
    positive), and ``gap`` = ``accuracy``/``frequency`` minus ``confidence`` (positive:
    under-confident). Empty bins are kept with ``count`` 0 and ``nan`` means.

    binary/multilabel: one block of ``n_bins`` rows per label, with a ``label`` column (the
    label's index), so that ``table.groupby("label").apply(lambda t: (t.weight *
    t.gap.abs()).sum()).mean()`` is :func:`expected_calibration_error`. With ``pooled=True`` the
    ``N * L`` entries share one set of bins instead (no ``label`` column; ``weight`` is then
    ``count / (N * L)``): the pooled diagram, whose weighted gaps sum to the pooled ECE, which
    can be smaller than ours (see the module docstring). multiclass: ``n_bins`` rows (top-label),
    no ``label`` column; ``pooled`` has no effect.
    """
    import pandas as pd

    n_bins = _check_n_bins(n_bins)
    conf, outcome = _confidence_outcome(task, y_true, probs)
    if task != "multiclass" and pooled:
        conf, outcome = conf.reshape(-1, 1), outcome.reshape(-1, 1)
    n, k = conf.shape
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = bin_index(conf, n_bins)  # [N, K]
    codes = (np.arange(k)[None, :] * n_bins + bins).ravel()
    size = k * n_bins
    count = np.bincount(codes, minlength=size).astype(np.float64)
    sum_conf = np.bincount(codes, weights=conf.ravel(), minlength=size)
    sum_out = np.bincount(codes, weights=outcome.ravel(), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, sum_conf / count, np.nan)
        mean_out = np.where(count > 0, sum_out / count, np.nan)
    observed = "accuracy" if task == "multiclass" else "frequency"
    cols: dict[str, Any] = {}
    if task != "multiclass" and not pooled:
        cols["label"] = np.repeat(np.arange(k), n_bins)
    b = np.tile(np.arange(n_bins), k)
    cols.update({
        "bin": b,
        "bin_low": edges[b],
        "bin_high": edges[b + 1],
        "count": count.astype(np.int64),
        "weight": count / n,
        "confidence": mean_conf,
        observed: mean_out,
        "gap": mean_out - mean_conf,
    })
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------------------
# records from prediction frames
# ---------------------------------------------------------------------------------------------


def default_group(head: str, modalities: list[str]) -> str:
    """The group a head is shown on when only one is: ``all`` for ``routed``, ``paired`` for
    ``mm``, ``has_<m>`` for a unimodal head (the first of
    :func:`mindkit.evaluate.predictions.head_groups`)."""
    return head_groups(head, modalities)[0]


def calibration_records(frame, task: str, n_bins: int = 15, n_boot: int = 1000,
                        boot_seed: int = 0, heads: list[str] | None = None, *,
                        ci_alpha: float = 0.05, **fields: Any) -> list[dict[str, Any]]:
    """Tidy ECE records per head and group of a prediction frame (student, teacher or ensemble).

    Each head is scored on the rows :func:`~mindkit.evaluate.predictions.records_from_predictions`
    scores it on (a unimodal head on ``has_<m>``, ``mm`` on ``paired``, ``routed`` on ``all``,
    ``paired`` and each ``only_<m>``); an empty group gives no record. Each record is
    ``{"head", "group", **fields, "metric": "ece", "value", "ci_low", "ci_high", "n",
    "boot_undefined" (always 0: the ECE is defined on every resample), "n_bins"}``; the CI is
    the ``ci_alpha / 2`` and ``1 - ci_alpha / 2`` percentiles over ``n_boot`` resamples of the
    group's rows (``nan`` with ``n_boot=0``). See the module docstring on reading the CI of a
    small ECE.
    """
    check_fields(fields, _CALIBRATION_RESERVED)
    n_bins = _check_n_bins(n_bins)
    check_boot_args(n_boot, ci_alpha)
    mods = frame_modalities(frame)
    groups = frame_groups(frame)
    y = frame_y(frame, task)
    recs: list[dict[str, Any]] = []
    for h in heads or frame_heads(frame):
        probs = frame_probs(frame, h)
        for g in head_groups(h, mods):
            rows = scored_rows(frame, h, g, groups)
            n = int(rows.sum())
            if n == 0:
                continue
            conf, outcome = _confidence_outcome(task, y[rows], probs[rows])
            value = float(
                _ece_from_sums(
                    np.asarray(np.ones((1, n)) @ _gap_matrix(conf, outcome, n_bins)),
                    n, conf.shape[1], n_bins,
                )[0]
            )
            dist = _ece_boot(conf, outcome, n_bins, int(n_boot), boot_seed)
            lo, hi = percentiles(dist, ci_alpha)
            recs.append({
                "head": h,
                "group": g,
                **fields,
                "metric": "ece",
                "value": value,
                "ci_low": lo,
                "ci_high": hi,
                "n": n,
                "boot_undefined": 0,
                "n_bins": n_bins,
            })
    return recs


def per_label_table(frame, task: str, head: str, class_names: list[str] | None = None,
                    n_boot: int = 1000, boot_seed: int = 0, *, group: str | None = None,
                    ci_alpha: float = 0.05):
    """Per-label AUROC and AUPRC of one head of a binary/multilabel prediction frame.

    Scored on the head's rows in ``group`` (default: :func:`default_group`, e.g. ``all`` for
    ``routed``; any group of ``head_groups(head, ...)`` may be named). One row per label with
    ``head``, ``group``, ``label`` (index), ``name``, ``n`` (rows), ``n_pos``, ``prevalence``,
    ``auroc``/``auprc`` (scikit-learn on all the rows) with ``*_ci_low``/``*_ci_high``
    (percentile bootstrap; every label on the same resamples, the scheme of
    :mod:`mindkit.evaluate.metrics`), ``boot_undefined`` (resamples where the label had a single
    class, skipped by the CI) and ``reason`` (empty when defined). A label with a single class
    among the rows has ``nan`` metrics and CIs, and ``reason`` says which class.

    multiclass has no per-label AUROC here: use ``metric_records(..., metrics=["auroc"])`` (macro
    one-vs-rest) or ``sklearn.metrics.classification_report`` for per-class precision/recall.
    """
    import pandas as pd

    if task == "multiclass":
        raise ValueError(
            "per_label_table is for binary/multilabel tasks (labels that are each positive or "
            "negative); for multiclass use metric_records(task, y, probs, metrics=['auroc'], "
            "from_probs=True) for the macro one-vs-rest AUROC, or "
            "sklearn.metrics.classification_report for per-class precision/recall"
        )
    if task not in ("binary", "multilabel"):
        raise ValueError(f"unknown task {task!r}; per_label_table takes 'binary' or 'multilabel'")
    check_boot_args(n_boot, ci_alpha)
    mods = frame_modalities(frame)
    valid = head_groups(head, mods)
    group = default_group(head, mods) if group is None else group
    if group not in valid:
        raise ValueError(f"head {head!r} is scored on groups {valid}, not {group!r}")
    rows = scored_rows(frame, head, group, frame_groups(frame))
    y = frame_y(frame, task)[rows]
    probs = frame_probs(frame, head)[rows]
    n, n_labels = probs.shape
    if y.shape[1] != n_labels:
        raise ValueError(f"the frame has {y.shape[1]} label columns but head {head!r} has "
                         f"{n_labels} probability columns")
    if class_names is None:
        class_names = [f"label {j}" for j in range(n_labels)]
    elif len(class_names) != n_labels:
        raise ValueError(f"class_names has {len(class_names)} names for {n_labels} labels")
    out = []
    for j in range(n_labels):
        n_pos = int(y[:, j].sum())
        row = {"head": head, "group": group, "label": j, "name": str(class_names[j]), "n": n,
               "n_pos": n_pos, "prevalence": n_pos / n if n else float("nan")}
        nan = float("nan")
        if n == 0 or n_pos in (0, n):
            reason = ("no scored rows" if n == 0 else
                      f"only {'negatives' if n_pos == 0 else 'positives'} among the {n} "
                      "scored rows")
            row.update({"auroc": nan, "auroc_ci_low": nan, "auroc_ci_high": nan,
                        "auprc": nan, "auprc_ci_low": nan, "auprc_ci_high": nan,
                        "boot_undefined": int(n_boot), "reason": reason})
        else:
            s = bootstrap_summary("binary", y[:, j], probs[:, j], ["auroc", "auprc"],
                                  n_boot=n_boot, ci_alpha=ci_alpha, boot_seed=boot_seed,
                                  from_probs=True)
            row.update({"auroc": s["auroc"].value, "auroc_ci_low": s["auroc"].ci_low,
                        "auroc_ci_high": s["auroc"].ci_high, "auprc": s["auprc"].value,
                        "auprc_ci_low": s["auprc"].ci_low, "auprc_ci_high": s["auprc"].ci_high,
                        "boot_undefined": s["auroc"].n_undefined, "reason": ""})
        out.append(row)
    return pd.DataFrame(out)
