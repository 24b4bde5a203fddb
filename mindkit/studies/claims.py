"""The claim tables of a study: named comparisons between its methods, as paired differences
over seeds (:func:`mindkit.evaluate.aggregate.paired_difference`) and, with the saved test
predictions, the pooled per-run paired bootstrap
(:func:`mindkit.evaluate.aggregate.pooled_run_difference`).

A comparison is a :class:`Comparison` ``(claim, a, b, head, group)``: ``a - b`` on one head and
sample group. :func:`mind_comparisons` lists MIND's claims (notebook 03's default); another study
passes its own list to :func:`claim_table` (``comparisons=``), which is where the method names
live, not in :mod:`mindkit.evaluate`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from mindkit.evaluate.aggregate import paired_difference, pooled_run_difference


class Comparison(NamedTuple):
    claim: str
    a: str
    b: str
    head: str = "routed"
    group: str = "all"


SINGLE_HEADS = ("single_head_zero", "single_head_learned", "single_head_ensemble_kd")
FUSIONS = ("early", "late", "attention")


def mind_comparisons(modalities: Sequence[str], groups: Sequence[str] = ()) -> list[Comparison]:
    """MIND's claims: (a) ``mind - no_kd`` on the multimodal head (paired samples), the routed
    prediction (all samples) and each unimodal head (samples with that modality); (b) ``mind -
    single_head_*`` on the routed prediction for all samples, the paired ones and each of
    ``groups`` (the ``only_<modality>`` groups); (c) ``mind_<f> - no_kd_<f>`` for each other
    fusion ``f``."""
    out = [Comparison("a: KD helps", "mind", "no_kd", head, group)
           for head, group in [("mm", "paired"), ("routed", "all")] + [(m, f"has_{m}")
                                                                       for m in modalities]]
    out += [Comparison("b: multi-head beats single-head", "mind", single, "routed", group)
            for single in SINGLE_HEADS for group in ["all", "paired", *groups]]
    out += [Comparison(f"c: KD helps with {f} fusion", f"mind_{f}", f"no_kd_{f}", "routed", "all")
            for f in FUSIONS]
    return out


def claim_table(records, metric: str, modalities: list[str], predictions_dir=None,
                task: str | None = None, n_boot: int = 1000,
                comparisons: Sequence[Comparison] | Callable | None = None) -> "object":
    """The comparisons behind a study's claims, as paired differences over seeds.

    ``comparisons``: :class:`Comparison` tuples ``(claim, a, b, head, group)``, or a function
    ``(modalities, only_groups) -> comparisons``; default :func:`mind_comparisons` (MIND's
    claims). Rows whose methods were not run, or without records on their head and group, are
    left out. With ``predictions_dir`` (and ``task``), each row also gets the pooled per-run
    paired bootstrap (:func:`~mindkit.evaluate.aggregate.pooled_run_difference`):
    ``pooled_diff``, ``pooled_ci_low``/``high``, ``pooled_p_a_better``.
    """
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    have = set(df["method"])
    groups = [g for g in df["group"].unique() if str(g).startswith("only_")]
    if comparisons is None:
        comparisons = mind_comparisons
    if callable(comparisons):
        comparisons = comparisons(modalities, groups)
    rows = []
    for c in comparisons:
        claim, a, b, head, group = Comparison(*c)
        if a not in have or b not in have:
            continue
        sel = df[(df["head"] == head) & (df["group"] == group) & (df["metric"] == metric)]
        if sel.empty:
            continue
        row = {"claim": claim, **paired_difference(df, a, b, metric, head, group)}
        if predictions_dir is not None:
            if task is None:
                raise ValueError("claim_table with predictions_dir needs the task")
            seeds = sorted(set(sel[sel["method"] == a]["seed"]) &
                           set(sel[sel["method"] == b]["seed"]))
            row.update(pooled_run_difference(predictions_dir, seeds, a, b, task, metric,
                                             head, group, n_boot))
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["FUSIONS", "SINGLE_HEADS", "Comparison", "claim_table", "mind_comparisons"]
