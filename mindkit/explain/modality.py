"""How much each whole modality drove a prediction: Captum attributions over modalities.

Two questions, two baselines (offer both, say which is which):

``baseline="absent"`` (default): *what does the model say without this modality?*
    The model is wrapped so that a per-sample presence vector ``[B, M]`` is its input
    (:class:`PresenceForward`); Captum's exact :class:`~captum.attr.ShapleyValues` attributes
    over it with a baseline of 0 (absent). Removing a modality therefore means the model's own
    missing-modality path: a MIND student routes to the heads of the modalities left, a
    single-head student uses its zero/learned token, the teachers' late fusion averages the
    ensembles left. A sample with no modality left gets the **training-set prior** (class
    frequencies for multiclass, each label's positive rate otherwise): that is our definition
    of the model's output "with nothing", since no model here can predict from nothing. By
    Shapley efficiency a sample's attributions sum to ``f(all it has) - prior``. A modality the
    sample does not have gets exactly 0 (its presence input already equals the baseline).

``baseline="zero"``: *what does the model do with a blank input in this modality's place?*
    The classic input-ablation question. The model keeps its presence flags; the modality's
    input tensor is replaced by zeros (Captum :class:`~captum.attr.FeatureAblation`,
    leave-one-out, or :class:`~captum.attr.ShapleyValues` with one feature-mask group id per
    modality across the input tensors). Zeros are a real input for an encoder (a black image,
    silent frames), not an absence, so the answer can differ a lot from ``"absent"``; for a
    single-head model trained with zero-filled missing inputs the two coincide only where
    its presence flags are ignored.

The explained scalar per sample is the probability of one output (``output="prob"``, the
routed prediction's probability, the scale the routing averages on) or its logit
(log-probability for multiclass, log-odds for binary/multilabel). ``target`` picks the output:
``"pred"`` (the class, or for multilabel the label, the full-modality model gives the highest
probability), ``"true"`` (the true class; for binary the single label; not defined for
multilabel), an int, or one index per sample. Multi-output models are thus wrapped to one
scalar per sample (Captum's ``target``).

**Devices.** The model is explained where it is, or on ``device=`` (a device option,
:func:`mindkit.device.resolve_device`: it is moved there in place). The explained rows are
moved to the model's device once (the whole split when it fits in its memory), and Captum's
inputs, baselines, feature masks and targets are made there; the attributions come back to the
CPU (every tensor of a :class:`ModalityAttribution` is a CPU tensor).
"""

from __future__ import annotations

from typing import Sequence

import torch
from captum.attr import FeatureAblation, ShapleyValues, ShapleyValueSampling
from torch import Tensor, nn

from mindkit.data.base import Split, validate_for_model
from mindkit.device import module_device, move_model, place_split
from mindkit.explain.results import ModalityAttribution
from mindkit.models.teachers import probs_to_logits

BASELINES = ("absent", "zero")
OUTPUTS = ("prob", "logit")
EXACT_MAX_MODALITIES = 4  # exact Shapley enumerates M! orderings; sampling beyond this


def class_prior(train: Split, task: str, num_outputs: int) -> Tensor:
    """The training-set prior ``[C]``: class frequencies (multiclass) or each label's positive
    rate (binary/multilabel). The output of a model with no modality left (our definition)."""
    if len(train) == 0:
        raise ValueError("the training split is empty; the prior needs training targets")
    validate_for_model(train, None, task, "class_prior", num_outputs=num_outputs)
    if task == "multiclass":
        counts = torch.bincount(train.y.long(), minlength=num_outputs).double()
        return (counts / len(train)).float()
    return train.y.float().mean(0)


def _model_names(model: nn.Module) -> list[str]:
    names = getattr(model, "names", None)
    if not names or not hasattr(model, "route"):
        raise TypeError(f"{type(model).__name__} is not a multimodal model with per-modality "
                        "inputs and a routed prediction (a MultiHeadStudent, SingleHeadStudent "
                        "or TeacherLateFusion)")
    return list(names)


def scalar_output(probs: Tensor, task: str, output: str) -> Tensor:
    return probs if output == "prob" else probs_to_logits(probs, task)


class _SplitForward(nn.Module):
    """Shared part of the wrappers: rows of ``split`` gathered by index, routed probabilities."""

    def __init__(self, model: nn.Module, split: Split, task: str, output: str) -> None:
        super().__init__()
        self.model, self.split, self.task, self.output = model, split, task, output
        self.names = _model_names(model)
        missing = [m for m in self.names if m not in split.inputs]
        if missing:
            raise KeyError(f"split {split.name!r} lacks modalities {missing} the model needs")

    def _routed(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                lengths: dict[str, Tensor]) -> Tensor:
        out = self.model(inputs, present, lengths)
        return self.model.route(out, self.task)[0]

    def _batch(self, idx: Tensor):
        """Rows ``idx`` of the split, on the model's device."""
        return self.split.batch(idx).to(module_device(self.model))


class PresenceForward(_SplitForward):
    """``forward(presence [B, M], idx long[B]) -> [B, C]``: the model's routed output on split
    rows ``idx`` with modality ``j`` withheld wherever ``presence[:, j] < 0.5`` (on top of what
    the sample lacks). Rows left with no modality get ``prior``."""

    def __init__(self, model: nn.Module, split: Split, task: str, prior: Tensor,
                 output: str = "prob") -> None:
        super().__init__(model, split, task, output)
        self.prior = prior

    def forward(self, presence: Tensor, idx: Tensor) -> Tensor:
        b = self._batch(idx)
        presence = presence.to(b.y.device)
        keep = {m: b.present[m] & (presence[:, j] >= 0.5) for j, m in enumerate(self.names)}
        any_left = torch.stack(list(keep.values()), 1).any(1)
        probs = self.prior.to(b.y.device, torch.float32).expand(len(idx), -1).clone()
        rows = any_left.nonzero().flatten()
        if rows.numel():
            probs[rows] = self._routed({m: b.inputs[m][rows] for m in self.names},
                                       {m: keep[m][rows] for m in self.names},
                                       {m: v[rows] for m, v in b.lengths.items()}).float()
        return scalar_output(probs, self.task, self.output)


class InputsForward(_SplitForward):
    """``forward(*inputs, idx) -> [B, C]``: the model's routed output on split rows ``idx`` with
    the modalities' input tensors (in the model's sorted order) replaced by ``inputs``; presence
    flags and lengths stay the sample's own."""

    def forward(self, *args: Tensor) -> Tensor:
        *xs, idx = args
        b = self._batch(idx)
        inputs = dict(zip(self.names, (x.to(b.y.device) for x in xs)))
        return scalar_output(self._routed(inputs, b.present, b.lengths).float(), self.task,
                       self.output)


def resolve_targets(target, probs: Tensor, y: Tensor, task: str) -> Tensor:
    """One output index per sample (see the module docstring for the choices), on the device of
    ``probs``."""
    n, c = probs.shape
    dev = probs.device
    if isinstance(target, str):
        if target == "pred":
            return probs.argmax(1) if (task == "multiclass" or c > 1) else torch.zeros(
                n, dtype=torch.long, device=dev)
        if target == "true":
            if task == "multiclass":
                return y.long().to(dev)
            if c == 1:
                return torch.zeros(n, dtype=torch.long, device=dev)
            raise ValueError("target='true' is not defined for a multilabel task (a sample may "
                             "have several true labels); pass a label index or 'pred'")
        raise ValueError(f"unknown target {target!r}; use 'pred', 'true', a class index or "
                         "one index per sample")
    t = torch.as_tensor(target, dtype=torch.long)
    t = t.expand(n).clone() if t.dim() == 0 else t
    if t.shape != (n,) or (t < 0).any() or (t >= c).any():
        raise ValueError(f"target must be one index in [0, {c}) or {n} of them, got shape "
                         f"{tuple(t.shape)}")
    return t.to(dev)


def select_rows(split: Split, rows, max_samples: int | None, seed: int) -> Tensor:
    if rows is None:
        rows = torch.arange(len(split))
    rows = torch.as_tensor(rows, dtype=torch.long)
    if max_samples is not None and rows.numel() > max_samples:
        g = torch.Generator().manual_seed(seed)
        rows = rows[torch.randperm(rows.numel(), generator=g)[:max_samples]].sort().values
    return rows


def modality_attributions(model: nn.Module, split: Split, task: str, *,
                          prior: Tensor | None = None, baseline: str = "absent",
                          target="pred", output: str = "prob", method: str = "shapley",
                          rows: Sequence[int] | Tensor | None = None,
                          max_samples: int | None = None, sample_seed: int = 0,
                          n_samples: int = 25, batch_size: int = 512,
                          device=None) -> ModalityAttribution:
    """Attribute each sample's output to its whole modalities with Captum.

    ``baseline``: ``"absent"`` (needs ``prior``, :func:`class_prior` of the training split) or
    ``"zero"`` (module docstring). ``method``: ``"shapley"`` (exact :class:`ShapleyValues` up
    to 4 modalities, :class:`ShapleyValueSampling` with ``n_samples`` orderings beyond),
    ``"ablation"`` (leave-one-out :class:`FeatureAblation`). ``rows`` (positions in ``split``)
    or a seeded ``max_samples`` subset choose the samples explained; every sample needs at
    least one modality. ``device``: where the model runs (module docstring; ``None``: where it
    is).
    """
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; use one of {BASELINES}")
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; use one of {OUTPUTS}")
    if method not in ("shapley", "ablation"):
        raise ValueError(f"unknown method {method!r}; use 'shapley' or 'ablation'")
    if baseline == "absent" and prior is None:
        raise ValueError("baseline='absent' needs the training-set prior: pass "
                         "prior=class_prior(ds['train'], task, ds.num_outputs)")
    names = _model_names(model)
    dev = move_model(model, device)
    split = split.to("cpu")
    validate_for_model(split, model, task, "modality_attributions")
    model.eval()
    rows = select_rows(split, rows, max_samples, sample_seed)
    pres = torch.stack([split.present[m][rows] for m in names], 1)
    if rows.numel() == 0:
        raise ValueError("no samples to explain")
    if not bool(pres.any(1).all()):
        raise ValueError(f"{int((~pres.any(1)).sum())} selected samples have no modality; "
                         "drop them before explaining")
    m_count = len(names)
    if method == "shapley":
        algo = ShapleyValues if m_count <= EXACT_MAX_MODALITIES else ShapleyValueSampling
    else:
        algo = FeatureAblation
    extra = {"n_samples": n_samples} if algo is ShapleyValueSampling else {}
    if baseline == "zero" and any(not split.inputs[m].is_floating_point() for m in names):
        raise ValueError("baseline='zero' replaces inputs by zeros, which is not defined for "
                         "token ids; use baseline='absent'")
    # the explained rows, on the model's device (the whole split when it fits there)
    work = place_split(split.subset(rows), dev)[0]
    if baseline == "absent":
        fwd = PresenceForward(model, work, task, prior.float().to(dev), output)
    else:
        fwd = InputsForward(model, work, task, output)
    explainer = algo(fwd)
    pres_dev = pres.to(dev)
    vals, fulls, nones, targets, preds, served = [], [], [], [], [], []
    for start in range(0, rows.numel(), batch_size):
        n_b = min(batch_size, rows.numel() - start)
        idx = torch.arange(start, start + n_b, device=work.device)  # positions in `work`
        b = work.batch(idx).to(dev)
        with torch.no_grad():
            out = model(b.inputs, b.present, b.lengths)
            probs, srv = model.route(out, task)
        probs = probs.float()
        t = resolve_targets(slice_target(target, start, n_b), probs, b.y, task)
        if baseline == "absent":
            x = pres_dev[start: start + n_b].float()
            with torch.no_grad():
                attr = explainer.attribute(x, baselines=0.0, target=t,
                                           additional_forward_args=(idx,),
                                           perturbations_per_eval=1, **extra)
                none = fwd(torch.zeros_like(x), idx)
            attr = attr * x  # exact zeros where absent (already zero up to rounding)
        else:
            xs = tuple(b.inputs[m].float() for m in names)
            mask = tuple(torch.full((1, *x.shape[1:]), j, dtype=torch.long, device=x.device)
                         for j, x in enumerate(xs))
            with torch.no_grad():
                got = explainer.attribute(xs, baselines=tuple(0.0 for _ in xs), target=t,
                                          additional_forward_args=(idx,), feature_mask=mask,
                                          **extra)
                none = fwd(*(torch.zeros_like(x) for x in xs), idx)
            # every element of a modality carries that modality's whole attribution
            attr = torch.stack([g.flatten(1)[:, 0] for g in got], 1)
            attr = attr * pres_dev[start: start + n_b].float()
        vals.append(attr.float().cpu())
        full = scalar_output(probs, task, output)
        fulls.append(full.gather(1, t[:, None]).squeeze(1).cpu())
        nones.append(none.gather(1, t[:, None]).squeeze(1).cpu())
        targets.append(t.cpu())
        preds.append(probs.argmax(1).cpu())
        served += list(srv)
    return ModalityAttribution(
        values=torch.cat(vals), names=names, rows=rows, ids=split.ids[rows], y=split.y[rows],
        target=torch.cat(targets), full=torch.cat(fulls), none=torch.cat(nones),
        present=pres, served=served, pred=torch.cat(preds), baseline=baseline,
        method=algo.__name__, output=output, task=task)


def slice_target(target, start: int, n: int):
    """This batch's part of a per-sample ``target`` (a name or one index passes unchanged)."""
    if isinstance(target, str):
        return target
    t = torch.as_tensor(target, dtype=torch.long)
    return t if t.dim() == 0 else t[start: start + n]


__all__ = ["BASELINES", "InputsForward", "PresenceForward", "class_prior",
           "modality_attributions", "resolve_targets"]
