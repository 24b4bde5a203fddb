"""Robustness curves: how each model degrades as modalities go missing or noisy at test time.

Robustness is a curve, not a number (MultiBench). Every definition here is exact:

**Test-time missingness** (:func:`missing_conditions`, :func:`missingness_curves`). For a
modality ``m`` the *eligible* test samples are those that have ``m`` and at least one other
modality (a sample whose only modality is ``m`` cannot lose it and still be predicted). At rate
``p``, ``m`` is marked absent for the first ``floor(p * n_eligible + 0.5)`` eligible samples of
one seeded permutation, so the sets are nested (a sample dropped at 0.1 is dropped at 0.2) and
depend only on the split, ``m`` and the seed, never on the model: every model loses the same
samples. ``random`` drops, at rate ``p``, one modality per sample among those with at least two,
the modality drawn uniformly from the ones it has (one seeded draw per sample, kept across
rates). ``keep`` conditions score the samples that have every modality with only a subset ``S``
of them left, for every non-empty ``S`` (``p = 1``; the full set is the no-drop baseline).

"Absent" means ``present[m] = False`` and the model's own rule serves the sample: a MIND student
routes to the remaining heads, a single-head baseline zero-fills or uses its learned token as it
was trained, the teachers average the ensembles they still have. The absent modality's input
values are replaced by NaN in floating tensors, so a model that read them anyway would produce
NaN (and fail loudly) instead of silently using the withheld data.

Models in eval mode score each sample independently, so a sample's prediction with a given set of
modalities absent is the same at every rate: it is computed once per model and set of absent
modalities, and every point of a curve is assembled from those predictions (no retraining; the
``p = 0`` point is the plain evaluation).

**Test-time corruption** (:func:`corruption_curves`). Gaussian noise ``level * sd * eps`` is added
to one modality at a time, on every sample that has it, where ``sd`` is the modality's train-set
standard deviation per channel (images) or per feature (sequences, time series, tabular), over
present samples and their true steps only, and ``eps`` is one seeded standard normal draw per
modality, shared by all levels and models. Padding steps are left untouched; token modalities
are skipped (noise on ids is undefined).

**Scored samples.** A curve point scores the model's one routed prediction per sample on a group
defined by the *original* presence (``all`` or ``paired``; ``keep`` conditions: ``paired``), so
every point of a curve, and every model, is scored on the same samples, and the bootstrap
resamples (``boot_seed``) are the same: curve points, areas and differences are paired.

**Summaries** (:func:`curve_summaries`), per model, condition, modality, group and metric, over
the levels ``x_0 < ... < x_K`` of a curve ``f``:

* ``robustness_auc``: the area under the curve divided by the level range,
  ``trapz(f, x) / (x_K - x_0)``: the mean metric over the levels, in the metric's units. This is
  MultiBench's *relative robustness* (Liang et al., 2021, "MultiBench: Multiscale Benchmarks for
  Multimodal Representation Learning", NeurIPS Datasets and Benchmarks; their code sums
  trapezoids of width 0.1 over levels 0..1, the same number for that grid), before the min-max
  normalisation across the methods of a table that MultiBench then applies. We do not normalise:
  it makes a model's score depend on which other models are listed and is undefined (0/0) when
  they tie, the source of the "0.0" robustness scores its users reported.
* ``effective_robustness`` (against a ``reference`` model scored on the same samples):
  ``trapz((f - f(x_0)) - (r - r(x_0)), x) / (x_K - x_0)``: how much less (or more) the model
  loses than the reference, once both are shifted to start from their own clean score. MultiBench
  defines effective robustness as the performance beyond the reference (late fusion) curve
  shifted to the model's clean score, summed over its levels (Taori et al., 2020, "Measuring
  robustness to natural distribution shifts"); ours is the same quantity as a level-weighted
  mean, so it does not grow with the number of levels.
* ``auc_difference``: ``robustness_auc(model) - robustness_auc(reference)``.
* ``robustness_drop``: ``f(x_K) - f(x_0)``.

Each has a percentile bootstrap CI from the per-resample curves (the same resampled samples at
every level). A summary with a level where the metric is undefined on all resamples is NaN, and
resamples where any level is undefined are skipped and counted in ``boot_undefined``.

**Devices.** The withheld and noisy copies of the split are made in CPU memory (the noise drawn
on the CPU, so a seed gives the same noise on every device); each model predicts on its own
device, or on ``device=`` (a device option: the models are moved there in place), and its
probabilities come back to the CPU for scoring.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from mindkit.data.base import Split, validate_for_model
from mindkit.device import move_model
from mindkit.evaluate.metrics import (
    bootstrap_distribution,
    compute_metrics,
    resolve_metrics,
)
from mindkit.evaluate.metrics.bootstrap import percentiles
from mindkit.models.predict import predict_student

DEFAULT_RATES = tuple(round(0.1 * i, 1) for i in range(11))
DEFAULT_NOISE = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
CURVE_KINDS = ("drop", "drop_random", "noise")
KINDS = CURVE_KINDS + ("keep",)


@dataclass(frozen=True)
class Condition:
    """One test-time condition: ``kind`` (``drop``, ``drop_random``, ``keep``, ``noise``),
    ``target`` (the dropped or noised modality, ``random``, or the kept modalities joined by
    ``+``), ``level`` (the rate ``p``, 1 for ``keep``, the noise level in train-SD units) and,
    for the missingness kinds, ``removed``: bool ``[N, M]`` over the split's rows and its
    modalities in sorted order."""

    kind: str
    target: str
    level: float
    removed: np.ndarray | None = field(default=None, compare=False, repr=False)


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator keyed by the seed and names (not by positions, so adding a modality or a
    model never changes another's draws)."""
    return np.random.default_rng([int(seed), *[zlib.crc32(k.encode()) for k in keys]])


def _count(share: float, n: int) -> int:
    return int(math.floor(share * n + 0.5))


def _check_levels(levels: Sequence[float], what: str, upper: float | None) -> list[float]:
    vals = [float(v) for v in levels]
    if not vals:
        raise ValueError(f"no {what} given")
    if any(not math.isfinite(v) or v < 0 or (upper is not None and v > upper) for v in vals):
        raise ValueError(f"{what} must be finite and in [0, {upper if upper else 'inf'}), got "
                         f"{vals}")
    if vals != sorted(set(vals)):
        raise ValueError(f"{what} must be increasing without repeats, got {vals}")
    return vals


def routed_presence(present: dict[str, Tensor | np.ndarray]) -> tuple[list[str], np.ndarray]:
    mods = sorted(present)
    return mods, np.stack([np.asarray(present[m], dtype=bool) for m in mods], 1)


def missing_conditions(present: dict[str, Tensor | np.ndarray],
                       rates: Sequence[float] = DEFAULT_RATES, seed: int = 0,
                       modalities: Sequence[str] | None = None, random: bool = True,
                       subsets: bool = True) -> list[Condition]:
    """The missingness conditions of a split with presence masks ``present`` (see the module
    docstring): ``drop`` for each modality in ``modalities`` (default: all) at each rate,
    ``drop_random`` at each rate (when ``random`` and there are at least two modalities), and
    ``keep`` for every non-empty subset of the modalities (when ``subsets``)."""
    rates = _check_levels(rates, "rates", 1.0)
    mods, pres = routed_presence(present)
    chosen = list(modalities) if modalities is not None else mods
    unknown = [m for m in chosen if m not in mods]
    if unknown:
        raise ValueError(f"no modality {unknown}; the split has {mods}")
    if len(mods) < 2:
        raise ValueError("missingness curves need at least two modalities: with one, a sample "
                         "that loses it cannot be predicted")
    n, k = pres.shape
    out = []
    for m in chosen:
        j = mods.index(m)
        eligible = np.flatnonzero(pres[:, j] & (pres.sum(1) >= 2))
        order = _rng(seed, "drop", m).permutation(eligible)
        for p in rates:
            removed = np.zeros((n, k), dtype=bool)
            removed[order[:_count(p, len(order))], j] = True
            out.append(Condition("drop", m, p, removed))
    if random:
        eligible = np.flatnonzero(pres.sum(1) >= 2)
        rng = _rng(seed, "drop_random")
        order = rng.permutation(eligible)
        # one draw per sample (in row order) of which of its modalities it would lose
        pick = {int(i): rng.choice(np.flatnonzero(pres[i])) for i in eligible}
        for p in rates:
            removed = np.zeros((n, k), dtype=bool)
            for i in order[:_count(p, len(order))]:
                removed[i, pick[int(i)]] = True
            out.append(Condition("drop_random", "random", p, removed))
    if subsets:
        paired = pres.all(1)
        for r in range(1, k + 1):
            for keep in itertools.combinations(range(k), r):
                removed = np.zeros((n, k), dtype=bool)
                for j in set(range(k)) - set(keep):
                    removed[paired, j] = True
                out.append(Condition("keep", "+".join(mods[j] for j in keep), 1.0, removed))
    return out


def absent_split(split: Split, removed: np.ndarray, rows: np.ndarray | None = None) -> Split:
    """``split`` (or its ``rows``) with the modalities in ``removed`` (bool ``[N, M]``, the
    split's modalities in sorted order) marked absent; their floating input values become NaN.
    A row left with no modality is refused."""
    mods = split.modalities
    removed = np.asarray(removed, dtype=bool)
    if removed.shape != (len(split), len(mods)):
        raise ValueError(f"removed must be bool[{len(split)}, {len(mods)}] (rows x modalities "
                         f"{mods}), got shape {removed.shape}")
    sel = np.arange(len(split)) if rows is None else np.asarray(rows)
    idx = torch.as_tensor(sel, dtype=torch.long)
    sub = split.subset(idx)
    rem = torch.as_tensor(removed[sel], device=sub.device)
    present, inputs = {}, {}
    for j, m in enumerate(mods):
        drop = rem[:, j] & sub.present[m]
        present[m] = sub.present[m] & ~rem[:, j]
        x = sub.inputs[m]
        if drop.any() and x.is_floating_point():
            x = x.clone()
            x[drop] = float("nan")
        inputs[m] = x
    left = torch.stack([present[m] for m in mods], 1).any(1)
    if not bool(left.all()):
        bad = (~left).nonzero().flatten()[:5].tolist()
        raise ValueError(f"removing these modalities leaves {int((~left).sum())} sample(s) with "
                         f"none (e.g. rows {[int(sel[i]) for i in bad]} of split "
                         f"{split.name!r}); only remove a modality where another one remains")
    return Split(inputs, present, sub.y, sub.ids, sub.lengths, split.name)


def _routed(model, split: Split, task: str) -> np.ndarray:
    probs, _ = model.route(predict_student(model, split), task)
    return probs.detach().cpu().double().numpy()


class RoutedPredictions:
    """One model's routed probabilities on ``split``, with any set of modalities absent: each
    set is computed once (on the rows it changes) and cached. The model predicts where it is;
    the split is read from CPU memory."""

    def __init__(self, model, split: Split, task: str) -> None:
        split = split.to("cpu")
        self.model, self.split, self.task = model, split, task
        self.mods, self.pres = routed_presence(split.present)
        self.base = _routed(model, split, task)
        self._cache: dict[frozenset, np.ndarray] = {}

    def with_absent(self, absent: frozenset[str]) -> np.ndarray:
        """Probabilities ``[N, C]`` with ``absent`` removed where the sample keeps another
        modality (NaN rows where it would keep none)."""
        if not absent:
            return self.base
        if absent not in self._cache:
            cols = [self.mods.index(m) for m in absent]
            rest = [j for j in range(len(self.mods)) if j not in cols]
            keeps = self.pres[:, rest].any(1)
            changed = np.flatnonzero(keeps & self.pres[:, cols].any(1))
            out = self.base.copy()
            out[~keeps] = np.nan
            if changed.size:
                removed = np.zeros_like(self.pres)
                removed[:, cols] = True
                sub = absent_split(self.split, removed, changed)
                out[changed] = _routed(self.model, sub, self.task)
            self._cache[absent] = out
        return self._cache[absent]

    def under(self, cond: Condition) -> np.ndarray:
        """Probabilities under a missingness condition, row by row."""
        out = self.base.copy()
        patterns: dict[frozenset, list[int]] = {}
        for i in np.flatnonzero(cond.removed.any(1)):
            key = frozenset(self.mods[j] for j in np.flatnonzero(cond.removed[i]))
            patterns.setdefault(key, []).append(int(i))
        for key, rows in patterns.items():
            out[rows] = self.with_absent(key)[rows]
        return out


@dataclass
class RobustnessResult:
    """Curve-point records and their bootstrap distributions (for :func:`curve_summaries`).

    ``dist[(method, kind, target, level, group, metric)]`` is the metric on each bootstrap
    resample of that point's samples."""

    records: list[dict] = field(default_factory=list)
    dist: dict[tuple, np.ndarray] = field(default_factory=dict)
    ci_alpha: float = 0.05

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.records)


def _group_rows(pres: np.ndarray, group: str) -> np.ndarray:
    if group == "all":
        return np.ones(pres.shape[0], dtype=bool)
    if group == "paired":
        return pres.all(1)
    raise ValueError(f"unknown group {group!r} for robustness curves; use 'all' or 'paired'")


def _score_point(result: RobustnessResult, key: tuple, task: str, y: np.ndarray,
                 probs: np.ndarray, metrics: list[str], n_boot: int, boot_seed: int,
                 fields: dict) -> None:
    if len(y) == 0:
        return
    if not np.isfinite(probs).all():
        raise ValueError(f"non-finite predictions for {key[:4]}: a model read a withheld "
                         "(NaN-filled) input or failed on these samples")
    point = compute_metrics(task, y, probs, metrics, from_probs=True)
    dist = (bootstrap_distribution(task, y, probs, metrics, n_boot, boot_seed, from_probs=True)
            if n_boot else {m: np.empty(0) for m in metrics})
    for m in metrics:
        ok = np.isfinite(dist[m])
        lo, hi = percentiles(dist[m][ok], result.ci_alpha)
        result.dist[(*key, m)] = dist[m]
        result.records.append({**fields, "metric": m, "value": point[m], "ci_low": lo,
                               "ci_high": hi, "n": int(len(y)),
                               "boot_undefined": int(n_boot - ok.sum())})


def routed_labels(split: Split, task: str) -> np.ndarray:
    y = split.y.cpu().numpy()
    return y.astype(np.int64) if task == "multiclass" else y.reshape(len(split), -1)


def missingness_curves(models: dict, split: Split, task: str,
                       rates: Sequence[float] = DEFAULT_RATES, drop_seed: int = 0,
                       groups: Sequence[str] = ("all", "paired"),
                       metrics: Sequence[str] | None = None, n_boot: int = 1000,
                       boot_seed: int = 0, modalities: Sequence[str] | None = None,
                       random: bool = True, subsets: bool = True, ci_alpha: float = 0.05,
                       device=None, **fields) -> RobustnessResult:
    """Score every model (``{name: model}``, each with ``forward_batch`` and ``route``: a
    student or :class:`mindkit.models.teachers.TeacherLateFusion`) under every missingness
    condition of :func:`missing_conditions`. Records: ``statistic="robustness_curve"``,
    ``method`` (the model's name), ``head="routed"``, ``condition``, ``target``, ``level``,
    ``group``, ``n`` (samples scored), ``n_affected`` (of them, samples that lost a modality)
    and the metric with its bootstrap CI; ``fields`` are added to each (e.g. the run's
    ``seed``). ``drop_seed`` seeds which samples lose a modality. ``split`` is checked first
    against each model (:func:`~mindkit.data.base.validate_for_model`). ``device``: where the
    models predict (module docstring; ``None``: where each one is)."""
    split = split.to("cpu")
    for name, model in models.items():
        validate_for_model(split, model, task, f"missingness_curves ({name})")
        move_model(model, device)
    metrics = resolve_metrics(task, list(metrics) if metrics else None)
    conds = missing_conditions(split.present, rates, drop_seed, modalities, random, subsets)
    y = routed_labels(split, task)
    _, pres = routed_presence(split.present)
    result = RobustnessResult(ci_alpha=ci_alpha)
    base = {"split": split.name, "head": "routed", "statistic": "robustness_curve", **fields}
    for name, model in models.items():
        pred = RoutedPredictions(model, split, task)
        for c in conds:
            probs = pred.under(c)
            for g in (("paired",) if c.kind == "keep" else groups):
                rows = _group_rows(pres, g)
                rec = {**base, "method": name, "model": type(model).__name__,
                       "condition": c.kind, "target": c.target, "level": c.level, "group": g,
                       "n_affected": int(c.removed[rows].any(1).sum()), "drop_seed": drop_seed}
                _score_point(result, (name, c.kind, c.target, c.level, g), task, y[rows],
                             probs[rows], metrics, n_boot, boot_seed, rec)
    return result


# -- corruption ---------------------------------------------------------------------------------

def _valid_steps(split: Split, m: str) -> Tensor | None:
    """bool ``[N, T]`` of true steps for a variable-length modality (None otherwise)."""
    if m not in split.lengths:
        return None
    steps = split.inputs[m].shape[1]
    lens = split.lengths[m]
    return torch.arange(steps, device=lens.device).unsqueeze(0) < lens.unsqueeze(1)


def feature_sd(split: Split, modality: str, kind: str) -> Tensor:
    """The train-set standard deviation of ``modality`` per channel (image: ``[C]``) or per
    feature (other kinds: the last axis), over present samples and their true steps only."""
    x, p = split.inputs[modality], split.present[modality]
    if kind == "tokens" or not x.is_floating_point():
        raise ValueError(f"modality {modality!r} holds token ids: Gaussian noise on ids is "
                         "undefined; leave it out of the corrupted modalities")
    if not bool(p.any()):
        raise ValueError(f"no sample of split {split.name!r} has {modality!r}: cannot "
                         "estimate its standard deviation")
    xs = x[p].double()
    if kind == "image":
        vals = xs.transpose(0, 1).reshape(xs.shape[1], -1)  # [C, N*H*W]
        return vals.std(1).float()
    valid = _valid_steps(split, modality)
    if valid is not None:
        xs = xs[valid[p]]  # [n_steps, F]
    return xs.reshape(-1, xs.shape[-1]).std(0).float()


def noisy_split(split: Split, modality: str, sd: Tensor, level: float, eps: Tensor,
                kind: str) -> Split:
    """``split`` with ``level * sd * eps`` added to ``modality`` on present rows (true steps
    only); ``eps`` has the shape of the modality's input tensor."""
    x = split.inputs[modality]
    sd, eps = sd.to(x.device), eps.to(x.device)
    scale = sd.view(1, -1, *([1] * (x.dim() - 2))) if kind == "image" else sd
    noise = level * scale * eps
    mask = split.present[modality].view(-1, *([1] * (x.dim() - 1))).to(x.dtype)
    valid = _valid_steps(split, modality)
    if valid is not None:
        mask = mask * valid.to(x.dtype).view(*valid.shape, *([1] * (x.dim() - 2)))
    inputs = {**split.inputs, modality: x + noise * mask}
    return Split(inputs, split.present, split.y, split.ids, split.lengths, split.name)


def corruption_curves(models: dict, split: Split, task: str, train: Split,
                      kinds: dict[str, str], levels: Sequence[float] = DEFAULT_NOISE,
                      noise_seed: int = 0, groups: Sequence[str] = ("all", "paired"),
                      metrics: Sequence[str] | None = None, n_boot: int = 1000,
                      boot_seed: int = 0, modalities: Sequence[str] | None = None,
                      ci_alpha: float = 0.05, device=None, **fields) -> RobustnessResult:
    """Score every model with Gaussian noise on one modality at a time (module docstring).
    ``kinds`` maps each modality to its kind (``dataset.modalities[m].kind``); ``train`` gives
    the standard deviations; ``noise_seed`` seeds the noise. Records as
    :func:`missingness_curves`, ``condition="noise"``, ``level`` = the noise SD in units of the
    train-set SD. ``split`` and ``train`` are checked first against each model
    (:func:`~mindkit.data.base.validate_for_model`). ``device``: where the models predict
    (module docstring; ``None``: where each one is)."""
    split, train = split.to("cpu"), train.to("cpu")
    for name, model in models.items():
        validate_for_model(split, model, task, f"corruption_curves ({name})")
        validate_for_model(train, model, task, f"corruption_curves ({name}, noise scale)")
        move_model(model, device)
    levels = _check_levels(levels, "noise levels", None)
    metrics = resolve_metrics(task, list(metrics) if metrics else None)
    chosen = list(modalities) if modalities is not None else [
        m for m in split.modalities if kinds[m] != "tokens"]
    y = routed_labels(split, task)
    _, pres = routed_presence(split.present)
    result = RobustnessResult(ci_alpha=ci_alpha)
    base = {"split": split.name, "head": "routed", "statistic": "robustness_curve",
            "condition": "noise", **fields}
    clean = {name: _routed(model, split, task) for name, model in models.items()}
    for m in chosen:
        sd = feature_sd(train, m, kinds[m])
        gen = torch.Generator().manual_seed(int(_rng(noise_seed, "noise", m).integers(2**62)))
        eps = torch.randn(split.inputs[m].shape, generator=gen, dtype=split.inputs[m].dtype)
        rows_m = np.flatnonzero(pres[:, split.modalities.index(m)])
        for name, model in models.items():
            for lv in levels:
                probs = clean[name].copy()
                if lv > 0 and rows_m.size:
                    sub = noisy_split(split, m, sd, lv, eps, kinds[m]).subset(
                        torch.as_tensor(rows_m))
                    probs[rows_m] = _routed(model, sub, task)
                for g in groups:
                    rows = _group_rows(pres, g)
                    rec = {**base, "method": name, "model": type(model).__name__,
                           "target": m, "level": lv, "group": g,
                           "n_affected": int((pres[rows, split.modalities.index(m)]).sum())
                           if lv > 0 else 0, "noise_seed": noise_seed}
                    _score_point(result, (name, "noise", m, lv, g), task, y[rows],
                                 probs[rows], metrics, n_boot, boot_seed, rec)
    return result


# -- summaries ---------------------------------------------------------------------------------

def _area(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Trapezoid area over the last axis divided by the level range."""
    return np.trapezoid(f, x, axis=-1) / (x[-1] - x[0])


def curve_summaries(result: RobustnessResult, reference: str | None = None) -> list[dict]:
    """Summary records of every curve in ``result`` (module docstring): ``robustness_auc`` and
    ``robustness_drop`` per model, and, when ``reference`` names a model of the result,
    ``effective_robustness`` and ``auc_difference`` of every other model against it (paired:
    the same samples and resamples). ``keep`` conditions are points, not curves: no summary."""
    import pandas as pd

    df = result.frame()
    if df.empty:
        return []
    if reference is not None and reference not in set(df["method"]):
        raise ValueError(f"reference {reference!r} is not among the scored models "
                         f"{sorted(df['method'].unique())}")
    curves = df[df["condition"].isin(CURVE_KINDS)]
    keep_cols = [c for c in curves.columns if c not in (
        "metric", "value", "ci_low", "ci_high", "n", "boot_undefined", "level", "n_affected",
        "statistic", "drop_seed", "noise_seed")]
    out = []
    alpha = result.ci_alpha
    for _, g in curves.groupby(keep_cols + ["metric"], dropna=False, sort=False):
        g = g.sort_values("level")
        first = g.iloc[0]
        x = g["level"].to_numpy(float)
        if len(x) < 2:
            continue
        key = (first["method"], first["condition"], first["target"])
        grp, metric = first["group"], first["metric"]
        f = g["value"].to_numpy(float)
        fb = np.stack([result.dist[(*key, lv, grp, metric)] for lv in x], -1)  # [B, L]
        ident = {c: first[c] for c in keep_cols}
        common = {**ident, "metric": metric, "n": int(first["n"]), "levels": ",".join(
            f"{v:g}" for v in x)}

        def rec(stat, value, boots, against=None):
            ok = np.isfinite(boots)
            lo, hi = percentiles(boots[ok], alpha)
            r = {**common, "statistic": stat, "value": float(value), "ci_low": lo,
                 "ci_high": hi, "boot_undefined": int((~ok).sum())}
            if against is not None:
                r["reference"] = against
            return r

        out.append(rec("robustness_auc", _area(x, f), _area(x, fb)))
        out.append(rec("robustness_drop", f[-1] - f[0], fb[:, -1] - fb[:, 0]))
        if reference is not None and first["method"] != reference:
            ref = df[(df["method"] == reference) & (df["condition"] == first["condition"])
                     & (df["target"] == first["target"]) & (df["group"] == grp)
                     & (df["metric"] == metric)].sort_values("level")
            if not np.array_equal(ref["level"].to_numpy(float), x):
                raise ValueError(f"reference {reference!r} was scored at levels "
                                 f"{ref['level'].tolist()}, {key[0]!r} at {x.tolist()}")
            r = ref["value"].to_numpy(float)
            rb = np.stack([result.dist[(reference, key[1], key[2], lv, grp, metric)]
                           for lv in x], -1)
            eff = (f - f[0]) - (r - r[0])
            effb = (fb - fb[:, :1]) - (rb - rb[:, :1])
            out.append(rec("effective_robustness", _area(x, eff), _area(x, effb), reference))
            out.append(rec("auc_difference", _area(x, f) - _area(x, r),
                           _area(x, fb) - _area(x, rb), reference))
    return pd.DataFrame(out).to_dict("records") if out else []


__all__ = ["CURVE_KINDS", "Condition", "DEFAULT_NOISE", "DEFAULT_RATES", "KINDS",
           "RobustnessResult", "RoutedPredictions", "absent_split", "corruption_curves",
           "curve_summaries", "feature_sd", "missing_conditions", "missingness_curves",
           "noisy_split"]
