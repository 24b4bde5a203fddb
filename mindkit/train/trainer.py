"""One training loop for teachers, students and baselines.

``Trainer(config).fit(method, train, score_fn=score_fn)`` runs AdamW with a learning-rate
schedule, evaluates ``score_fn(model)`` (higher is better) after each epoch, stops early when it
has not improved for ``patience`` epochs, restores the best weights and optionally saves them.
Each method (:mod:`mindkit.train.method`) returns a dict of named loss terms with a ``"total"`` to
back-propagate; every term is averaged over the batches that produced it into the history. A
model whose best epoch is its last is flagged (``History.still_improving``, a
:class:`ConvergenceWarning`): it was still improving.
"""

from __future__ import annotations

import copy
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, Split, iterate_batches, validate_for_model
from mindkit.train.method import LossFnMethod, Method


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class TrainConfig:
    epochs: int = 20  # maximum number of epochs
    lr: float = 3e-3  # peak learning rate (AdamW)
    weight_decay: float = 1e-4
    batch_size: int = 128
    patience: int = 5  # epochs without a better validation score before stopping
    scheduler: str = "cosine"  # "cosine" (one warm-up epoch, then cosine decay) or "constant"
    grad_clip: float | None = 5.0  # max gradient norm, None to disable
    seed: int = 0
    min_delta: float = 0.0  # smallest improvement that counts

    def __post_init__(self) -> None:
        if self.scheduler not in ("cosine", "constant"):
            raise ValueError(f"unknown scheduler {self.scheduler!r}; use 'cosine' or 'constant'")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


@dataclass
class History:
    records: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False
    still_improving: bool = False  # best epoch was the last of all epochs: not converged

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.records)


class Callback:
    def on_epoch_end(self, trainer: "Trainer", record: dict) -> None:  # pragma: no cover
        pass

    def on_fit_end(self, trainer: "Trainer", history: History) -> None:  # pragma: no cover
        pass


class ConvergenceWarning(UserWarning):
    """A model's best validation epoch was its last: it was probably still improving."""


class Trainer:
    """One loop for every method (:class:`mindkit.train.method.Method`): teachers, students,
    baselines. ``fit(method, train, score_fn)``; a plain ``nn.Module`` with a
    ``loss_fn(model, batch)`` is accepted too and wrapped in a :class:`LossFnMethod`."""

    def __init__(self, config: TrainConfig | None = None, callbacks: Sequence[Callback] = (),
                 progress: bool = True, desc: str = "train") -> None:
        self.config = config or TrainConfig()
        self.callbacks = list(callbacks)
        self.progress = progress
        self.desc = desc

    def _lr_lambda(self, steps_per_epoch: int) -> Callable[[int], float]:
        cfg = self.config
        total = max(1, cfg.epochs * steps_per_epoch)
        warm = min(steps_per_epoch, total // 2) if cfg.scheduler == "cosine" else 0

        def f(step: int) -> float:
            if cfg.scheduler == "constant":
                return 1.0
            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        return f

    def fit(self, method: Method | nn.Module, train: Split,
            loss_fn: Callable[[nn.Module, Batch], dict[str, Tensor]] | None = None,
            score_fn: Callable[[nn.Module], float] | None = None,
            checkpoint: str | Path | None = None, meta: dict | None = None) -> History:
        """Train ``method`` on ``train``; ``score_fn(method.student)`` (higher is better) picks
        the best epoch, whose student weights are restored (and saved to ``checkpoint`` with
        ``meta`` in its JSON). Returns the per-epoch history."""
        cfg = self.config
        if not isinstance(method, Method):
            if loss_fn is None:
                raise TypeError("Trainer.fit takes a mindkit Method, or a model with loss_fn")
            method = LossFnMethod(method, loss_fn)
        elif loss_fn is not None:
            raise TypeError("a Method computes its own loss; do not pass loss_fn with it")
        validate_for_model(train, method.student, method.task,
                           f"training {type(method).__name__}")
        gen = seed_everything(cfg.seed)
        train = method.prepare(train)
        if len(train) == 0:
            raise ValueError(f"cannot train on an empty split {train.name!r}")
        params = method.main_parameters()
        if not params:
            raise ValueError(f"{type(method).__name__} has no trainable parameters")
        extra_opts = method.extra_optimizers()
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = math.ceil(len(train) / cfg.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda(steps))
        held_out = _cycle(method.held_out_split, cfg.batch_size, gen) \
            if method.held_out_every > 0 else None
        if method.held_out_every > 0 and method.held_out_split is None:
            raise ValueError(f"{type(method).__name__} sets held_out_every but no held_out_split")
        model = method.student
        hist = History()
        best_state = None
        bad_epochs = 0
        step = 0
        bar = _progress(range(cfg.epochs), self.desc, self.progress)
        for epoch in bar:
            method.train()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            t0 = time.perf_counter()
            data_s = 0.0
            it = iterate_batches(train, cfg.batch_size, shuffle=True, generator=gen)
            while True:
                td = time.perf_counter()
                batch = next(it, None)
                if batch is not None:
                    batch = method.transform_batch(batch, gen)
                data_s += time.perf_counter() - td
                if batch is None:
                    break
                terms = method.forward_train(batch)
                loss = terms["total"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"non-finite loss {loss.item()} at epoch {epoch}; lower the learning "
                        "rate or check the inputs for NaN")
                opt.zero_grad(set_to_none=True)
                for o in extra_opts:
                    o.zero_grad(set_to_none=True)
                loss.backward()
                logs = method.after_backward(batch, terms) or {}
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                sched.step()
                step += 1
                if held_out is not None and step % method.held_out_every == 0:
                    logs = {**logs, **(method.held_out_step(next(held_out)) or {})}
                # each term is averaged over the batches that produced it
                for k, v in [*terms.items(), *logs.items()]:
                    sums[k] = sums.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v)
                    counts[k] = counts.get(k, 0) + 1
            train_s = time.perf_counter() - t0
            rec = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_s": train_s,
                   "data_s": data_s}
            rec.update({f"train/{k}": v / counts[k] for k, v in sums.items()})
            rec.update(method.on_epoch_end(epoch) or {})
            if score_fn is not None:
                method.eval()
                with torch.no_grad():
                    score = float(score_fn(model))
                if not math.isfinite(score):
                    raise ValueError(
                        f"{self.desc}: the validation score is {score} at epoch {epoch}, so no "
                        "epoch can be selected; the score function must return a finite number "
                        "(e.g. AUROC needs both classes in the validation split: use another "
                        "seed or a larger split)")
                rec["val_score"] = score
                if score > hist.best_score + cfg.min_delta or best_state is None:
                    hist.best_score, hist.best_epoch = score, epoch
                    best_state = copy.deepcopy(model.state_dict())
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            hist.records.append(rec)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{rec.get('train/total', float('nan')):.3f}",
                                val=f"{rec.get('val_score', float('nan')):.3f}", refresh=False)
            for cb in self.callbacks:
                cb.on_epoch_end(self, rec)
            if score_fn is not None and bad_epochs >= cfg.patience:
                hist.stopped_early = True
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            hist.best_epoch = len(hist.records) - 1
        hist.still_improving = (score_fn is not None and not hist.stopped_early
                                and hist.best_epoch == len(hist.records) - 1)
        if hist.still_improving:
            warnings.warn(
                f"{self.desc}: the best validation epoch is the last one ({hist.best_epoch}) of "
                f"{cfg.epochs}: the model was still improving; raise epochs before comparing "
                "it with other models", ConvergenceWarning, stacklevel=2)
        method.eval()
        for cb in self.callbacks:
            cb.on_fit_end(self, hist)
        if checkpoint is not None:
            from mindkit.train.checkpoint import save_model

            save_model(model, checkpoint, extra={
                **(meta or {}), "train": asdict(cfg), "best_epoch": hist.best_epoch,
                "best_val_score": hist.best_score, "epochs_run": len(hist.records),
                "still_improving": hist.still_improving, "method": method.name,
                "settings": method.settings()})
        return hist


def _cycle(split: Split, batch_size: int, gen: torch.Generator):
    """Endless shuffled batches of ``split`` (held-out steps)."""
    if len(split) == 0:
        raise ValueError(f"the held-out split {split.name!r} is empty")
    while True:
        yield from iterate_batches(split, batch_size, shuffle=True, generator=gen)


def _progress(it, desc: str, enabled: bool):
    # a text bar on stdout, updated once per epoch (mindkit.common.progress)
    from mindkit.common import progress

    return progress(it, desc, enabled)
