"""One training loop for teachers, students and baselines.

``Trainer(config).fit(method, train, score_fn=score_fn)`` runs AdamW with a learning-rate
schedule, evaluates ``score_fn(model)`` (higher is better) after each epoch, stops early when it
has not improved for ``patience`` epochs, restores the best weights and optionally saves them.
Each method (:mod:`mindkit.train.method`) returns a dict of named loss terms with a ``"total"`` to
back-propagate; every term is averaged over the batches that produced it into the history. A
model whose best epoch is its last is flagged (``History.still_improving``, a
:class:`ConvergenceWarning`): it was still improving.

**Device** (``TrainConfig.device``, :mod:`mindkit.device`). ``fit`` moves the method
(student, frozen teachers, training-only parameters) to the device once, before its optimizers
are made, and leaves it there. The training split moves there once when it fits in device
memory (``TrainConfig.max_split_bytes``); a larger one stays in CPU memory and each batch is
gathered into pinned memory and copied with ``non_blocking=True``. The method's ``prepare``
receives the split as it will be iterated (on the device, or in CPU memory when it streams);
batches reach ``forward_train`` on the device. ``amp="bf16"`` runs the training forward passes
under bfloat16 autocast (CUDA only).

**No host sync per step.** On a GPU the loss terms are summed on the device and read once per
epoch (on the CPU, where a read costs no sync, each term is read as it comes, the cheapest
path). The non-finite-loss check runs once per epoch, on the epoch's summed total loss, instead
of at every step: a NaN or infinite loss at any step of an epoch is reported at the end of that
epoch, naming it (the steps after it have trained on NaN, and the error stops the run).
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

from mindkit.common import KitWarning, progress
from mindkit.data.base import Batch, Split, iterate_batches, validate_for_model
from mindkit.device import autocast, check_amp, parse_device, place_split, resolve_device
from mindkit.train.checkpoint import save_model
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
    device: str = "auto"  # "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "cuda:N" or "mps"
    amp: str | None = None  # "bf16": bfloat16 autocast of the training forward pass (CUDA only)
    # largest training split (bytes) moved whole to the device; None: half its free memory.
    # A larger split stays in CPU memory and its batches stream to the device.
    max_split_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler not in ("cosine", "constant"):
            raise ValueError(f"unknown scheduler {self.scheduler!r}; use 'cosine' or 'constant'")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        self.device = parse_device(self.device)
        resolve_device(self.device)  # an unavailable device is refused here, not after loading
        check_amp(self.amp, self.device)
        if self.max_split_bytes is not None and self.max_split_bytes < 0:
            raise ValueError(f"max_split_bytes must be >= 0 bytes or None (half the device's "
                             f"free memory), got {self.max_split_bytes}")


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


@dataclass
class RunInfo:
    """What one training returns, or a reuse of one: where the model came from (``source``:
    ``"trained"``, ``"store:<key>"`` or the checkpoint it was loaded from), its selection
    (best epoch, validation score, epochs run, whether it was still improving at the last
    epoch), its deployed and training-only parameter counts, the method's record settings, the
    history and the method's per-step logs (``step_logs``: kind -> frame, e.g. ``"gm"``)."""

    source: str
    best_epoch: int | None = None
    val_score: float | None = None
    epochs_run: int | None = None
    still_improving: bool | None = None
    params: int | None = None  # the deployed model's parameters
    extra_params: int = 0  # trainable parameters used only in training
    settings: dict = field(default_factory=dict)  # what records carry (Method.settings)
    history: History | None = None
    step_logs: dict = field(default_factory=dict)
    method: object = None  # the method object (None when loaded from a checkpoint)
    cache_s: float = 0.0  # seconds spent caching teacher outputs
    store_key: str | None = None

    @classmethod
    def from_history(cls, hist: History, source: str, **kw) -> "RunInfo":
        return cls(source, hist.best_epoch, hist.best_score, len(hist.records),
                   hist.still_improving, history=hist, **kw)

    @classmethod
    def from_meta(cls, meta: dict, source: str, **kw) -> "RunInfo":
        """From a checkpoint's JSON (what :meth:`Trainer.fit` saves)."""
        return cls(source, meta.get("best_epoch"), meta.get("best_val_score"),
                   meta.get("epochs_run"), meta.get("still_improving"),
                   settings=meta.get("settings", {}), **kw)

    def row(self) -> dict:
        """The numbers a run table shows (no history, logs or objects)."""
        return {"params": self.params, "extra_params": self.extra_params,
                "best_epoch": self.best_epoch, "val_score": self.val_score,
                "epochs_run": self.epochs_run, "still_improving": self.still_improving,
                "source": self.source}


class Callback:
    """Hooks of :meth:`Trainer.fit`: ``on_fit_start`` before the first epoch (and before the
    progress bar is drawn, so a notebook output a callback displays there sits above the bar),
    ``on_epoch_end`` after each epoch's record, ``on_fit_end`` with the history. A replayed
    stored training calls them with ``trainer=None``."""

    def on_fit_start(self, trainer: "Trainer | None") -> None:  # pragma: no cover
        pass

    def on_epoch_end(self, trainer: "Trainer", record: dict) -> None:  # pragma: no cover
        pass

    def on_fit_end(self, trainer: "Trainer", history: History) -> None:  # pragma: no cover
        pass


class ConvergenceWarning(KitWarning):
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
        dev = resolve_device(cfg.device)
        check_amp(cfg.amp, dev)
        if not _on_device(method, dev):
            method.to(dev)  # once, before any optimizer holds the parameters' state
        gen = seed_everything(cfg.seed)
        train, stream = place_split(train, dev, cfg.max_split_bytes)
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
        held_out = _cycle(method.held_out_split, cfg.batch_size, gen, dev, stream) \
            if method.held_out_every > 0 else None
        if method.held_out_every > 0 and method.held_out_split is None:
            raise ValueError(f"{type(method).__name__} sets held_out_every but no held_out_split")
        model = method.student
        hist = History()
        best_state = None
        bad_epochs = 0
        step = 0
        for cb in self.callbacks:  # before the bar: what they display comes above it
            start = getattr(cb, "on_fit_start", None)
            if start is not None:
                start(self)
        bar = _progress(range(cfg.epochs), self.desc, self.progress)
        for epoch in bar:
            method.train()
            terms_sum = _EpochSums(dev)
            t0 = time.perf_counter()
            data_s = 0.0
            it = iterate_batches(train, cfg.batch_size, shuffle=True, generator=gen, device=dev,
                                 stream=stream)
            while True:
                td = time.perf_counter()
                batch = next(it, None)
                if batch is not None:
                    batch = method.transform_batch(batch, gen)
                data_s += time.perf_counter() - td
                if batch is None:
                    break
                with autocast(cfg.amp, dev):
                    terms = method.forward_train(batch)
                loss = terms["total"]
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
                    with autocast(cfg.amp, dev):
                        held = method.held_out_step(next(held_out)) or {}
                    logs = {**logs, **held}
                # each term is averaged over the batches that produced it (summed on the device)
                terms_sum.add([*terms.items(), *logs.items()])
            means = terms_sum.means()  # the epoch's one read from the device
            if not math.isfinite(means.get("total", 0.0)):
                raise FloatingPointError(
                    f"{self.desc}: non-finite loss at epoch {epoch} (the mean training loss over "
                    f"its {terms_sum.steps} steps is {means['total']}); lower the learning rate "
                    "or check the inputs for NaN")
            train_s = time.perf_counter() - t0
            rec = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_s": train_s,
                   "data_s": data_s}
            rec.update({f"train/{k}": v for k, v in means.items()})
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
        if hasattr(bar, "close"):
            bar.close()  # the bar's line ends here, before any notice or print after the fit
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
            save_model(model, checkpoint, extra={
                **(meta or {}), "train": asdict(cfg), "trained_on": str(dev),
                "best_epoch": hist.best_epoch,
                "best_val_score": hist.best_score, "epochs_run": len(hist.records),
                "still_improving": hist.still_improving, "method": method.name,
                "settings": method.settings()})
        return hist


def _on_device(method: Method, device: torch.device) -> bool:
    """Whether every parameter and buffer of ``method`` and its teachers is on ``device`` (then
    there is nothing to move: a walk over the module tree saved per fit)."""
    mods = [method, *method.teacher_modules()]
    return all(t.device == device for m in mods for ts in (m.parameters(), m.buffers())
               for t in ts)


class _EpochSums:
    """Per-term sums over an epoch's steps, read from the device once per epoch.

    On a GPU (or MPS) each step's tensor terms are stacked, cast (float64; float32 on MPS, which
    has none) and added to a running sum per set of names, on the device: three small kernels
    and no host sync, so the host queues the next step while the device computes. On the CPU,
    where reading a number costs no sync, each term is read as it comes (``Tensor.item``, the
    cheapest per-step path) and summed as a Python float, exactly as before. Plain numbers are
    summed on the host either way. :meth:`means` gives each term's mean over the steps that
    produced it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.on_host = device.type == "cpu"
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        self.groups: dict[tuple[str, ...], list] = {}  # names -> [sums tensor, count]
        self.numbers: dict[str, list] = {}  # name -> [sum, count]
        self.order: dict[str, None] = {}  # every name, in first-seen order
        self.steps = 0

    def add(self, items: list[tuple[str, object]]) -> None:
        self.steps += 1
        names, vals = [], []
        for k, v in items:
            self.order.setdefault(k)
            if torch.is_tensor(v) and not self.on_host:
                names.append(k)
                v = v.detach()
                if v.device != self.device:
                    v = v.to(self.device)
                vals.append(v if v.dim() == 0 else v.reshape(()))
                continue
            acc = self.numbers.get(k)
            if acc is None:
                acc = self.numbers[k] = [0.0, 0]
            acc[0] += v.item() if torch.is_tensor(v) else float(v)
            acc[1] += 1
        if vals:
            key = tuple(names)
            stacked = torch.stack(vals).to(self.dtype)
            acc = self.groups.get(key)
            if acc is None:
                self.groups[key] = [stacked, 1]
            else:
                acc[0] = acc[0] + stacked
                acc[1] += 1

    def means(self) -> dict[str, float]:
        """Each term's mean over the steps that produced it, in first-seen order (one read of
        the device's sums)."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for key, (total, n) in self.groups.items():
            for k, v in zip(key, total.tolist()):
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + n
        for k, (total, n) in self.numbers.items():
            sums[k] = sums.get(k, 0.0) + total
            counts[k] = counts.get(k, 0) + n
        return {k: sums[k] / counts[k] for k in self.order}


def _cycle(split: Split, batch_size: int, gen: torch.Generator, device: torch.device,
           stream: bool):
    """Endless shuffled batches of ``split`` (held-out steps), delivered on ``device`` (streamed
    from CPU memory when the training split streams)."""
    if len(split) == 0:
        raise ValueError(f"the held-out split {split.name!r} is empty")
    while True:
        yield from iterate_batches(split, batch_size, shuffle=True, generator=gen, device=device,
                                   stream=stream or split.device != device)


def _progress(it, desc: str, enabled: bool):
    # a text bar on stdout, updated once per epoch (mindkit.common.progress)
    return progress(it, desc, enabled)
