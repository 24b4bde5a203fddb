"""Readable tables from tidy metric records."""

from __future__ import annotations


def format_ci(value: float, lo: float | None, hi: float | None, digits: int = 3) -> str:
    if value is None or value != value:
        return "n/a"
    if lo is None or hi is None or lo != lo or hi != hi:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def ci_table(records, metric: str, rows=("method", "model"), cols=("head", "group")):
    """Pivot: one row per ``rows`` key, one column per ``cols`` key, cells "v [lo, hi]"."""
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    if df.empty:
        raise ValueError("no metric records to tabulate")
    d = df[df["metric"] == metric].copy()
    if d.empty:
        raise ValueError(f"no records for metric {metric!r}; have {sorted(df['metric'].unique())}")
    d["cell"] = [format_ci(v, lo, hi) for v, lo, hi in zip(d["value"], d["ci_low"], d["ci_high"])]
    rows, cols = [r for r in rows if r in d], [c for c in cols if c in d]
    return d.pivot_table(index=rows, columns=cols, values="cell", aggfunc="first").fillna("")


def paired_table(records, metric: str, rows=("head", "group")):
    """Paired-difference records (:func:`mindkit.evaluate.metrics.paired_records`) as a table:
    one row per head and group, ``a - b [95% CI]``, the share of resamples where ``a`` is
    better, both point estimates, ``n``, and whether the CI excludes zero."""
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    d = df[df["metric"] == metric]
    if d.empty:
        raise ValueError(f"no paired records for metric {metric!r}")
    out = pd.DataFrame({
        **{r: d[r] for r in rows if r in d},
        "comparison": d["method_a"] + " - " + d["method_b"],
        "difference [95% CI]": [format_ci(v, lo, hi) for v, lo, hi in
                                zip(d["value"], d["ci_low"], d["ci_high"])],
        "P(a better)": d["p_a_better"].round(3),
        "a": d["value_a"].round(3), "b": d["value_b"].round(3), "n": d["n"],
        "CI excludes 0": (d["ci_low"] > 0) | (d["ci_high"] < 0),
    })
    return out.reset_index(drop=True)
