"""Gradient modulation (OGM-GE, Peng et al., CVPR 2022), as its reference code computes it,
usable with any method (:meth:`mindkit.train.method.Method.use_gradmod`).

Each modality m has its own logits ``out_m``. Its batch score is ``score_m = sum_i
p_m(y_i | x_i)``: the softmax probability of the true class (multiclass), or for
binary/multilabel our reading of "the same spirit", the mean over labels of the probability given
to each label's true value (``p`` where ``y = 1``, ``1 - p`` where ``y = 0``). With two
modalities ``rho_a = score_a / score_b``; with more, each score is compared with the mean of the
others' (our choice, docs/methods.md; the pooled-bottleneck authors' commented-out code
divides by the *sum* of the others). A modality with ``rho_m > 1`` dominates and gets
``k_m = 1 - tanh(alpha * rho_m)``; the others keep 1. After ``backward()`` and before the
optimiser step, each modality's own gradients are multiplied by ``k_m``; generalisation
enhancement (GE) adds Gaussian noise with the gradient's own standard deviation
(``grad * k + N(0, std(grad))``), as OGM-GE's code does for every modulated parameter.

**Where the per-modality logits come from** (:class:`GradModulator`, ``mode="ogm"``): a student
with one head per modality (MIND's) uses those heads' logits from the training forward pass; any
other model (a single-head student, the pooled bottleneck) is run once per modality with only that
modality present, in eval mode and without gradient (the pooled-bottleneck authors' commented-out
form; eval mode is our choice, so the extra passes neither draw dropout nor move batch-norm
statistics). Since every row is computed on its own in eval mode, the M passes run as one call
over M copies of the rows (copy ``j`` with only modality ``j`` present): the same logits, with
one pass's overhead. Scores are compared on the batch rows that have every modality, so every
modality is scored on the same samples; a batch with no such row is not modulated.

``mode="pb"`` is the pooled-bottleneck paper's active form: ``k_m = 1 - w_m / sum(w)`` from the
bottleneck fusion's pooling weights, for every modality at every active step (with equal
weights and three modalities, every modality's gradients are scaled by 2/3).

**Which parameters** (``params``): ``"all"`` (default) scales every parameter of the modality's
encoder and of its own fusion parts (a bottleneck stream), like the pooled-bottleneck code, which
modulates every parameter whose name holds the modality; ``"conv"`` only 4-D (convolution
weight) gradients, like OGM-GE's reference code. Modulation is active for epochs
``start <= epoch <= end`` (inclusive, as both reference codes test it).

Every step is logged (``GradModulator.log``: step, epoch, whether active, and per modality the
score, ``rho`` and coefficient) so a notebook can plot the curves; the trainer's epoch records get
the means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from mindkit.models.student import modality_parameters


def modality_scores(logits: dict[str, Tensor], y: Tensor, task: str) -> dict[str, float]:
    """Per modality, the batch score ``sum_i p_m(true | x_i)`` (module docstring)."""
    if not logits:
        raise ValueError("modality_scores needs the logits of at least one modality")
    out = {}
    for m, lg in logits.items():
        if lg.shape[0] != y.shape[0]:
            raise ValueError(f"modality {m!r}: {lg.shape[0]} rows of logits for {y.shape[0]} "
                             "targets")
        lg = lg.detach().float()
        if task == "multiclass":
            p = torch.softmax(lg, -1).gather(1, y.long().view(-1, 1)).squeeze(1)
        else:
            q = torch.sigmoid(lg)
            t = y.float().view_as(q)
            p = (t * q + (1 - t) * (1 - q)).mean(1)
        out[m] = float(p.sum())
    return out


def ogm_rhos(scores: dict[str, float]) -> dict[str, float]:
    """``rho_m``: each score over the mean of the others' (the ratio, for two modalities)."""
    if len(scores) < 2:
        raise ValueError("gradient modulation compares modalities: give at least two")
    out = {}
    for m, s in scores.items():
        others = [v for k, v in scores.items() if k != m]
        ref = sum(others) / len(others)
        out[m] = s / ref if ref > 0 else float("inf")
    return out


def coefficient(rho: float, alpha: float) -> float:
    """``1 - tanh(alpha * rho)`` for a dominant modality (``rho > 1``), else 1."""
    return 1.0 - math.tanh(alpha * rho) if rho > 1 else 1.0


def ogm_coefficients(logits: dict[str, Tensor], y: Tensor, alpha: float, task: str
                     ) -> dict[str, float]:
    """OGM-GE's gradient coefficient per modality for one batch: ``1 - tanh(alpha * rho_m)``
    for a modality whose score exceeds the (mean of the) others', 1 otherwise."""
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    if len(logits) < 2:
        raise ValueError("gradient modulation compares modalities: give at least two")
    rhos = ogm_rhos(modality_scores(logits, y, task))
    return {m: coefficient(r, alpha) for m, r in rhos.items()}


def pb_coefficients(weights: dict[str, float]) -> dict[str, float]:
    """The pooled-bottleneck paper's coefficients ``1 - w_m / sum(w)`` from pooling weights."""
    total = sum(weights.values())
    if not total:
        raise ValueError(f"pooling weights sum to zero ({weights}); no coefficients")
    return {m: 1.0 - w / total for m, w in weights.items()}


def modulate_gradients(params: dict[str, nn.Module | Iterable[nn.Parameter]],
                       coeffs: dict[str, float], noise: bool = False,
                       generator: torch.Generator | None = None) -> None:
    """Scale each modality's parameter gradients by its coefficient, in place; with ``noise``
    (generalisation enhancement) add ``N(0, std(grad))`` to each scaled gradient. ``params``
    maps a modality to a module (its encoder) or to a list of parameters."""
    unknown = set(coeffs) - set(params)
    if unknown:
        raise KeyError(f"coefficients for modalities without parameters: {sorted(unknown)}")
    for m, k in coeffs.items():
        src = params[m]
        for p in (src.parameters() if isinstance(src, nn.Module) else src):
            if p.grad is None:
                continue
            if noise and p.grad.numel() > 1:
                std = p.grad.std().item()
                eps = torch.randn(p.grad.shape, generator=generator, dtype=p.grad.dtype)
                p.grad.mul_(k).add_(eps.to(p.grad.device) * std)
            else:
                p.grad.mul_(k)


GM_MODES = ("ogm", "pb")
GM_PARAMS = ("all", "conv")


@dataclass
class GradModConfig:
    mode: str = "ogm"  # "ogm" (score ratios) or "pb" (pooling weights; bottleneck fusion only)
    alpha: float = 0.5  # OGM's alpha in 1 - tanh(alpha * rho)
    start: int = 0  # first epoch modulated
    end: int = 4  # last epoch modulated (inclusive)
    noise: bool = True  # OGM-GE's generalisation enhancement
    params: str = "all"  # "all" parameters of a modality, or "conv" (4-D weights only)

    def __post_init__(self) -> None:
        if self.mode not in GM_MODES:
            raise ValueError(f"unknown gradient-modulation mode {self.mode!r}; use one of "
                             f"{GM_MODES}")
        if self.params not in GM_PARAMS:
            raise ValueError(f"unknown params rule {self.params!r}; use one of {GM_PARAMS}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {self.alpha}")
        if self.end < self.start:
            raise ValueError(f"end epoch {self.end} is before start epoch {self.start}")


class GradModulator:
    """Applies :class:`GradModConfig` to a student after each ``backward()`` (module
    docstring). ``log`` holds one row per training step."""

    def __init__(self, config: GradModConfig, student: nn.Module, task: str, seed: int = 0
                 ) -> None:
        self.config, self.task = config, task
        self.names = list(student.names)
        if len(self.names) < 2:
            raise ValueError("gradient modulation needs a model with at least two modalities")
        if config.mode == "pb" and not hasattr(getattr(student, "fusion", None), "weights"):
            raise ValueError("mode='pb' takes its coefficients from bottleneck pooling weights; "
                             f"{type(student).__name__} has no bottleneck fusion (use "
                             "fusion='bottleneck' or mode='ogm')")
        keep = (lambda p: p.dim() == 4) if config.params == "conv" else (lambda p: True)
        self.params = {m: [p for p in modality_parameters(student, m) if keep(p)]
                       for m in self.names}
        if config.params == "conv" and not any(self.params.values()):
            raise ValueError("params='conv' modulates 4-D convolution weights, and this model "
                             "has none; use params='all'")
        self.generator = torch.Generator().manual_seed(seed)
        self.merged_passes = True  # False: one pass per modality (the earlier code)
        self.epoch = 0
        self.step_count = 0
        self.log: list[dict] = []

    def active(self) -> bool:
        return self.config.start <= self.epoch <= self.config.end

    def _modality_logits(self, student: nn.Module, batch, output) -> tuple[dict, Tensor] | None:
        full = torch.stack([batch.present[m].bool() for m in self.names]).all(0)
        rows = full.nonzero().flatten()
        if not rows.numel():
            return None
        heads = getattr(student, "head_names", [])
        if output is not None and all(m in heads for m in self.names):
            return {m: output.logits[m].index_select(0, rows) for m in self.names}, batch.y[rows]
        was = student.training
        student.eval()
        if not self.merged_passes:
            return self._modality_logits_one_by_one(student, batch, rows, heads, was)
        try:
            with torch.no_grad():
                # one pass over M copies of the complete rows, copy j with only modality j
                # present: in eval mode every row is computed on its own (batch norm uses its
                # running statistics, no dropout), so this is the M single-modality passes
                n, n_mod = rows.numel(), len(self.names)
                rep = rows.repeat(n_mod)
                inputs = {m: v.index_select(0, rep) for m, v in batch.inputs.items()}
                lengths = {m: v.index_select(0, rep) for m, v in (batch.lengths or {}).items()}
                block = torch.arange(n_mod, device=rows.device).repeat_interleave(n)
                only = {k: block == j for j, k in enumerate(self.names)}
                logits = student(inputs, only, lengths).logits
                out = {}
                for j, m in enumerate(self.names):
                    got = logits[m] if m in logits and m in heads else logits["mm"]
                    out[m] = got[j * n:(j + 1) * n]
        finally:
            student.train(was)
        return out, batch.y[rows]

    def _modality_logits_one_by_one(self, student, batch, rows, heads, was):
        """The M single-modality passes one after the other (``merged_passes=False``: the
        earlier code, kept for comparisons); the same logits as the merged pass."""
        try:
            with torch.no_grad():
                inputs = {m: v.index_select(0, rows) for m, v in batch.inputs.items()}
                lengths = {m: v.index_select(0, rows) for m, v in (batch.lengths or {}).items()}
                out = {}
                for m in self.names:
                    only = {k: torch.full((rows.numel(),), k == m, dtype=torch.bool,
                                          device=rows.device) for k in self.names}
                    logits = student(inputs, only, lengths).logits
                    out[m] = logits[m] if m in logits and m in heads else logits["mm"]
        finally:
            student.train(was)
        return out, batch.y[rows]

    def coefficients(self, student: nn.Module, batch, output=None) -> dict | None:
        """``{"coeff": {m: k}, "rho": {m: rho}, "score": {m: s}}`` for this batch (rho and score
        only in ``ogm`` mode), or None when no row has every modality (``ogm`` mode)."""
        if self.config.mode == "pb":
            return {"coeff": pb_coefficients(student.fusion.weights())}
        got = self._modality_logits(student, batch, output)
        if got is None:
            return None
        logits, y = got
        scores = modality_scores(logits, y, self.task)
        rhos = ogm_rhos(scores)
        return {"coeff": {m: coefficient(r, self.config.alpha) for m, r in rhos.items()},
                "rho": rhos, "score": scores}

    def after_backward(self, student: nn.Module, batch, output=None) -> dict[str, float]:
        """Modulate the gradients for this step if active; returns the numbers to log."""
        row = {"step": self.step_count, "epoch": self.epoch, "active": self.active()}
        self.step_count += 1
        if not row["active"]:
            self.log.append(row)
            return {}
        got = self.coefficients(student, batch, output)
        if got is None:
            self.log.append(row)
            return {}
        modulate_gradients(self.params, got["coeff"], self.config.noise, self.generator)
        flat = {f"gm/{kind}/{m}": v for kind, d in got.items() for m, v in d.items()}
        self.log.append({**row, **flat})
        return flat

    def next_epoch(self) -> None:
        self.epoch += 1

    def settings(self) -> dict:
        return {f"gm_{k}": v for k, v in asdict(self.config).items()}

    def frame(self):
        """The per-step log as a DataFrame (columns ``gm/coeff/<m>``, ``gm/rho/<m>``...)."""
        import pandas as pd

        return pd.DataFrame(self.log)


__all__ = ["GM_MODES", "GradModConfig", "GradModulator", "coefficient", "modality_scores",
           "modulate_gradients", "ogm_coefficients", "ogm_rhos", "pb_coefficients"]
