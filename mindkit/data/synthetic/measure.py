"""How separable the synthetic ICU sets are: :func:`measure_separability` fits logistic
regressions on simple per-modality summaries and reports their test AUROCs, alone and fused.

These are the reference figures of the data card (:data:`MEASURED`, ``card["measured"]``); they
describe the generator, not any model of mindkit. Reproduce one row with, e.g.::

    from mindkit.data.synthetic import measure_separability
    measure_separability("synthetic_ihm", n_samples=3000, seeds=(0, 1, 2))
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from mindkit.common import SPLITS, check_choice
from mindkit.data.mimic import default_discretizer
from mindkit.data.synthetic.build import build_synthetic
from mindkit.data.synthetic.measured import MEASURED
from mindkit.data.synthetic.notes import NOTE_VOCAB
from mindkit.data.synthetic.world import (
    FACTOR_GROUPS,
    IHM_WEIGHTS,
    MODALITIES,
    PHENO_WEIGHTS,
    draw_factors,
)

TASKS = {"synthetic_ihm": "binary", "synthetic_pheno": "multilabel"}
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def summaries(m: str, x: np.ndarray) -> np.ndarray:
    """Simple per-sample features of modality ``m`` (a split's ``inputs[m]`` as numpy).

    ``ts``: per value column (59) the mean, the last-6-h mean, the std and the slope over the
    48 h, and the mean of each mask (17); ``cxr``: mean, std and maximum of a 4 x 4 grid of
    blocks, the row means and 5 intensity quantiles; ``demo``: the 12 features; ``notes``: the
    word counts (bag of words).
    """
    if m == "ts":
        nv = default_discretizer().n_value_columns
        v, mask = x[:, :, :nv], x[:, :, nv:]
        t = np.arange(x.shape[1], dtype=np.float64)
        tc = (t - t.mean()) / ((t - t.mean()) ** 2).sum()
        slope = np.einsum("ntf,t->nf", v, tc)
        return np.concatenate([v.mean(1), v[:, -6:].mean(1), v.std(1), slope, mask.mean(1)], 1)
    if m == "cxr":
        img = x[:, 0]
        n, s = img.shape[0], img.shape[1] // 4 * 4
        blocks = img[:, :s, :s].reshape(n, 4, s // 4, 4, s // 4).transpose(0, 1, 3, 2, 4)
        blocks = blocks.reshape(n, 16, -1)
        q = np.quantile(img.reshape(n, -1), [0.1, 0.25, 0.5, 0.75, 0.9], axis=1).T
        return np.concatenate([blocks.mean(2), blocks.std(2), blocks.max(2), img.mean(2), q], 1)
    if m == "demo":
        return x.astype(np.float64)
    if m == "notes":
        bow = np.zeros((len(x), len(NOTE_VOCAB)))
        np.add.at(bow, (np.repeat(np.arange(len(x)), x.shape[1]), x.reshape(-1)), 1.0)
        return bow[:, 1:]  # id 0 is padding
    raise ValueError(f"unknown modality {m!r}; use one of {list(MODALITIES)}")


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC, macro over the labels that have both classes."""
    from sklearn.metrics import roc_auc_score

    ok = [k for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
    return float(np.mean([roc_auc_score(y[:, k], score[:, k]) for k in ok]))


def _fit_predict(x_tr, y_tr, x_val, y_val, x_te, cs: Iterable[float]) -> np.ndarray:
    """Logits on ``x_te`` of per-label logistic regressions, ``C`` picked by val AUROC."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x_tr.mean(0), x_tr.std(0)
    std = np.where(std < 1e-9, 1.0, std)
    x_tr, x_val, x_te = ((a - mean) / std for a in (x_tr, x_val, x_te))
    best, best_logits = -np.inf, None
    for c in cs:
        val_logits = np.zeros(y_val.shape)
        te_logits = np.zeros((len(x_te), y_tr.shape[1]))
        for k in range(y_tr.shape[1]):
            if y_tr[:, k].min() == y_tr[:, k].max():  # one class in train: a constant score
                continue
            lr = LogisticRegression(C=c, max_iter=2000).fit(x_tr, y_tr[:, k])
            val_logits[:, k] = lr.decision_function(x_val)
            te_logits[:, k] = lr.decision_function(x_te)
        score = _auroc(y_val, val_logits)
        if score > best:
            best, best_logits = score, te_logits
    return best_logits


def measure_separability(
    name: str = "synthetic_ihm",
    *,
    n_samples: int = 3000,
    seeds: Iterable[int] = (0, 1, 2),
    modalities: Iterable[str] = MODALITIES,
    cs: Iterable[float] = C_GRID,
    **options,
) -> dict[str, float]:
    """Test AUROC of logistic regressions on :func:`summaries`, per modality and fused.

    For each seed, dataset ``name`` is generated with ``n_samples``, ``modalities`` and
    ``options`` (other options at their defaults). Per modality, one logistic regression per
    label is trained on the train samples that have the modality, its ``C`` picked from ``cs``
    by val AUROC; *late* fusion is the sum of the unimodal logits; *concat* fusion is one
    logistic regression on the summaries of every modality side by side, trained on the
    paired train samples only. AUROC (pheno: macro over the labels) on the *paired* test
    samples, averaged over ``seeds``. Returns ``{modality: auroc, ..., "late": ..,
    "concat": ..}`` (rounded to 3 decimals). On one core (``OMP_NUM_THREADS=1``; more BLAS
    threads than cores slow it down) a seed takes about 2 s for ``synthetic_ihm`` and 15 s for
    ``synthetic_pheno`` at ``n_samples=3000``, 20 s and 2 min at 20000.
    """
    task = TASKS[check_choice("name", name, TASKS)]
    mods = list(modalities)
    cs = tuple(cs)
    runs: list[dict[str, float]] = []
    for seed in seeds:
        ds = build_synthetic(task, n_samples=n_samples, modalities=mods, seed=int(seed),
                             **options)
        sp = {s: ds.splits[s] for s in SPLITS}
        y = {s: sp[s].y.numpy() for s in sp}
        feats = {s: {m: summaries(m, sp[s].inputs[m].numpy()) for m in mods} for s in sp}
        has = {s: {m: sp[s].present[m].numpy() for m in mods} for s in sp}
        paired = {s: np.all([has[s][m] for m in mods], axis=0) for s in sp}
        te = paired["test"]
        out, late = {}, 0.0
        for m in mods:
            tr, va = has["train"][m], has["val"][m]
            logits = _fit_predict(feats["train"][m][tr], y["train"][tr], feats["val"][m][va],
                                  y["val"][va], feats["test"][m][te], cs)
            out[m] = _auroc(y["test"][te], logits)
            late = late + logits
        out["late"] = _auroc(y["test"][te], late)
        cat = {s: np.concatenate([feats[s][m] for m in mods], 1)[paired[s]] for s in sp}
        out["concat"] = _auroc(y["test"][te], _fit_predict(
            cat["train"], y["train"][paired["train"]], cat["val"], y["val"][paired["val"]],
            cat["test"], cs))
        runs.append(out)
    return {k: round(float(np.mean([r[k] for r in runs])), 3) for k in runs[0]}



def measure_ceiling(
    name: str = "synthetic_ihm",
    *,
    n_samples: int = 3000,
    seeds: Iterable[int] = (0, 1, 2),
    **options,
) -> dict[str, float]:
    """Test AUROC of the *true* label logit restricted to the factors each modality shows.

    Per modality ``m``: the generator's own logit using only the shared factors and ``m``'s
    factors (the others set to their mean, 0); ``"all"``: every factor but the hidden one.
    No model can beat these on average with that modality (up to noise in the small test
    sets), so they bound :func:`measure_separability`. Same samples as there (paired test
    samples, all four modalities requested, ``options`` passed on); averaged over ``seeds``.
    """
    task = TASKS[check_choice("name", name, TASKS)]
    w = IHM_WEIGHTS[None] if task == "binary" else PHENO_WEIGHTS
    views = {m: [*FACTOR_GROUPS["shared"], *FACTOR_GROUPS[m]] for m in MODALITIES}
    views["all"] = [f for g, fs in FACTOR_GROUPS.items() if g != "hidden" for f in fs]
    runs = []
    for seed in seeds:
        ds = build_synthetic(task, n_samples=n_samples, modalities=MODALITIES, seed=int(seed),
                             **options)
        te = ds.splits["test"]
        paired = np.all([te.present[m].numpy() for m in MODALITIES], axis=0)
        z = draw_factors(int(seed), n_samples)[te.ids.numpy()[paired]]
        y = te.y.numpy()[paired]
        runs.append({k: _auroc(y, z[:, f] @ w[:, f].T) for k, f in views.items()})
    return {k: round(float(np.mean([r[k] for r in runs])), 3) for k in runs[0]}


__all__ = ["MEASURED", "measure_ceiling", "measure_separability", "summaries"]
