"""Teacher outputs, computed once per split and reused every epoch.

Teachers are frozen, so their logits on a split never change during distillation. The cache
holds each ensemble's member logits for the samples that have its modality (other rows stay
NaN and are never read: the student's head masks exclude them) and turns them into soft
targets at a temperature once, so a training step only gathers rows by index.

Teacher sources (what a distillation method distils from) share one call,
``soft_targets(split, task, T) -> {head: [N, C] probabilities}``: :class:`EnsembleTargets`
(unimodal teacher ensembles) and :class:`ModelTargets` (one multimodal teacher model).

**Across trainings** (:data:`TEACHER_MEMO`): each teacher's logits on a split are kept in a small
in-process memo keyed by the teacher's weights (a hash of its class, configuration and
``state_dict``) and the split's data for its modality (a hash of the inputs, lengths and
presence), so the methods of a comparison that distil from the same teachers on the same split
(``mind``, its ablations and fusion variants, single-teacher and single-size ensembles, the
single-head KD student...) run each teacher over the split once, not once per method. Another
teacher (other weights, even in the same object after more training) or another split (another
seed, a subset such as ``mind_paired_only``'s paired samples) is another key. Cached logits live
on the teachers' device and move there on a hit.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mindkit.data.base import Split
from mindkit.models.predict import predict_student
from mindkit.models.student import MM
from mindkit.models.unimodal import TeacherEnsemble, combine_probs, to_probs


def _tensor_digest(h, t: Tensor) -> None:
    """Feed a tensor's dtype, shape and values into the hash ``h``."""
    t = t.detach()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())


def mean_target(per_modality: dict[str, Tensor], weights: dict[str, float] | None = None) -> Tensor:
    """The multimodal head's target: the (weighted) mean of the modality ensembles' probs."""
    names = sorted(per_modality)
    stack = torch.stack([per_modality[m] for m in names])
    w = torch.tensor([1.0 if weights is None else weights[m] for m in names],
                     dtype=stack.dtype, device=stack.device)
    return torch.einsum("m,mbc->bc", w / w.sum(), stack)



class TeacherMemo:
    """Teacher logits by (teacher weights, split data): see the module docstring.

    ``logits(net, split, modality, rows, batch_size, device)`` gives the net's logits
    ``[len(rows), C]`` on ``device`` for the split's rows ``rows`` (those with the modality),
    computing them only on a miss. At most ``max_entries`` results are kept (least recently used
    dropped first); ``hits`` and ``misses`` count lookups; :meth:`clear` empties it.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._store: OrderedDict[tuple[str, str], Tensor] = OrderedDict()
        self._data_keys: dict[int, tuple] = {}  # id(tensor) -> (tensor, version, digest)
        self.hits = self.misses = 0
        self.enabled = True

    def clear(self) -> None:
        self._store.clear()
        self._data_keys.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def net_key(net: nn.Module) -> str:
        """A hash of the net's class, configuration and every ``state_dict`` entry (weights and
        buffers such as batch-norm statistics): equal for equal functions, different after any
        training step."""
        h = hashlib.blake2b(digest_size=16)
        h.update(type(net).__qualname__.encode())
        h.update(repr(sorted(getattr(net, "config", {}).items())).encode())
        for name, t in net.state_dict().items():
            h.update(name.encode())
            _tensor_digest(h, t)
        return h.hexdigest()

    def _digest(self, t: Tensor) -> str:
        # a split's tensors are hashed once while they live unchanged (same object, version)
        got = self._data_keys.get(id(t))
        if got is not None and got[0]() is t and got[1] == t._version:
            return got[2]
        h = hashlib.blake2b(digest_size=16)
        _tensor_digest(h, t)
        digest = h.hexdigest()
        self._data_keys = {k: v for k, v in self._data_keys.items() if v[0]() is not None}
        self._data_keys[id(t)] = (weakref.ref(t), t._version, digest)
        return digest

    def data_key(self, split: Split, modality: str) -> str:
        """A hash of the split's data for one modality: inputs, lengths and presence."""
        parts = [split.inputs[modality], split.present[modality]]
        if modality in split.lengths:
            parts.append(split.lengths[modality])
        return modality + ":" + ":".join(self._digest(t) for t in parts)

    def logits(self, net: nn.Module, split: Split, modality: str, rows: Tensor,
               batch_size: int, device: torch.device) -> Tensor:
        if not self.enabled:
            return member_logits(net, split, modality, rows, batch_size, device)
        key = (self.net_key(net), self.data_key(split, modality))
        if key in self._store:
            self.hits += 1
            self._store.move_to_end(key)
            return self._store[key].to(device)
        self.misses += 1
        out = member_logits(net, split, modality, rows, batch_size, device)
        self._store[key] = out
        while len(self._store) > self.max_entries:
            self._store.popitem(last=False)
        return out


@torch.no_grad()
def member_logits(net: nn.Module, split: Split, modality: str, rows: Tensor, batch_size: int,
                  device: torch.device) -> Tensor:
    """One teacher's logits ``[len(rows), C]`` on the split's ``rows``, in eval mode, in batches
    of ``batch_size`` moved to ``device`` (where the teacher is)."""
    was = net.training
    net.eval()
    try:
        parts = []
        for start in range(0, rows.numel(), batch_size):
            i = rows[start : start + batch_size]
            x = split.inputs[modality][i].to(device)
            lens = split.lengths[modality][i].to(device) if modality in split.lengths else None
            parts.append(net(x, lens))
    finally:
        net.train(was)
    return torch.cat(parts) if parts else torch.zeros(0, net.num_outputs, device=device)


TEACHER_MEMO = TeacherMemo()
"""The process's teacher-output memo (module docstring); ``TEACHER_MEMO.clear()`` empties it and
``TEACHER_MEMO.enabled = False`` turns it off."""


def _device_of(module: nn.Module, fallback: torch.device) -> torch.device:
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return fallback


@dataclass
class TeacherCache:
    task: str
    member_logits: dict[str, Tensor]  # modality -> [M, N, C], NaN where the modality is absent
    present: dict[str, Tensor]  # modality -> bool[N]
    weights: dict[str, Tensor]  # modality -> [M]

    @classmethod
    @torch.no_grad()
    def build(cls, ensembles: dict[str, TeacherEnsemble], split: Split, task: str,
              batch_size: int = 512, memo: TeacherMemo | None = TEACHER_MEMO
              ) -> "TeacherCache":
        """Every member's logits on the split's rows that have its modality, on the members'
        device (rows without the modality stay NaN); reused from ``memo`` (default: the
        process's :data:`TEACHER_MEMO`) when the same teacher has already run on the same data,
        ``memo=None`` to always compute."""
        logits, present, weights = {}, {}, {}
        for m, ens in sorted(ensembles.items()):
            if m not in split.inputs:
                raise KeyError(f"no modality {m!r} in split {split.name!r} for its teachers")
            ens.eval()
            dev = _device_of(ens, split.inputs[m].device)
            p = split.present[m]
            idx = p.nonzero().flatten()
            got = torch.stack([
                memo.logits(net, split, m, idx, batch_size, dev) if memo is not None
                else member_logits(net, split, m, idx, batch_size, dev)
                for net in ens.members])  # [M, n_present, C]
            full = torch.full((len(ens.members), len(split), got.shape[-1]), float("nan"),
                              dtype=got.dtype, device=dev)
            full[:, idx.to(dev)] = got
            logits[m], present[m], weights[m] = full, p.clone(), ens.weights.clone()
        return cls(task, logits, present, weights)

    def soft_targets(self, T: float, mm_weights: dict[str, float] | None = None
                     ) -> dict[str, Tensor]:
        """Per head, the teacher probabilities ``[N, C]`` at temperature ``T``.

        The multimodal head's target is the mean of the modality ensembles' probabilities
        (``mm_weights`` weight it); it is defined where every modality is present.
        """
        out = {m: combine_probs(lg, self.task, T, self.weights[m])
               for m, lg in self.member_logits.items()}
        out[MM] = mean_target(out, mm_weights)
        return out


class EnsembleTargets:
    """A teacher source: frozen unimodal teacher ensembles, one per modality.

    ``combine="per_head"`` (MIND): each modality's head distils from its modality's ensemble and
    the multimodal head from the (``mm_weights``-weighted) mean of all ensembles.
    ``combine="present_mean"`` (a single-head student): one target per sample, named ``mm``,
    the mean of the ensembles of the modalities that sample has.
    Outputs are computed once per split (:class:`TeacherCache`).
    """

    COMBINE = ("per_head", "present_mean")

    def __init__(self, ensembles: dict[str, TeacherEnsemble], combine: str = "per_head",
                 mm_weights: dict[str, float] | None = None) -> None:
        if combine not in self.COMBINE:
            raise ValueError(f"unknown combine {combine!r}; use one of {self.COMBINE}")
        if not ensembles:
            raise ValueError("EnsembleTargets needs at least one teacher ensemble")
        self.ensembles, self.combine, self.mm_weights = dict(ensembles), combine, mm_weights

    def modules(self) -> list[TeacherEnsemble]:
        return list(self.ensembles.values())

    def soft_targets(self, split: Split, task: str, T: float) -> dict[str, Tensor]:
        soft = TeacherCache.build(self.ensembles, split, task).soft_targets(T, self.mm_weights)
        if self.combine == "per_head":
            return soft
        per_mod = torch.stack([soft[m] for m in sorted(self.ensembles)])  # NaN where absent
        return {MM: per_mod.nanmean(0)}


class ModelTargets:
    """A teacher source: a trained (multimodal, multi-head) model, distilled head by head; each
    head's target is the teacher's same head at temperature ``T``."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()

    def modules(self) -> list[torch.nn.Module]:
        return [self.model]

    @torch.no_grad()
    def soft_targets(self, split: Split, task: str, T: float) -> dict[str, Tensor]:
        out = predict_student(self.model, split)
        return {h: to_probs(v, task, T) for h, v in out.logits.items()}
