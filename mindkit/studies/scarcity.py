"""The train-time scarcity curve: methods retrained with a share of the paired training samples
kept paired, scored on the unchanged test split (notebook 04)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from mindkit.data.scarcity import paired_count, with_paired_share
from mindkit.distill.methods import MethodContext
from mindkit.evaluate.heads import evaluate_student
from mindkit.studies.models import load_or_train
from mindkit.train.trainer import RunInfo


@dataclass
class ScarcityResult:
    records: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)


def scarcity_curve(ctx: MethodContext, methods: Sequence[str], shares: Sequence[float],
                   seed: int, full: dict | None = None, n_boot: int = 1000,
                   save_to: str | Path | None = None, **fields) -> ScarcityResult:
    """Train each method with a share ``q`` of the paired training samples kept paired (the rest
    as single-modality samples, :func:`mindkit.data.scarcity.with_paired_share`) and score it
    on the unchanged test split. ``full`` maps a method to its already trained full-data
    student, used at ``q = 1`` instead of retraining. Records carry ``paired_share``,
    ``n_paired_train`` and ``statistic="scarcity_curve"``."""
    ds = ctx.dataset
    shares = [float(q) for q in shares]
    if any(not 0 < q <= 1 for q in shares):
        raise ValueError(f"paired shares must lie in (0, 1], got {shares}")
    out = ScarcityResult()
    for q in shares:
        ds_q = with_paired_share(ds, q, seed)
        ctx_q = ctx.with_(dataset=ds_q)
        for name in methods:
            if q == 1.0 and full and name in full:
                model, info = full[name], RunInfo("full-data student")
            else:
                ckpt = None if save_to is None else Path(save_to) / f"share{q:g}"
                model, info = load_or_train(name, ctx_q, [ckpt] if ckpt else (), ckpt)
            n_pairs = paired_count(ds_q["train"])
            out.runs.append({"method": name, "paired_share": q, "n_paired_train": n_pairs,
                             "seed": seed, "source": info.source,
                             "still_improving": info.still_improving})
            out.records += evaluate_student(
                model, ds["test"], ds.task, n_boot, seed, method=name, seed=seed,
                paired_share=q, n_paired_train=n_pairs, statistic="scarcity_curve", **fields)
    return out


__all__ = ["ScarcityResult", "scarcity_curve"]
