"""Does a method's claim replicate across datasets? Reads a sweep of notebook 07 over datasets
(``notebooks/sweeps/replication.yaml``; :func:`replication_frame` takes what
:func:`mindkit.sweep.collect` gathers from it): each run scores every model under every availability
pattern on the same test samples, over seeds, and pools each pair's paired bootstrap over the
seeds (docs/statistics.md).

From those records: each method's score per dataset and pattern with its across-seed CI
(:func:`score_table`); each method minus a reference (the no-KD student) as pooled paired
differences per dataset and pattern (:func:`differences`); the forest of those differences at one
pattern with a random-effects pooled estimate across datasets and its heterogeneity from
statsmodels' ``combine_effects`` (:func:`meta_analysis`); per dataset whether a difference holds
(CI above 0), fails (CI below 0) or cannot be decided at this power, with the seeds an across-seed
test would need to decide it (:func:`verdicts`); and the papers' claims, one row each, against
what was measured (:func:`claim_rows`). Differences are in each dataset's primary metric
(accuracy for multiclass tasks, AUROC otherwise): both lie on a 0-1 scale, but pooling them across
datasets mixes two metrics, which the notebook says.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from mindkit.evaluate.aggregate import seed_aggregate

COMPLETE = "complete"  # the pattern with every modality: named so across datasets
Z95, Z80 = 1.959964, 0.841621  # two-sided 95% and one-sided 80% (power) normal quantiles


def replication_frame(collected: pd.DataFrame, where: str = "the sweep") -> pd.DataFrame:
    """The records of a replication sweep's finished runs (``collected``: what
    :func:`mindkit.sweep.collect` returns for the sweep folder), with the sweep's ``dataset``
    parameter as ``dataset`` and the dataset's display name as ``dataset_name``; failed runs are
    left out and listed in ``attrs["failed"]``."""
    df = collected
    if df.empty or "dataset" not in df:
        raise ValueError(f"{where} holds no finished runs of a sweep over `dataset`; run the "
                         "replication sweep first (notebooks/sweeps/replication.yaml)")
    failed = sorted(df.loc[df["status"].ne("ok"), "dataset"].astype(str).unique())
    df = df[df["status"].eq("ok")].copy()
    if df.empty:
        raise ValueError(f"every run of {where} failed ({failed})")
    # a record's own dataset name (its display name) where it differs from the sweep parameter
    df["dataset_name"] = (df["record.dataset"].fillna(df["dataset"]) if "record.dataset" in df
                          else df["dataset"])
    df.attrs["failed"] = failed
    return df


def run_folder_frame(records: pd.DataFrame, notebook: str) -> pd.DataFrame:
    """A run folder's own records of ``notebook`` (a notebook-07 run on one dataset) in the shape
    of :func:`replication_frame`: a replication table of one dataset."""
    if records.empty or "notebook" not in records:
        raise ValueError(f"the run folder has no records of {notebook}: run it first")
    df = records[records["notebook"].eq(notebook)].copy()
    if df.empty:
        raise ValueError(f"the run folder has no records of {notebook}: run it first")
    df["status"] = "ok"
    return replication_frame(df, where="this run folder")


def pattern_class(pattern: str, modalities: set[str]) -> str:
    """``"complete"`` for the pattern with every modality, else the pattern itself."""
    return COMPLETE if set(pattern.split("+")) == modalities else pattern


def _with_pattern_class(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    mods = {d: {m for p in g["pattern"].dropna() for m in str(p).split("+")}
            for d, g in out.groupby("dataset")}
    out["pattern_class"] = [pattern_class(str(p), mods[d])
                            for d, p in zip(out["dataset"], out["pattern"])]
    return out


def primary_records(df: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """Records of ``statistic`` in each dataset's primary metric: accuracy where the dataset
    reports it (multiclass tasks), else AUROC (binary and multilabel), as ``primary_metric``
    picks them (the records do not name their task)."""
    d = df[df["statistic"].eq(statistic)].copy()
    if d.empty:
        raise ValueError(f"no {statistic!r} records: is this a sweep of notebook 07?")
    keep = {ds: ("accuracy" if "accuracy" in set(g["metric"]) else "auroc")
            for ds, g in d.groupby("dataset")}
    d = d[[keep[ds] == m for ds, m in zip(d["dataset"], d["metric"])]]
    return _with_pattern_class(d)


def score_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each method's primary-metric score per dataset and availability pattern: the mean over
    seeds with the across-seed t-interval (``seed_ci_low``, ``seed_ci_high``)."""
    d = primary_records(df, "availability")
    d["seed"] = d["seed"].astype(int)
    agg = seed_aggregate(d[["dataset", "dataset_name", "pattern", "pattern_class", "method",
                            "metric", "seed", "value", "ci_low", "ci_high"]],
                         by=["dataset", "dataset_name", "pattern", "pattern_class", "method",
                             "metric"])
    return agg.reset_index(drop=True)


def differences(df: pd.DataFrame, reference: str = "no_kd",
                methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Each of ``methods`` (default: every other method) minus ``reference`` per dataset and
    pattern, pooled over seeds (the pooled paired bootstrap the runs recorded; a record of
    ``reference`` minus a method is turned around), with the per-seed paired differences'
    mean and standard deviation beside it (``seed_mean``, ``seed_std``, ``n_seeds``)."""
    pooled = primary_records(df, "availability_difference_pooled")
    per_seed = primary_records(df, "availability_difference")
    rows = []
    for (ds, pat), g in pooled.groupby(["dataset", "pattern"], sort=False):
        names = set(g["method_a"]) | set(g["method_b"])
        if reference not in names:
            raise ValueError(f"{ds}: no comparison with {reference!r}; the runs compared "
                             f"{sorted(names)}")
        for other in methods or sorted(names - {reference}):
            sign, r = _pair(g, other, reference)
            if r is None:
                continue
            s = per_seed[per_seed["dataset"].eq(ds) & per_seed["pattern"].eq(pat)]
            ps = _pair_all(s, other, reference)
            lo, hi = sorted((sign * r["ci_low"], sign * r["ci_high"]))
            rows.append({
                "dataset": ds, "dataset_name": r["dataset_name"], "pattern": pat,
                "pattern_class": r["pattern_class"], "metric": r["metric"], "method": other,
                "reference": reference, "diff": sign * r["value"], "ci_low": lo, "ci_high": hi,
                "p_better": r["p_a_better"] if sign > 0 else 1 - r["p_a_better"],
                "n": r["n"], "seed_mean": float(np.mean(ps)) if ps else math.nan,
                "seed_std": float(np.std(ps, ddof=1)) if len(ps) > 1 else math.nan,
                "n_seeds": len(ps)})
    return pd.DataFrame(rows)


def _pair(g: pd.DataFrame, a: str, b: str):
    hit = g[g["method_a"].eq(a) & g["method_b"].eq(b)]
    if len(hit):
        return 1, hit.iloc[0]
    hit = g[g["method_a"].eq(b) & g["method_b"].eq(a)]
    return (-1, hit.iloc[0]) if len(hit) else (1, None)


def _pair_all(g: pd.DataFrame, a: str, b: str) -> list[float]:
    """Every ``a - b`` value of ``g``, a record of ``b - a`` turned around."""
    fwd = g[g["method_a"].eq(a) & g["method_b"].eq(b)]["value"].astype(float).tolist()
    back = g[g["method_a"].eq(b) & g["method_b"].eq(a)]["value"].astype(float).tolist()
    return fwd + [-v for v in back]


def seeds_needed(mean: float, std: float, cap: int = 1000) -> float:
    """Seeds an across-seed test of the mean difference would need to exclude 0 at the 5% level
    with 80% power, if the true difference were ``mean`` and seeds varied by ``std``:
    ``((z_0.975 + z_0.8) std / |mean|)^2``, rounded up (``inf`` above ``cap`` or for a zero
    mean; ``nan`` when the spread over seeds is unknown)."""
    if not (np.isfinite(mean) and np.isfinite(std)):
        return math.nan
    if mean == 0 or std == 0:
        return math.inf if mean == 0 else 2.0
    n = math.ceil(((Z95 + Z80) * std / abs(mean)) ** 2)
    return float(max(n, 2)) if n <= cap else math.inf


def verdicts(diffs: pd.DataFrame) -> pd.DataFrame:
    """Per row of :func:`differences`: ``holds`` (pooled CI above 0), ``fails`` (below 0) or
    ``undecided`` (CI includes 0), and ``seeds_needed`` (:func:`seeds_needed`)."""
    out = diffs.copy()
    out["verdict"] = np.where(out["ci_low"] > 0, "holds",
                              np.where(out["ci_high"] < 0, "fails", "undecided"))
    out["seeds_needed"] = [seeds_needed(m, s) for m, s in zip(out["seed_mean"],
                                                               out["seed_std"])]
    return out


def meta_analysis(diffs: pd.DataFrame, pattern_class: str = COMPLETE) -> pd.DataFrame:
    """Per method (each against the reference), the datasets' pooled differences at
    ``pattern_class`` combined by statsmodels' ``combine_effects``: inverse-variance weights,
    each dataset's variance read from its 95% CI as ``((hi - lo) / (2 z))^2`` (floored at the
    resolution of one test sample, ``(1 / n) / (2 z)`` squared, so two models that agree on
    every sample do not get infinite weight); random effects with the Paule-Mandel estimate of
    the between-dataset variance tau^2 (``method_re="iterated"``, which keeps tau^2 >= 0).
    Returns the fixed- and random-effects estimates with 95% CIs, Cochran's Q with its
    chi-square p-value, I^2 = max(0, (Q - df) / Q) and tau^2."""
    from scipy import stats
    from statsmodels.stats.meta_analysis import combine_effects

    rows = []
    d = diffs[diffs["pattern_class"].eq(pattern_class)]
    for method, g in d.groupby("method", sort=False):
        g = g.dropna(subset=["diff", "ci_low", "ci_high"])
        if len(g) < 2:
            continue
        floor = ((1.0 / g["n"].astype(float)) / (2 * Z95)) ** 2
        var = np.maximum((((g["ci_high"] - g["ci_low"]) / (2 * Z95)) ** 2).to_numpy(),
                         floor.to_numpy())
        res = combine_effects(g["diff"].to_numpy(), var, method_re="iterated",
                              row_names=g["dataset_name"].tolist())
        frame = res.summary_frame()
        fe, re_ = frame.loc["fixed effect"], frame.loc["random effect"]
        q, df_q = float(res.q), len(g) - 1
        rows.append({"method": method, "reference": g["reference"].iloc[0],
                     "pattern_class": pattern_class, "k_datasets": len(g),
                     "fixed": fe["eff"], "fixed_ci_low": fe["ci_low"],
                     "fixed_ci_high": fe["ci_upp"], "random": re_["eff"],
                     "random_ci_low": re_["ci_low"], "random_ci_high": re_["ci_upp"],
                     "Q": q, "Q_p": float(stats.chi2.sf(q, df_q)),
                     "I2": max(0.0, (q - df_q) / q) if q > 0 else 0.0,
                     "tau2": max(0.0, float(res.tau2))})
    return pd.DataFrame(rows)


CLAIMS = (
    # (paper, claim in our words, method, patterns: "complete" or "missing")
    ("MIND", "KD from unimodal teacher ensembles improves the multi-head student (MIND vs the "
     "same student without KD)", "mind", COMPLETE),
    ("MIND", "MIND's KD also helps when modalities are missing", "mind", "missing"),
    ("MIND", "a multi-head student beats single-head joint fusion, above all with missing "
     "modalities (the no-KD multi-head student vs single-head zero-fill, the sign turned)",
     "single_head_zero", "missing"),
    ("PB+KD+GM", "pooled-bottleneck fusion with KD for missing modalities and gradient "
     "modulation is more robust to missing modalities than the no-KD student", "pb_kd_gm",
     "missing"),
    ("MCKD", "meta-learned cross-modal KD improves predictions when modalities are missing "
     "(vs the no-KD student)", "mckd", "missing"),
)


def claim_rows(verdict_table: pd.DataFrame, claims=CLAIMS) -> pd.DataFrame:
    """One row per claim: on how many datasets it holds, fails or cannot be decided (over the
    patterns the claim is about; for ``"missing"``, every pattern with a modality withheld), with
    the datasets named. The single-head claim reads ``single_head_zero`` minus no-KD with the
    sign turned (a multi-head win is a negative difference there)."""
    rows = []
    for paper, claim, method, where in claims:
        v = verdict_table[verdict_table["method"].eq(method)]
        v = v[v["pattern_class"].eq(COMPLETE)] if where == COMPLETE else \
            v[v["pattern_class"].ne(COMPLETE)]
        if v.empty:
            continue
        flip = method.startswith("single_head")
        verdict = v["verdict"].map({"holds": "fails", "fails": "holds",
                                    "undecided": "undecided"}) if flip else v["verdict"]
        by = {k: sorted(set(v.loc[verdict.eq(k), "dataset_name"])) for k in
              ("holds", "fails", "undecided")}
        rows.append({"paper": paper, "claim": claim, "comparison": f"{method} - "
                     f"{v['reference'].iloc[0]}" + (" (sign turned)" if flip else ""),
                     "patterns": "all modalities" if where == COMPLETE else
                     "each pattern with a modality withheld",
                     "n_cases": len(v), "holds": int(verdict.eq("holds").sum()),
                     "fails": int(verdict.eq("fails").sum()),
                     "undecided": int(verdict.eq("undecided").sum()),
                     "datasets_holding": ", ".join(by["holds"]) or "-",
                     "datasets_failing": ", ".join(by["fails"]) or "-"})
    return pd.DataFrame(rows)


def replication_records(diffs: pd.DataFrame, meta: pd.DataFrame, seeds: str) -> list[dict]:
    """Tidy records of the study: each dataset's pooled difference per pattern
    (``statistic="replication_difference"``, with its verdict and the seeds needed) and each
    method's pooled estimate across datasets (``statistic="replication_meta"``, random effects,
    with Q, I^2 and tau^2)."""
    out = []
    for r in diffs.itertuples():
        out.append({"dataset": r.dataset_name, "method": f"{r.method} - {r.reference}",
                    "model": "difference", "head": "routed", "metric": r.metric,
                    "value": r.diff, "ci_low": r.ci_low, "ci_high": r.ci_high, "seed": seeds,
                    "split": "test", "pattern": r.pattern, "pattern_class": r.pattern_class,
                    "statistic": "replication_difference", "method_a": r.method,
                    "method_b": r.reference, "p_a_better": r.p_better, "n": int(r.n),
                    "verdict": r.verdict, "seeds_needed": r.seeds_needed})
    for r in meta.itertuples():
        out.append({"dataset": f"pooled over {r.k_datasets} datasets",
                    "method": f"{r.method} - {r.reference}", "model": "difference",
                    "head": "routed", "metric": "primary", "value": r.random,
                    "ci_low": r.random_ci_low, "ci_high": r.random_ci_high, "seed": seeds,
                    "split": "test", "pattern_class": r.pattern_class,
                    "statistic": "replication_meta", "method_a": r.method,
                    "method_b": r.reference, "fixed": r.fixed, "Q": r.Q, "Q_p": r.Q_p,
                    "I2": r.I2, "tau2": r.tau2, "k_datasets": int(r.k_datasets)})
    return out


__all__ = ["CLAIMS", "COMPLETE", "claim_rows", "differences", "meta_analysis", "pattern_class",
           "primary_records", "replication_frame", "replication_records", "run_folder_frame",
           "score_table", "seeds_needed", "verdicts"]
