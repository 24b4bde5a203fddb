"""Dataset-level readings of attributions, with bootstrap CIs over the explained samples.

- :func:`attribution_table`: mean absolute (and signed) modality attribution per method,
  modality and class (multiclass and binary: the true class; multilabel: the explained label),
  plus an ``"all"`` row.
- :func:`removal_outcomes` / :func:`drop_agreement`: does a modality's attribution agree with
  what removing it costs? Per (class, modality) cell, the mean absolute attribution against the
  drop in accuracy when that modality is withheld (the model's own missing path, as in
  :mod:`mindkit.evaluate.robustness`) from the samples that have it and another one; the
  agreement is Spearman's rank correlation over the cells, its CI from resampling samples.
- :func:`map_agreement` / :func:`agreement_difference`: how similar two integrated-gradient
  maps of the same samples are (Spearman's rank correlation of each sample's map; a time series
  only over its true steps), and the paired difference of two such agreements on the same
  samples (e.g. MIND's student vs its teachers minus the no-KD student vs the same teachers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from mindkit.data.base import Split, validate_for_model
from mindkit.device import move_model, place_split
from mindkit.explain.modality import PresenceForward
from mindkit.explain.results import InputAttribution, ModalityAttribution


def _class_key(a: ModalityAttribution) -> np.ndarray:
    if a.task == "multilabel":
        return a.target.cpu().numpy()
    y = a.y if a.y.dim() == 1 else a.y[:, 0]
    return y.long().cpu().numpy()


def attribution_table(attrs: dict[str, ModalityAttribution], class_names: list[str],
                      n_boot: int = 0, boot_seed: int = 0, **fields) -> pd.DataFrame:
    """Per method, modality and class (and ``"all"``): ``mean_abs`` and ``mean`` attribution
    over the samples that have the modality, their count ``n``, and (``n_boot > 0``) a
    percentile bootstrap CI of ``mean_abs`` (``ci_low``, ``ci_high``)."""
    rows = []
    for method, a in attrs.items():
        key = _class_key(a)
        names = (class_names if a.task != "binary"
                 else [f"not {class_names[0]}", class_names[0]])
        for j, m in enumerate(a.names):
            has = a.present[:, j].cpu().numpy()
            v = a.values[:, j].cpu().numpy()
            groups = [("all", has)] + [(names[c], has & (key == c)) for c in np.unique(key)]
            for cls, sel in groups:
                if not sel.any():
                    continue
                mean, lo, hi = (mean_ci(np.abs(v[sel]), n_boot, boot_seed) if n_boot
                                else (float(np.abs(v[sel]).mean()), np.nan, np.nan))
                rows.append({"method": method, "modality": m, "class": cls, "mean_abs": mean,
                             "ci_low": lo, "ci_high": hi, "mean": float(v[sel].mean()),
                             "n": int(sel.sum()), "baseline": a.baseline, "output": a.output,
                             **fields})
    return pd.DataFrame(rows)


def _correct(probs: torch.Tensor, a: ModalityAttribution) -> np.ndarray:
    """Per sample, whether the prediction is right: top class (multiclass) or the explained
    label at 0.5 (binary/multilabel)."""
    if a.task == "multiclass":
        return (probs.argmax(1) == a.y.long()).cpu().numpy()
    p = probs.gather(1, a.target[:, None]).squeeze(1)
    truth = a.y.float().gather(1, a.target[:, None]).squeeze(1)
    return ((p >= 0.5).float() == truth).cpu().numpy()


@torch.no_grad()
def removal_outcomes(model: nn.Module, split: Split, task: str, attr: ModalityAttribution,
                     prior: torch.Tensor, device=None) -> pd.DataFrame:
    """Per explained sample and modality: ``correct_full`` (with all it has), ``correct_without``
    (that modality withheld, served by the model's own missing path), ``eligible`` (the sample
    has the modality and another one, so withholding it leaves something), and ``abs_value``.
    The model predicts where it is, or on ``device`` (moved there in place, as in
    :func:`mindkit.explain.modality.modality_attributions`)."""
    dev = move_model(model, device)
    split = split.to("cpu")
    validate_for_model(split, model, task, "removal_outcomes")
    idx = attr.rows.cpu()
    work = place_split(split.subset(idx), dev)[0]  # the explained rows, on the model's device
    fwd = PresenceForward(model, work, task, prior.float().to(dev), "prob")
    pos = torch.arange(len(idx), device=work.device)
    ones = torch.ones(len(idx), len(attr.names), device=dev)
    full = _correct(fwd(ones, pos).cpu(), attr)
    out = []
    for j, m in enumerate(attr.names):
        pres = ones.clone()
        pres[:, j] = 0
        without = _correct(fwd(pres, pos).cpu(), attr)
        eligible = (attr.present[:, j] & (attr.present.sum(1) >= 2)).cpu().numpy()
        out.append(pd.DataFrame({
            "row": idx.cpu().numpy(), "modality": m, "class": _class_key(attr),
            "abs_value": attr.values[:, j].abs().cpu().numpy(), "correct_full": full,
            "correct_without": without, "eligible": eligible}))
    return pd.concat(out, ignore_index=True)


def _cells(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    g = df.groupby(["class", "modality"])
    att = g["abs_value"].mean()
    drop = g["correct_full"].mean() - g["correct_without"].mean()
    return att.to_numpy(), drop.loc[att.index].to_numpy()


def drop_agreement(outcomes: pd.DataFrame, n_boot: int = 200, boot_seed: int = 0,
                   **fields) -> dict:
    """Spearman's rho between mean |attribution| and accuracy drop over (class, modality)
    cells of the eligible samples, with a percentile bootstrap CI from resampling samples
    (every modality's row of a resampled sample comes along). Also the overall drop and mean
    |attribution| per modality, as ``per_modality``."""
    el = outcomes[outcomes["eligible"]]
    if el.empty:
        raise ValueError("no explained sample has two modalities; removal drops need paired "
                         "samples")
    att, drop = _cells(el)
    rho = float(stats.spearmanr(att, drop).statistic) if len(att) > 2 else float("nan")
    rows = el["row"].unique()
    by_row = {r: g for r, g in el.groupby("row")}
    rng = np.random.default_rng(boot_seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.choice(rows, size=len(rows), replace=True)
        sample = pd.concat([by_row[r] for r in pick], ignore_index=True)
        a, d = _cells(sample)
        if len(a) > 2 and np.ptp(a) > 0 and np.ptp(d) > 0:
            boots.append(stats.spearmanr(a, d).statistic)
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if len(boots) >= 10 else (np.nan, np.nan))
    per_mod = el.groupby("modality").apply(
        lambda g: pd.Series({"mean_abs": g["abs_value"].mean(),
                             "drop": g["correct_full"].mean() - g["correct_without"].mean(),
                             "n": g["row"].nunique()}), include_groups=False)
    return {"statistic": "spearman_attribution_vs_drop", "value": rho, "ci_low": float(lo),
            "ci_high": float(hi), "n_cells": int(len(att)), "n": int(len(rows)),
            "per_modality": per_mod.reset_index().to_dict("records"), **fields}


def _valid_flat(a: InputAttribution, i: int) -> np.ndarray:
    x = a.attributions[i]
    if a.lengths is not None and a.kind in ("sequence", "timeseries", "tokens"):
        x = x[: int(a.lengths[i])]
    return x.flatten().cpu().numpy()


def map_agreement(a: InputAttribution, b: InputAttribution, absolute: bool = False
                  ) -> pd.DataFrame:
    """Per sample explained by both, Spearman's rank correlation of the two maps (signed, or of
    their absolute values). Rows must explain the same modality and the same targets."""
    if a.modality != b.modality:
        raise ValueError(f"maps of different modalities: {a.modality!r} vs {b.modality!r}")
    pos_b = b.by_row()
    out = []
    for i, r in enumerate(a.rows.tolist()):
        if r not in pos_b:
            continue
        j = pos_b[r]
        if int(a.target[i]) != int(b.target[j]):
            raise ValueError(f"row {r}: the maps explain different targets "
                             f"({int(a.target[i])} vs {int(b.target[j])}); use target='true' "
                             "or one fixed target for both")
        u, v = _valid_flat(a, i), _valid_flat(b, j)
        if absolute:
            u, v = np.abs(u), np.abs(v)
        rho = (stats.spearmanr(u, v).statistic if np.ptp(u) > 0 and np.ptp(v) > 0
               else np.nan)
        out.append({"row": r, "id": int(a.ids[i]), "rho": float(rho)})
    if not out:
        raise ValueError("the two maps share no explained row")
    return pd.DataFrame(out)


def mean_ci(values: np.ndarray, n_boot: int = 1000, boot_seed: int = 0
            ) -> tuple[float, float, float]:
    """Mean and percentile bootstrap 95% CI of ``values`` (NaNs dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(boot_seed)
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(v.mean()), float(lo), float(hi)


def agreement_difference(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 1000,
                         boot_seed: int = 0) -> dict:
    """Paired difference of two per-sample agreements (:func:`map_agreement` frames) on the
    rows both scored: mean of ``a.rho - b.rho`` with a bootstrap CI over those samples."""
    both = a.merge(b, on="row", suffixes=("_a", "_b")).dropna(subset=["rho_a", "rho_b"])
    if both.empty:
        raise ValueError("the two agreements share no scored row")
    mean, lo, hi = mean_ci((both["rho_a"] - both["rho_b"]).to_numpy(), n_boot, boot_seed)
    return {"value": mean, "ci_low": lo, "ci_high": hi, "n": int(len(both))}


def attribution_records(table: pd.DataFrame, **fields) -> list[dict]:
    """Tidy metric records of an :func:`attribution_table`: metric ``mean_abs_attribution`` of
    the routed prediction, ``group`` naming the samples (``has_<m>``, or ``has_<m>&class=<c>``);
    ``fields`` (dataset, seed, model, split, ...) are added to each."""
    out = []
    for r in table.to_dict("records"):
        group = f"has_{r['modality']}" + ("" if r["class"] == "all" else f"&class={r['class']}")
        out.append({**fields, "method": r["method"], "head": "routed",
                    "metric": "mean_abs_attribution", "value": r["mean_abs"],
                    "ci_low": r["ci_low"], "ci_high": r["ci_high"], "group": group, "n": r["n"],
                    "modality": r["modality"], "class": r["class"], "baseline": r["baseline"],
                    "output": r["output"], "statistic": "modality_attribution"})
    return out


def agreement_records(agreements: dict[tuple[str, str], pd.DataFrame],
                      pairs: list[tuple[str, str]] = (), n_boot: int = 1000, boot_seed: int = 0,
                      **fields) -> list[dict]:
    """Records of map agreements keyed by ``(method, modality)`` (:func:`map_agreement`
    frames): the mean rho with a bootstrap CI (metric ``ig_rank_agreement``, ``head`` the
    modality), and for each ``(a, b)`` in ``pairs`` the paired difference a - b on the same
    samples (``statistic="paired_difference"``). ``group`` is ``ig_<modality>``: the explained
    rows, whose ids the caller saves."""
    out = []
    for (method, m), df in agreements.items():
        mean, lo, hi = mean_ci(df["rho"].to_numpy(), n_boot, boot_seed)
        out.append({**fields, "method": method, "head": m, "metric": "ig_rank_agreement",
                    "value": mean, "ci_low": lo, "ci_high": hi, "group": f"ig_{m}",
                    "n": int(df["rho"].notna().sum()), "modality": m,
                    "statistic": "map_agreement"})
    modalities = sorted({m for _, m in agreements})
    for a, b in pairs:
        for m in modalities:
            if (a, m) in agreements and (b, m) in agreements:
                d = agreement_difference(agreements[(a, m)], agreements[(b, m)], n_boot,
                                         boot_seed)
                out.append({**fields, "method": f"{a} - {b}", "head": m,
                            "metric": "ig_rank_agreement", "value": d["value"],
                            "ci_low": d["ci_low"], "ci_high": d["ci_high"], "group": f"ig_{m}",
                            "n": d["n"], "modality": m, "statistic": "paired_difference"})
    return out


__all__ = ["agreement_difference", "agreement_records", "attribution_records",
           "attribution_table", "drop_agreement", "map_agreement", "mean_ci",
           "removal_outcomes"]
