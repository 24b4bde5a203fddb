"""One small object per training method (the mdistiller ``Distiller`` pattern).

A :class:`Method` owns the model it deploys (``student``), any frozen teachers, and its loss.
:class:`mindkit.train.Trainer` drives every method with one loop and calls these hooks:

=========================  =====================================================================
``prepare(train)``         once, before the first epoch: cache teacher outputs, pick the training
                           samples (returns the split to train on)
``transform_batch(b, g)``  per batch, before the forward pass (e.g. random modality dropout)
``forward_train(b)``       per batch: a dict of named loss terms with a ``"total"``; a term a batch
                           cannot compute (a head with no rows) is left out, not set to 0
``after_backward(b, t)``   after ``backward()``, before clipping and ``optimizer.step()``
                           (gradient modulation: the base class applies ``use_gradmod``'s);
                           may return numbers to log
``extra_optimizers()``     optimizers the method steps itself on its own parameters (meta-learned
                           weights); those parameters are left out of the main optimizer
``held_out_step(b)``       every ``held_out_every`` steps, on a batch of ``held_out_split`` (the
                           method sets both, e.g. a meta-validation split carved in ``prepare``)
``on_epoch_end(epoch)``    numbers to add to the epoch's history record
=========================  =====================================================================

Teachers are frozen and stay in eval mode whatever ``train()`` is called with. Only ``student``
is scored, checkpointed and counted as the deployed model; training-only modules (hint
projections) are counted by :meth:`Method.extra_parameters`.

**Devices.** ``method.to(device)`` (and ``.cuda()``, ``.cpu()``) moves the student, every module
:meth:`Method.teacher_modules` names (held as plain attributes or not: they stay frozen and in
eval mode) and every other parameter or module the method registers (MCKD's importances, hint
projections); :attr:`Method.device` is where the student is. The Trainer moves a method once,
before making its optimizers; an optimizer a method made earlier (its ``extra_optimizers``)
follows its parameters (:meth:`Method._apply`). ``prepare(train)``
receives the training split where its batches will be gathered: on the training device when it
fits there, else in CPU memory (it then streams); batches, ``batch.idx`` included, reach
``forward_train`` on the training device. A per-sample cache built in ``prepare`` and gathered
with ``batch.idx`` must therefore live on :attr:`Method.device`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, Split
from mindkit.device import module_device
from mindkit.train.gradmod import GradModulator
from mindkit.train.losses import task_loss


class Method(nn.Module):
    name = "method"
    held_out_every: int = 0  # > 0: call held_out_step every that many optimizer steps

    def __init__(self, student: nn.Module, task: str) -> None:
        super().__init__()
        self.student = student
        self.task = task
        self.held_out_split: Split | None = None
        self.gradmod = None  # a GradModulator, set by use_gradmod
        self.last_output = None  # the student's output of the last training forward pass

    def use_gradmod(self, config, seed: int = 0) -> "Method":
        """Modulate this method's gradients (OGM-GE or the pooled-bottleneck variant,
        :mod:`mindkit.train.gradmod`) after each ``backward()``; returns the method."""
        self.gradmod = GradModulator(config, self.student, self.task, seed)
        return self

    def gradmod_settings(self) -> dict:
        return self.gradmod.settings() if self.gradmod is not None else {}

    # -- the deployed model ------------------------------------------------------------------
    def deployed_parameters(self) -> int:
        return sum(p.numel() for p in self.student.parameters())

    def extra_parameters(self) -> int:
        """Trainable parameters used only in training (not part of the deployed student)."""
        mine = {id(p) for p in self.student.parameters()}
        mine |= {id(p) for t in self.teacher_modules() for p in t.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in mine)

    def teacher_modules(self) -> list[nn.Module]:
        """Frozen modules this method holds (kept in eval mode, moved with the method)."""
        return []

    @property
    def device(self) -> torch.device:
        """The device of the student's weights (where the method trains)."""
        return module_device(self.student)

    def _apply(self, fn, recurse: bool = True):
        """``to``/``cuda``/``cpu``/``half`` reach the teachers too: :meth:`teacher_modules` that
        are not registered submodules (a teacher source's ensembles, hint teachers) are moved
        with the method, so a method is on one device as a whole. Moving changes no train/eval
        flag and no ``requires_grad``: teachers stay frozen and in eval mode. The method's own
        optimizers (:meth:`extra_optimizers`) follow their parameters: torch keeps each
        parameter object when it moves between the CPU, CUDA and MPS, and where it makes a new
        one (another kind of device) the optimizers are pointed at it; state an optimizer
        already holds (after steps) moves with its parameter."""
        before = dict(self.named_parameters()) if recurse else {}
        super()._apply(fn, recurse)
        if recurse:
            own = {id(m) for m in self.modules()}
            for t in _called(self.teacher_modules):
                if id(t) not in own:
                    t._apply(fn)
            self._follow_optimizers(before)
        return self

    def _follow_optimizers(self, before: dict[str, nn.Parameter]) -> None:
        after = dict(self.named_parameters())
        swap = {id(p): after[n] for n, p in before.items() if n in after and after[n] is not p}
        for opt in _called(self.extra_optimizers):
            for group in opt.param_groups:
                group["params"] = [swap.get(id(p), p) for p in group["params"]]
            for p in list(opt.state):
                new = swap.get(id(p), p)
                # per-parameter tensors (moments) follow it; scalar counters stay where they are
                opt.state[new] = {k: v.to(new.device) if torch.is_tensor(v) and v.dim() else v
                                  for k, v in opt.state.pop(p).items()}

    def settings(self) -> dict:
        """The method's settings that records should carry (e.g. alpha, T for KD methods)."""
        return {}

    def train(self, mode: bool = True) -> "Method":
        super().train(mode)
        for t in self.teacher_modules():
            t.train(False)
        return self

    # -- hooks -------------------------------------------------------------------------------
    def prepare(self, train: Split) -> Split:
        return train

    def transform_batch(self, batch: Batch, generator: torch.Generator) -> Batch:
        return batch

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward_train(batch)")

    def after_backward(self, batch: Batch, terms: dict[str, Tensor]) -> dict[str, float] | None:
        if self.gradmod is not None:
            return self.gradmod.after_backward(self.student, batch, self.last_output)
        return None

    def extra_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def held_out_step(self, batch: Batch) -> dict[str, float] | None:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} sets held_out_every but has no "
                                  "held_out_step(batch)")

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        if self.gradmod is not None:
            self.gradmod.next_epoch()
        return {}

    def step_logs(self) -> dict:
        """The per-step logs this method kept, by kind (pandas frames, saved beside its
        checkpoint as ``<checkpoint>.<kind>.csv``): ``gm``, gradient modulation's rho and
        coefficients, when it modulates. A method with a log of its own adds it here."""
        return {"gm": self.gradmod.frame()} if self.gradmod is not None else {}

    # -- for the trainer ---------------------------------------------------------------------
    def main_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters for the main optimizer: all but teachers' and those that an
        extra optimizer steps."""
        own = {id(p) for opt in self.extra_optimizers() for g in opt.param_groups
               for p in g["params"]}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in own]


def _called(hook) -> list:
    """``hook()``, or nothing while the method is still being built (a ``to`` call inside an
    ``__init__``, before the attributes the hook reads exist)."""
    try:
        return list(hook())
    except AttributeError:
        return []


class Supervised(Method):
    """Plain supervised training of one model on its task loss (teachers, unimodal baselines).

    ``model.forward_batch(batch)`` must return logits ``[B, C]`` for every row of the batch;
    ``modalities`` restricts training to the samples that have them (a unimodal teacher trains
    on every sample with its modality).
    """

    name = "supervised"

    def __init__(self, model: nn.Module, task: str, modalities: list[str] | None = None) -> None:
        super().__init__(model, task)
        self.modalities = list(modalities) if modalities else None

    def prepare(self, train: Split) -> Split:
        return train.only_modalities(self.modalities) if self.modalities else train

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        return {"total": task_loss(self.task, self.student.forward_batch(batch), batch.y)}


class LossFnMethod(Method):
    """Wrap a plain ``loss_fn(model, batch) -> {"total": ..., ...}`` as a method, for quick
    experiments in a notebook."""

    name = "loss_fn"

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Batch], dict],
                 task: str = "") -> None:
        super().__init__(model, task)
        self.loss_fn = loss_fn

    def forward_train(self, batch: Batch) -> dict[str, Tensor]:
        return self.loss_fn(self.student, batch)
