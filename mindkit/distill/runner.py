"""Train a registered method, or take it from the model store: :func:`run_method`.

Every method is built (:func:`mindkit.distill.base.build_method`) and fitted with the one
training loop (:func:`mindkit.distill.recipes.fit_method`), so every method is trained,
checkpointed and scored the same way. A method's per-step logs (:meth:`Method.step_logs`:
``"gm"`` for gradient modulation, ``"mckd"`` for MCKD's importances, or any kind a new method
keeps) are saved beside its checkpoint as ``<checkpoint>.<kind>.csv``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from mindkit.atomic import atomic_path
from mindkit.common import with_ext
from mindkit.distill.base import MethodContext, build_method, method_spec
from mindkit.distill.recipes import fit_method
from mindkit.train.checkpoint import load_model
from mindkit.train.method import Method
from mindkit.train.store import export, history_from, history_summary
from mindkit.train.trainer import Callback, History, RunInfo

LOG_KIND = re.compile(r"[a-z][a-z0-9_]*")


def step_log_path(checkpoint: str | Path, kind: str) -> Path:
    """Where a run's per-step log of ``kind`` is kept: ``<checkpoint>.<kind>.csv``."""
    if not LOG_KIND.fullmatch(kind):
        raise ValueError(f"step log kind {kind!r} must be a lower-case identifier")
    return with_ext(checkpoint, f".{kind}.csv")


def save_step_logs(logs: dict, checkpoint: str | Path) -> None:
    for kind, frame in logs.items():
        if frame is not None:
            with atomic_path(step_log_path(checkpoint, kind)) as tmp:
                frame.to_csv(tmp, index=False)


def read_step_logs(checkpoint: str | Path) -> dict[str, pd.DataFrame]:
    """The per-step logs saved beside ``checkpoint``, by kind."""
    stem = with_ext(checkpoint, "")
    out = {}
    for path in sorted(stem.parent.glob(f"{glob_escape(stem.name)}.*.csv")):
        kind = path.name[len(stem.name) + 1: -len(".csv")]
        if LOG_KIND.fullmatch(kind):
            out[kind] = pd.read_csv(path)
    return out


def glob_escape(name: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def method_info(method: Method, hist: History, source: str, **kw) -> RunInfo:
    return RunInfo.from_history(
        hist, source, params=method.deployed_parameters(),
        extra_params=method.extra_parameters(), settings=method.settings(),
        step_logs={k: v for k, v in method.step_logs().items() if v is not None},
        method=method, cache_s=getattr(method, "cache_s", 0.0), **kw)


def run_method(name: str, ctx: MethodContext, checkpoint: str | Path | None = None,
               callbacks: Sequence[Callback] = ()) -> tuple[torch.nn.Module, RunInfo]:
    """Build and train method ``name``; returns ``(deployed student, RunInfo)`` (the method
    object, its record settings, parameter counts, best epoch, validation score, epochs run,
    whether it was still improving, its per-step logs). Logs are also saved beside the
    checkpoint (:func:`step_log_path`).

    With ``ctx.store``, the student comes from the store when it holds the same model
    (``source`` is ``"store:<key>"``; the stored history is replayed to ``callbacks``), and is
    trained into it otherwise; ``checkpoint`` then gets links to the stored files."""
    if ctx.store is None:
        method = build_method(name, ctx)
        hist = fit_method(method, ctx.dataset, ctx.config, checkpoint, callbacks, ctx.progress,
                          desc=name)
        info = method_info(method, hist, "trained")
        if checkpoint is not None:
            save_step_logs(info.step_logs, checkpoint)
        return method.student, info
    method, spec = method_spec(name, ctx)
    fitted: dict = {}

    def train(ckpt: Path) -> dict:
        fitted["hist"] = fit_method(method, ctx.dataset, ctx.config, ckpt, callbacks,
                                    ctx.progress, desc=name)
        save_step_logs(method.step_logs(), ckpt)
        return {"summary": history_summary(fitted["hist"]), "history": fitted["hist"].records}

    stored = ctx.store.get_or_train(
        spec, train, describe=f"{name} on {ctx.dataset.display_name}, seed {ctx.config.seed}",
        verify=lambda ckpt: load_model(ckpt, dataset=ctx.dataset))
    if stored.trained:
        info = method_info(method, fitted["hist"], stored.source, store_key=stored.key)
    else:
        method.student.load_state_dict(stored.loaded.state_dict())
        method.eval()
        hist = history_from(stored.history, stored.summary)
        for cb in callbacks:  # the stored training, replayed: live curves draw the same figure
            if hasattr(cb, "on_fit_start"):
                cb.on_fit_start(None)
            for rec in hist.records:
                cb.on_epoch_end(None, rec)
            cb.on_fit_end(None, hist)
        info = method_info(method, hist, stored.source, store_key=stored.key)
        info.step_logs = read_step_logs(stored.checkpoint)
    if checkpoint is not None:
        export(stored, checkpoint)
    return method.student, info


__all__ = ["method_info", "read_step_logs", "run_method", "save_step_logs", "step_log_path"]
