"""Aggregate metric records over seeds.

For each configuration (every key column but ``seed`` and the value columns), the seeds' point
estimates give a mean, a standard deviation and a t-based 95% CI of the mean across seeds; the
per-run bootstrap bounds are averaged alongside (``boot_low_mean``, ``boot_high_mean``), so a
table can show both the spread between seeds and the sampling uncertainty within one run.
"""

from __future__ import annotations

import math
from pathlib import Path

from mindkit.evaluate.metrics import pooled_paired_bootstrap
from mindkit.evaluate.predictions import frame_groups, frame_probs, frame_y, read_predictions

# describe one run, may differ between seeds of one configuration (e.g. head weights computed
# from that seed's teachers): never a grouping key
PER_RUN_COLUMNS = ("seed", "notebook", "head_weights", "still_improving")
VALUE_COLUMNS = ("value", "ci_low", "ci_high", "n", "params", "boot_undefined", "p_a_better",
                 "value_a", "value_b")


def t_quantile(df: int, q: float = 0.975) -> float:
    """Student-t quantile (scipy when present; exact table for small df otherwise)."""
    try:
        from scipy import stats

        return float(stats.t.ppf(q, df))
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365,
                 8: 2.306, 9: 2.262, 10: 2.228}
        if q != 0.975:
            raise
        return table.get(df, 1.96)


def seed_aggregate(records, by: list[str] | None = None):
    """One row per configuration: ``mean, std, seed_ci_low, seed_ci_high, n_seeds`` and the
    mean per-run bootstrap bounds. ``by`` defaults to every non-value column except ``seed``.
    With one seed the across-seed CI is NaN (it cannot be estimated)."""
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records.copy()
    if df.empty:
        raise ValueError("no records to aggregate")
    if "seed" not in df:
        raise ValueError("records need a 'seed' column to aggregate over seeds")
    if by is None:
        by = [c for c in df.columns if c not in VALUE_COLUMNS and c not in PER_RUN_COLUMNS]
    missing = [c for c in by if c not in df]
    if missing:
        raise ValueError(f"cannot group by {missing}: the records have {sorted(df.columns)}")
    rows = []
    for key, g in df.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        vals = g["value"].astype(float).dropna()
        k = len(vals)
        mean = float(vals.mean()) if k else math.nan
        std = float(vals.std(ddof=1)) if k > 1 else math.nan
        half = t_quantile(k - 1) * std / math.sqrt(k) if k > 1 else math.nan
        rows.append({**dict(zip(by, key)), "mean": mean, "std": std,
                     "seed_ci_low": mean - half, "seed_ci_high": mean + half, "n_seeds": k,
                     "boot_low_mean": float(g["ci_low"].astype(float).mean()),
                     "boot_high_mean": float(g["ci_high"].astype(float).mean()),
                     "seeds": ",".join(str(s) for s in sorted(g["seed"].unique()))})
    return pd.DataFrame(rows)


def paired_difference(records, method_a: str, method_b: str, metric: str, head: str = "routed",
                      group: str = "all") -> dict:
    """Mean over seeds of ``value(a) - value(b)`` on the same seed (same split, same teachers),
    with a t-based 95% CI across seeds; NaN bounds with a single seed."""
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    sel = df[(df["metric"] == metric) & (df["head"] == head) & (df["group"] == group)]
    a = sel[sel["method"] == method_a].set_index("seed")["value"]
    b = sel[sel["method"] == method_b].set_index("seed")["value"]
    common = sorted(set(a.index) & set(b.index))
    diffs = [float(a[s]) - float(b[s]) for s in common]
    k = len(diffs)
    if k == 0:
        raise ValueError(f"no common seeds for {method_a!r} and {method_b!r} on {metric}/{head}/"
                         f"{group}")
    mean = sum(diffs) / k
    if k > 1:
        std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (k - 1))
        half = t_quantile(k - 1) * std / math.sqrt(k)
    else:
        half = math.nan
    return {"a": method_a, "b": method_b, "metric": metric, "head": head, "group": group,
            "diff_mean": mean, "diff_ci_low": mean - half, "diff_ci_high": mean + half,
            "n_seeds": k, "a_wins": sum(d > 0 for d in diffs)}


def pooled_run_difference(predictions_dir, seeds, method_a: str, method_b: str, task: str,
                          metric: str, head: str = "routed", group: str = "all",
                          n_boot: int = 1000) -> dict:
    """The per-run paired bootstrap, pooled over seeds: the mean over seeds of
    ``metric(a) - metric(b)`` on each seed's test samples, with a CI from resample-wise means of
    the per-seed paired bootstrap differences (each seed's two models scored on the same
    resampled samples). It measures the sampling uncertainty of the test sets, where the
    across-seed t-interval measures the spread between seeds. Reads the predictions that
    :func:`mindkit.studies.compare.compare_methods` saved (``seed<k>/predictions/<m>.parquet``).
    """
    runs = []
    for seed in seeds:
        base = Path(predictions_dir) / f"seed{seed}" / "predictions"
        runs.append((f"seed {seed}", base / method_a, base / method_b, seed))
    out = pool_prediction_files(runs, task, metric, head, group, n_boot)
    return {f"pooled_{k}": v for k, v in out.items()}


def pool_prediction_files(runs, task: str | None, metric: str, head: str = "routed",
                          group: str = "all", n_boot: int = 1000) -> dict:
    """The paired bootstrap of each run, pooled over runs, from saved test predictions (behind
    :func:`pooled_run_difference` and the sweep analysis). ``runs``: ``(label, predictions of
    a, predictions of b, boot_seed)`` per independent run. Each run's two files must hold the
    same samples in the same order, else a ValueError names the run; ``task`` None reads it
    from the files' provenance. Returns
    :func:`~mindkit.evaluate.metrics.pooled_paired_bootstrap`'s dict (``diff``, ``ci_low``,
    ``ci_high``, ``p_a_better``, ...)."""
    arrays = []
    for label, path_a, path_b, boot_seed in runs:
        fa, fb = read_predictions(path_a), read_predictions(path_b)
        if len(fa) != len(fb) or not (fa["id"].to_numpy() == fb["id"].to_numpy()).all():
            raise ValueError(f"{label}: {Path(path_a).stem!r} and {Path(path_b).stem!r} were "
                             "scored on different samples")
        t = task or fa.attrs.get("provenance", {}).get("task")
        if t is None:
            raise ValueError(f"{path_a}: the prediction file records no task; pass task=")
        rows = frame_groups(fa)[group]
        arrays.append((t, frame_y(fa, t)[rows], frame_probs(fa, head)[rows],
                       frame_probs(fb, head)[rows], boot_seed))
    return pooled_paired_bootstrap(arrays, metric, n_boot)

