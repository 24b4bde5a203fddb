"""The MIND multi-head student: one head per modality plus one multimodal head.

Each modality's encoder runs only on the samples that have that modality; the multimodal head
runs only on samples that have every modality (joint fusion). A sample lacking a modality is
served by the heads of the modalities it has, with no imputation: no gradient from it reaches
the absent modality's encoder or the multimodal head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mindkit.data.base import Batch, ModalitySpec
from mindkit.encoders import build_encoder
from mindkit.fusion import FUSIONS, build_fusion
from mindkit.fusion.modules import FrozenEncoder
from mindkit.models.types import register_model_type
from mindkit.models.unimodal import spec_from_dict, spec_to_dict, to_probs

MM = "mm"  # name of the multimodal head


@dataclass
class StudentOutput:
    """Per-head logits ``[B, C]`` and masks ``bool[B]`` of the rows each head served.

    Rows a head did not serve hold zeros in ``logits`` and must be ignored (``mask`` False).
    """

    logits: dict[str, Tensor]
    mask: dict[str, Tensor]
    features: dict[str, Tensor] | None = None
    """Per modality, the encoder features ``[B, D_m]`` (zeros where absent), for hint KD."""


def _fusion_and_head(fusion: str, dims: dict[str, int], num_outputs: int, hidden: int,
                     dropout: float, kw: dict) -> tuple[nn.Module, nn.Module]:
    """The fusion module and the head on top of it; a fusion that already produces logits
    (late fusion) gets an identity head."""
    if getattr(FUSIONS.get(fusion), "produces_logits", False):
        kw.setdefault("num_outputs", num_outputs)
    module = build_fusion(fusion, dims, hidden=hidden, dropout=dropout, **kw)
    if getattr(module, "produces_logits", False):
        return module, nn.Identity()
    return module, nn.Linear(module.out_dim, num_outputs)


def check_inputs(model: nn.Module, inputs: dict[str, Tensor], present: dict[str, Tensor]
                  ) -> None:
    """Every modality of ``model`` is given, with the per-sample shape it was built for."""
    missing = [m for m in model.names if m not in inputs or m not in present]
    if missing:
        raise KeyError(f"student expects modalities {model.names}; inputs or present lack "
                       f"{missing}")
    for m in model.names:
        model.specs[m].check_input(inputs[m], type(model).__name__)


def build_encoders(specs: dict[str, ModalitySpec], size: str, archs: dict[str, str] | None
                   ) -> tuple[list[str], dict[str, ModalitySpec], nn.ModuleDict]:
    """A student's modality names (sorted), its specs in that order and one encoder per
    modality at preset ``size`` (``archs`` overrides the architecture of some modalities)."""
    archs = dict(archs or {})
    unknown = set(archs) - set(specs)
    if unknown:
        raise ValueError(f"archs given for unknown modalities {sorted(unknown)}")
    names = sorted(specs)
    encoders = nn.ModuleDict({m: build_encoder(specs[m], size, archs.get(m)) for m in names})
    return names, {m: specs[m] for m in names}, encoders


def modality_parameters(model: nn.Module, m: str) -> list[nn.Parameter]:
    """Modality ``m``'s own parameters in a student: its encoder and, for a fusion with
    per-modality parts (the pooled bottleneck's streams), those parts. Gradient modulation
    scales these."""
    if m not in model.encoders:
        raise KeyError(f"no modality {m!r}; the model has {sorted(model.encoders.keys())}")
    params = list(model.encoders[m].parameters())
    fusion = getattr(model, "fusion", None)
    if hasattr(fusion, "modality_parameters"):
        params += fusion.modality_parameters(m)
    return [p for p in params if p.requires_grad]


class MultiHeadStudent(nn.Module):
    ROUTES = ("mm_else_mean", "mean_present")

    def __init__(self, specs: dict[str, ModalitySpec], num_outputs: int, size: str = "xs",
                 archs: dict[str, str] | None = None, fusion: str = "joint",
                 fusion_hidden: int = 64, dropout: float = 0.1, multimodal_head: bool = True,
                 fusion_kwargs: dict | None = None) -> None:
        super().__init__()
        if len(specs) < 2 and multimodal_head:
            raise ValueError("a multimodal head needs at least two modalities")
        archs = dict(archs or {})
        self.names, self.specs, self.encoders = build_encoders(specs, size, archs)
        self.num_outputs = num_outputs
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict(
            {m: nn.Linear(self.encoders[m].out_dim, num_outputs) for m in self.names})
        self.multimodal_head = multimodal_head
        if multimodal_head:
            dims = {m: self.encoders[m].out_dim for m in self.names}
            self.fusion, self.mm_head = _fusion_and_head(fusion, dims, num_outputs, fusion_hidden,
                                                         dropout, dict(fusion_kwargs or {}))
        self._token_fusion = multimodal_head and getattr(self.fusion, "takes_tokens", False)
        self.config = {
            "type": "MultiHeadStudent", "specs": {m: spec_to_dict(s) for m, s in specs.items()},
            "num_outputs": num_outputs, "size": size, "archs": archs, "fusion": fusion,
            "fusion_hidden": fusion_hidden, "dropout": dropout,
            "multimodal_head": multimodal_head, "fusion_kwargs": fusion_kwargs or {},
        }

    @property
    def head_names(self) -> list[str]:
        return self.names + ([MM] if self.multimodal_head else [])

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                lengths: dict[str, Tensor] | None = None) -> StudentOutput:
        lengths = lengths or {}
        check_inputs(self, inputs, present)
        b = next(iter(present.values())).shape[0]
        # a float reference for new tensors (the first input may hold token ids)
        dtype = self.heads[self.names[0]].weight.dtype
        ref = next(iter(inputs.values())).new_zeros((), dtype=dtype)
        logits, masks, feats, toks = {}, {}, {}, {}
        for m in self.names:
            p = present[m].to(torch.bool)
            idx = p.nonzero().flatten()
            x = inputs[m].index_select(0, idx)
            lens = lengths[m].index_select(0, idx) if m in lengths else None
            if not idx.numel():
                f = ref.new_zeros(0, self.encoders[m].out_dim)
            elif self._token_fusion:
                toks[m] = self.encoders[m].tokens(x, lens)
                f = self.encoders[m].pool(*toks[m])
            else:
                f = self.encoders[m](x, lens)
            feats[m] = (idx, f)
            out = ref.new_zeros(b, self.num_outputs)
            logits[m] = out.index_copy(0, idx, self.heads[m](self.drop(f)))
            masks[m] = p
        if self.multimodal_head:
            full = torch.stack([present[m].to(torch.bool) for m in self.names]).all(0)
            rows = full.nonzero().flatten()
            out = ref.new_zeros(b, self.num_outputs)
            if rows.numel():
                sub = {}
                for m in self.names:
                    # position of each complete row inside modality m's encoded subset
                    pos = torch.cumsum(present[m].long(), 0) - 1
                    sub[m] = (tuple(t.index_select(0, pos[rows]) for t in toks[m])
                              if self._token_fusion else feats[m][1].index_select(0, pos[rows]))
                ones = {m: torch.ones(rows.numel(), dtype=torch.bool, device=rows.device)
                        for m in self.names}
                out = out.index_copy(0, rows, self.mm_head(self.fusion(sub, ones)))
            logits[MM] = out
            masks[MM] = full
        features = {m: ref.new_zeros(b, f.shape[1], dtype=f.dtype).index_copy(0, idx, f)
                    for m, (idx, f) in feats.items()}
        return StudentOutput(logits, masks, features)

    def forward_batch(self, batch: Batch) -> StudentOutput:
        return self(batch.inputs, batch.present, batch.lengths)

    def route(self, out: StudentOutput, task: str, rule: str = "mm_else_mean"
              ) -> tuple[Tensor, list[str]]:
        """One prediction per sample, as probabilities ``[B, C]``, and the head that served it.

        ``mm_else_mean`` (default): the multimodal head when every modality is present,
        otherwise the mean of the probabilities of the present modalities' heads (with two
        modalities, simply the head of the one present). ``mean_present``: always that mean.
        """
        if rule not in self.ROUTES:
            raise ValueError(f"unknown routing rule {rule!r}; use one of {self.ROUTES}")
        probs = {h: to_probs(v, task) for h, v in out.logits.items()}
        pres = torch.stack([out.mask[m] for m in self.names], 1).to(probs[self.names[0]].dtype)
        if (pres.sum(1) == 0).any():
            raise ValueError("a sample has no modality present; the student cannot predict it")
        uni = torch.stack([probs[m] for m in self.names], 1)  # [B, M, C]
        mean = (uni * pres.unsqueeze(-1)).sum(1) / pres.sum(1, keepdim=True)
        served = ["+".join(m for m, on in zip(self.names, row) if on)
                  for row in pres.bool().tolist()]
        if rule == "mm_else_mean" and self.multimodal_head:
            full = out.mask[MM]
            mean = torch.where(full.unsqueeze(-1), probs[MM], mean)
            served = [MM if f else s for f, s in zip(full.tolist(), served)]
        return mean, served


class SingleHeadStudent(nn.Module):
    """The classic single-head joint-fusion baseline: one prediction from fused features.

    An absent modality's features are handled by the fusion module's ``missing`` rule:
    ``"zero"`` (zeros plus presence flags, so the model can tell) or ``"learned"`` (a learned
    per-modality token plus presence flags). Encoders still run only on present rows, so an
    absent modality's content is never read. Its only head is named ``mm`` and serves every
    sample that has at least one modality.
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_outputs: int, size: str = "xs",
                 archs: dict[str, str] | None = None, fusion: str = "joint",
                 fusion_hidden: int = 64, dropout: float = 0.1, missing: str = "zero",
                 fusion_kwargs: dict | None = None) -> None:
        super().__init__()
        archs = dict(archs or {})
        self.names, self.specs, self.encoders = build_encoders(specs, size, archs)
        self.num_outputs = num_outputs
        self.multimodal_head = True
        dims = {m: self.encoders[m].out_dim for m in self.names}
        kw = {} if "mask" in getattr(FUSIONS.get(fusion), "missing_modes", ()) else {
            "missing": missing}
        kw.update(fusion_kwargs or {})
        self.fusion, self.mm_head = _fusion_and_head(fusion, dims, num_outputs, fusion_hidden,
                                                     dropout, kw)
        self._token_fusion = getattr(self.fusion, "takes_tokens", False)
        self.config = {
            "type": "SingleHeadStudent", "specs": {m: spec_to_dict(s) for m, s in specs.items()},
            "num_outputs": num_outputs, "size": size, "archs": archs, "fusion": fusion,
            "fusion_hidden": fusion_hidden, "dropout": dropout, "missing": missing,
        }
        if fusion_kwargs:
            self.config["fusion_kwargs"] = dict(fusion_kwargs)

    @property
    def head_names(self) -> list[str]:
        return [MM]

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                lengths: dict[str, Tensor] | None = None) -> StudentOutput:
        lengths = lengths or {}
        check_inputs(self, inputs, present)
        b = next(iter(present.values())).shape[0]
        feats, pres, toks = {}, {}, {}
        for m in self.names:
            p = present[m].to(torch.bool)
            idx = p.nonzero().flatten()
            full = inputs[m].new_zeros(b, self.encoders[m].out_dim, dtype=torch.float32)
            lens = lengths[m].index_select(0, idx) if m in lengths and idx.numel() else None
            x = inputs[m].index_select(0, idx)
            if self._token_fusion:
                # absent rows: zero tokens, all masked out (the fusion never reads them); a
                # modality no row has gives no tokens at all
                if idx.numel():
                    h, mk = self.encoders[m].tokens(x, lens)
                    th = full.new_zeros(b, *h.shape[1:]).index_copy(0, idx, h)
                    tm = torch.zeros(b, mk.shape[1], dtype=torch.bool,
                                     device=mk.device).index_copy(0, idx, mk)
                    toks[m] = (th, tm)
                    full = full.index_copy(0, idx, self.encoders[m].pool(h, mk))
            elif idx.numel():
                full = full.index_copy(0, idx, self.encoders[m](x, lens))
            feats[m], pres[m] = full, p
        any_present = torch.stack(list(pres.values())).any(0)
        fused = self.fusion(toks if self._token_fusion else feats, pres)
        return StudentOutput({MM: self.mm_head(fused)}, {MM: any_present}, feats)

    def forward_batch(self, batch: Batch) -> StudentOutput:
        return self(batch.inputs, batch.present, batch.lengths)

    def route(self, out: StudentOutput, task: str, rule: str = "mm_else_mean"
              ) -> tuple[Tensor, list[str]]:
        """The single head serves every sample (``rule`` is accepted for a common interface)."""
        if not bool(out.mask[MM].all()):
            raise ValueError("a sample has no modality present; the student cannot predict it")
        return to_probs(out.logits[MM], task), [MM] * out.logits[MM].shape[0]


def rebuild_student(cls):
    """The rebuild function of a student class: specs from their saved form, and the encoders
    that early fusion froze (pre-trained teachers' encoders) frozen again."""
    def rebuild(kw: dict) -> nn.Module:
        kw = {**kw, "specs": {m: spec_from_dict(s) for m, s in kw["specs"].items()}}
        frozen = kw.pop("frozen_encoders", [])
        model = cls(**kw)
        for m in frozen:
            model.encoders[m] = FrozenEncoder(model.encoders[m])
        if frozen:
            model.config["frozen_encoders"] = list(frozen)
        return model
    return rebuild


register_model_type("MultiHeadStudent")(rebuild_student(MultiHeadStudent))
register_model_type("SingleHeadStudent")(rebuild_student(SingleHeadStudent))
