"""Where inside a modality the evidence lies: Captum integrated gradients per input value.

:func:`input_attributions` explains one modality of one model on the samples that have it:
a student's head (its own unimodal head by default, or the multimodal head ``"mm"`` on paired
samples with the other modalities held fixed) or a teacher ensemble (the weighted mean of its
members' probabilities, exactly what it distils). Images get a map over pixels
(``[C, H, W]``), time series one over time x feature (``[T, F]``; padded steps are zero in the
input and the baseline, so they get exactly 0), token modalities one over tokens
(Captum's :class:`~captum.attr.LayerIntegratedGradients` on the embedding layer, summed over
the embedding dimensions; baseline: the padding token, whose embedding is zero). The baseline
of images and series is all zeros (``baseline`` may be a float). Captum's convergence delta (the
completeness gap) is reported per sample; it shrinks with ``n_steps``.

The explained scalar is the probability of ``target`` (``output="prob"``, the scale on which
the teachers' ensemble is defined) or its logit. ``target`` is ``"true"`` (default; so a student
and a teacher explain the same thing), ``"pred"`` (the explained model's own predicted class or
most probable label), an int or one index per sample.

**Devices.** As for the modality attributions (:mod:`mindkit.explain.modality`): the model runs
where it is or on ``device=`` (moved there in place), the explained rows are moved to its device
once, Captum's inputs, baselines and targets are made there, and every tensor of the returned
:class:`InputAttribution` is on the CPU.
"""

from __future__ import annotations

from typing import Sequence

import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import Tensor, nn

from mindkit.data.base import Split, validate_for_model
from mindkit.device import module_device, move_model, place_split
from mindkit.explain.modality import (
    OUTPUTS,
    resolve_targets,
    scalar_output,
    select_rows,
    slice_target,
)
from mindkit.explain.results import InputAttribution
from mindkit.models.student import MM
from mindkit.models.unimodal import TeacherEnsemble, to_probs

TEACHERS = "teachers"


class HeadForward(nn.Module):
    """``forward(x, idx) -> [B, C]``: one head of a student, modality ``modality``'s input given
    as ``x`` for split rows ``idx`` (a unimodal head sees only that modality; ``"mm"`` also reads
    the other modalities of the same rows, held fixed)."""

    def __init__(self, student: nn.Module, split: Split, modality: str, head: str, task: str,
                 output: str) -> None:
        super().__init__()
        self.student, self.split, self.modality, self.head = student, split, modality, head
        self.task, self.output = task, output

    def forward(self, x: Tensor, idx: Tensor) -> Tensor:
        b = self.split.batch(idx).to(module_device(self.student))
        inputs = dict(b.inputs, **{self.modality: x.to(b.y.device)})
        present = b.present if self.head == MM else {  # a unimodal head reads its modality only
            m: torch.full_like(p, m == self.modality) for m, p in b.present.items()}
        out = self.student(inputs, present, b.lengths)
        return scalar_output(to_probs(out.logits[self.head], self.task), self.task, self.output)


class EnsembleForward(nn.Module):
    """``forward(x, idx) -> [B, C]``: a teacher ensemble's weighted mean of member
    probabilities on ``x`` (gradients flow to the input; the members stay frozen)."""

    def __init__(self, ensemble: TeacherEnsemble, split: Split, task: str, output: str,
                 members: Sequence[int] | None = None) -> None:
        super().__init__()
        self.ensemble, self.split, self.task, self.output = ensemble, split, task, output
        self.members = list(range(len(ensemble.members))) if members is None else list(members)

    def forward(self, x: Tensor, idx: Tensor) -> Tensor:
        m = self.ensemble.modality
        dev = module_device(self.ensemble)
        x = x.to(dev)
        lens = self.split.lengths[m][idx.to(self.split.device)].to(dev) \
            if m in self.split.lengths else None
        w = self.ensemble.weights[self.members]
        probs = torch.stack([to_probs(self.ensemble.members[k](x, lens), self.task)
                             for k in self.members])
        mean = torch.einsum("m,mbc->bc", (w / w.sum()).to(probs.dtype), probs)
        return scalar_output(mean, self.task, self.output)


def _default_head(model: nn.Module, modality: str) -> str:
    heads = getattr(model, "head_names", [])
    if modality in heads:
        return modality
    if MM in heads:
        return MM
    raise ValueError(f"{type(model).__name__} has no head for {modality!r}; heads: {heads}")


def input_attributions(model: nn.Module, split: Split, modality: str, task: str, *,
                       head: str | None = None, target="true", output: str = "prob",
                       n_steps: int = 32, baseline: float = 0.0,
                       rows: Sequence[int] | Tensor | None = None,
                       max_samples: int | None = None, sample_seed: int = 0,
                       batch_size: int = 64, device=None) -> InputAttribution:
    """Integrated gradients of one output over ``modality``'s input (module docstring).

    ``model`` is a multi-head student (``head``: its unimodal head ``modality`` by default, or
    ``"mm"``) or a :class:`TeacherEnsemble` of ``modality``. Only rows that have ``modality``
    (and, for ``"mm"``, every modality) are explained; ``rows``/``max_samples`` pick among
    them. ``batch_size`` samples are integrated at a time (``batch_size * n_steps`` forward
    rows). ``device``: where the model runs (module docstring; ``None``: where it is).
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; use one of {OUTPUTS}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}")
    if modality not in split.inputs:
        raise KeyError(f"split {split.name!r} has no modality {modality!r}; it has "
                       f"{split.modalities}")
    is_ens = isinstance(model, TeacherEnsemble)
    if is_ens:
        if model.modality != modality:
            raise ValueError(f"this ensemble is over {model.modality!r}, not {modality!r}")
        head = TEACHERS
        spec = model.members[0].spec
    else:
        head = head or _default_head(model, modality)
        if head not in model.head_names:
            raise ValueError(f"unknown head {head!r}; the model's heads are {model.head_names}")
        spec = model.specs[modality]
    dev = move_model(model, device)
    split = split.to("cpu")
    validate_for_model(split, model, task, "input_attributions")
    # the modalities the explained head reads: its own, or every one for the mm head
    needed = [modality] + ([m for m in split.modalities if m != modality] if head == MM
                           else [])
    eligible = torch.stack([split.present[m] for m in needed], 1).all(1)
    why = (f"; the mm head needs every modality {sorted(needed)}" if head == MM else "")
    if rows is not None:
        r = torch.as_tensor(rows, dtype=torch.long)
        bad = r[~eligible[r]]
        if bad.numel():
            lacking = {int(i): [m for m in needed if not bool(split.present[m][i])]
                       for i in bad[:5].tolist()}
            absent = sorted({m for ms in lacking.values() for m in ms})
            more = f" and {bad.numel() - 5} more" if bad.numel() > 5 else ""
            raise ValueError(
                f"rows {bad[:5].tolist()}{more} of split {split.name!r} lack {absent} (missing "
                f"per row: {lacking}){why}; pick rows that have {sorted(needed)}")
        rows = r
    else:
        rows = eligible.nonzero().flatten()
    rows = select_rows(split, rows, max_samples, sample_seed)
    if rows.numel() == 0:
        absent = [m for m in needed if not bool(split.present[m].any())]
        detail = f"no sample has {absent}" if absent else "no sample has them all together"
        raise ValueError(f"no sample of split {split.name!r} has {sorted(needed)} to explain "
                         f"({detail}){why}")
    model.eval()
    tokens = spec.kind == "tokens"
    # the explained rows, on the model's device (the whole split when it fits there)
    work = place_split(split.subset(rows), dev)[0]
    fwds = ([EnsembleForward(model, work, task, output, [k]) for k in range(len(model.members))]
            if is_ens and tokens else
            [EnsembleForward(model, work, task, output)] if is_ens else
            [HeadForward(model, work, modality, head, task, output)])
    if tokens:
        layers = ([mem.encoder.embed for mem in model.members] if is_ens
                  else [model.encoders[modality].embed])
        explainers = [LayerIntegratedGradients(f, layer) for f, layer in zip(fwds, layers)]
        weights = (model.weights / model.weights.sum()).tolist() if is_ens else [1.0]
    else:
        explainers, weights = [IntegratedGradients(fwds[0])], [1.0]
    probs_of = (EnsembleForward(model, work, task, "prob") if is_ens
                else HeadForward(model, work, modality, head, task, "prob"))
    attrs, deltas, targets, preds = [], [], [], []
    for start in range(0, rows.numel(), batch_size):
        n_b = min(batch_size, rows.numel() - start)
        idx = torch.arange(start, start + n_b, device=work.device)  # positions in `work`
        x = work.inputs[modality][idx].to(dev)
        with torch.no_grad():
            full = probs_of(x, idx)
        t = resolve_targets(slice_target(target, start, n_b), full, work.y[idx], task)
        a_sum, d_sum = None, None
        for expl, w in zip(explainers, weights):
            if tokens:
                a, d = expl.attribute(x, baselines=torch.zeros_like(x), target=t,
                                      additional_forward_args=(idx,), n_steps=n_steps,
                                      return_convergence_delta=True)
                a = a.sum(-1)  # per token: summed over the embedding dimensions
            else:
                xf = x.float()
                a, d = expl.attribute(xf, baselines=torch.full_like(xf, baseline), target=t,
                                      additional_forward_args=(idx,), n_steps=n_steps,
                                      return_convergence_delta=True)
            a_sum = a.detach() * w if a_sum is None else a_sum + a.detach() * w
            d_sum = d.detach() * w if d_sum is None else d_sum + d.detach() * w
        attrs.append(a_sum.cpu())
        deltas.append(d_sum.cpu())
        targets.append(t.cpu())
        preds.append(full.argmax(1).cpu())
    lengths = split.lengths[modality][rows] if modality in split.lengths else None
    return InputAttribution(
        modality=modality, kind=spec.kind, attributions=torch.cat(attrs).float(),
        inputs=split.inputs[modality][rows], lengths=lengths, delta=torch.cat(deltas).float(),
        rows=rows, ids=split.ids[rows], y=split.y[rows], target=torch.cat(targets),
        pred=torch.cat(preds), head=head, output=output, n_steps=n_steps)


__all__ = ["EnsembleForward", "HeadForward", "TEACHERS", "input_attributions"]
