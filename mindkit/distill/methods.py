"""Baselines and ablations of MIND, registered by name, all trained by one loop.

Each method is ``fn(ctx) -> (model, info)``; the model has ``forward_batch``, ``route`` and
``head_names``, so :func:`mindkit.evaluate.heads.evaluate_student` scores every method the same
way. ``ctx`` (:class:`MethodContext`) carries the dataset, the trained teachers per modality
(with their validation scores) and the shared settings.

Claims they test (MIND, TMLR 2025; our reading of its abstract):
(a) KD from unimodal teacher ensembles helps: ``mind`` vs ``no_kd``;
(b) a multi-head student beats single-head joint fusion, above all with missing modalities:
    ``mind``/``no_kd`` vs ``single_head_zero``/``single_head_learned``/``single_head_ensemble_kd``;
(c) it holds across fusion methods: ``mind`` with ``fusion`` = joint / late / attention.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from mindkit.data.base import MultimodalDataset
from mindkit.distill.cache import TeacherCache
from mindkit.distill.recipes import predict_student, train_student
from mindkit.models.student import MM, MultiHeadStudent, SingleHeadStudent
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, to_probs
from mindkit.registry import Registry
from mindkit.train.trainer import TrainConfig

METHODS: Registry = Registry("method")


@dataclass
class MethodContext:
    dataset: MultimodalDataset
    teachers: dict[str, list[UnimodalNet]]  # per modality, one per size
    teacher_scores: dict[str, list[float]]  # validation score of each teacher, same order
    config: TrainConfig = field(default_factory=TrainConfig)
    alpha: float = 0.5
    T: float = 2.0
    student_size: str = "xs"
    fusion: str = "joint"
    progress: bool = False

    def ensembles(self, sizes: list[str] | None = None) -> dict[str, TeacherEnsemble]:
        out = {}
        for m, nets in self.teachers.items():
            chosen = [n for n in nets if sizes is None or n.size in sizes]
            if not chosen:
                raise ValueError(f"no {m} teacher of sizes {sizes}; have "
                                 f"{[n.size for n in nets]}")
            out[m] = TeacherEnsemble(chosen, names=[f"{m}_{n.size}" for n in chosen])
        return out

    def best_teachers(self) -> dict[str, TeacherEnsemble]:
        out = {}
        for m, nets in self.teachers.items():
            best = max(range(len(nets)), key=lambda i: self.teacher_scores[m][i])
            out[m] = TeacherEnsemble([nets[best]], names=[f"{m}_{nets[best].size}"])
        return out

    def train(self, **kw):
        kw.setdefault("alpha", self.alpha)
        kw.setdefault("T", self.T)
        kw.setdefault("size", self.student_size)
        kw.setdefault("fusion", self.fusion)
        kw.setdefault("config", self.config)
        kw.setdefault("progress", self.progress)
        return train_student(self.dataset, kw.pop("ensembles", None), **kw)


GRID_KEYS = {"alpha": float, "T": float, "student_size": str}


def parse_method(name: str) -> tuple[str, dict]:
    """``"mind@alpha=0.8,T=4"`` -> ``("mind", {"alpha": 0.8, "T": 4.0})``: a registered method
    with overridden settings, so alpha and T grids are just more method names."""
    base, _, spec = name.partition("@")
    METHODS.get(base)  # unknown base name: error listing the valid ones
    overrides = {}
    for part in filter(None, spec.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in GRID_KEYS:
            raise ValueError(f"bad setting {part!r} in method {name!r}; use key=value with keys "
                             f"{sorted(GRID_KEYS)}, e.g. 'mind@alpha=0.8,T=4'")
        overrides[key.strip()] = GRID_KEYS[key.strip()](value.strip())
    return base, overrides


def run_method(name: str, ctx: MethodContext):
    """Train method ``name`` (optionally ``base@key=value,...``); returns ``(model, info)``."""
    base, overrides = parse_method(name)
    model, hist, info = METHODS.get(base)(replace(ctx, **overrides))
    return model, {**info, "best_epoch": hist.best_epoch, "val_score": hist.best_score,
                   "epochs_run": len(hist.records)}


def _register(name: str, doc: str):
    def deco(fn):
        fn.__doc__ = doc
        return METHODS.register(name)(fn)
    return deco


@_register("mind", "MIND: multi-head student, KD on every head from the teacher ensembles.")
def _mind(ctx):
    return ctx.train(ensembles=ctx.ensembles(), desc="mind")


@_register("no_kd", "The same multi-head student trained on labels only (alpha = 0).")
def _no_kd(ctx):
    return ctx.train(ensembles=None, alpha=0.0, desc="no_kd")


@_register("mind_informed", "MIND with head weights proportional to the teachers' val scores.")
def _mind_informed(ctx):
    return ctx.train(ensembles=ctx.ensembles(), head_weights="proportional", desc="informed")


@_register("mind_no_unimodal_kd", "MIND with KD on the multimodal head only.")
def _mind_no_uni(ctx):
    alpha = {MM: ctx.alpha, **{m: 0.0 for m in ctx.dataset.modality_names}}
    return ctx.train(ensembles=ctx.ensembles(), alpha=alpha, desc="no_uni_kd")


@_register("single_teacher_kd", "Classic KD from the best single teacher per modality "
           "(also the 'one teacher instead of an ensemble' ablation).")
def _single_teacher(ctx):
    return ctx.train(ensembles=ctx.best_teachers(), desc="single_teacher")


def _one_size(size):
    def fn(ctx):
        return ctx.train(ensembles=ctx.ensembles([size]), desc=f"size_{size}")
    return fn


for _s in ("xs", "s", "m"):
    _register(f"mind_size_{_s}", f"MIND with ensembles of {_s} teachers only.")(_one_size(_s))


@_register("mind_paired_only", "MIND trained without the unpaired (single-modality) samples.")
def _paired_only(ctx):
    train = ctx.dataset["train"]
    paired = train.subset(train.groups()["paired"])
    return ctx.train(ensembles=ctx.ensembles(), train_split=paired, desc="paired_only")


def _single_head(ctx, missing: str, kd: bool, desc: str):
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = SingleHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                                missing=missing)
    targets = None
    if kd:
        # each sample's target: the mean of the ensembles of the modalities it has
        soft = TeacherCache.build(ctx.ensembles(), ds["train"], ds.task).soft_targets(ctx.T)
        per_mod = torch.stack([soft[m] for m in ds.modality_names])  # NaN where absent
        targets = {MM: per_mod.nanmean(0)}
    return ctx.train(student=student, targets=targets, alpha=ctx.alpha if kd else 0.0,
                     desc=desc)


@_register("single_head_zero", "Single-head joint fusion, absent modality zero-filled "
           "(with presence flags).")
def _sh_zero(ctx):
    return _single_head(ctx, "zero", False, "single_zero")


@_register("single_head_learned", "Single-head joint fusion with a learned missing token.")
def _sh_learned(ctx):
    return _single_head(ctx, "learned", False, "single_learned")


@_register("single_head_ensemble_kd", "Single-head student distilled from the mean of the "
           "present modalities' teacher ensembles.")
def _sh_kd(ctx):
    return _single_head(ctx, "zero", True, "single_ens_kd")


@_register("mm_teacher_kd", "A large multi-head multimodal teacher (size m, no KD) distilled "
           "head by head into the small student.")
def _mm_teacher(ctx):
    ds = ctx.dataset
    big, _, _ = ctx.train(ensembles=None, alpha=0.0, size="m", desc="mm_teacher")
    out = predict_student(big, ds["train"])
    targets = {h: to_probs(v, ds.task, ctx.T) for h, v in out.logits.items()}
    return ctx.train(targets=targets, desc="mm_teacher_kd")


def fusion_variant(fusion: str):
    """MIND with another fusion module (claim c)."""
    def fn(ctx):
        return replace(ctx, fusion=fusion).train(ensembles=ctx.ensembles(),
                                                 desc=f"mind_{fusion}")
    return fn


def no_kd_fusion_variant(fusion: str):
    def fn(ctx):
        return replace(ctx, fusion=fusion).train(ensembles=None, alpha=0.0,
                                                 desc=f"no_kd_{fusion}")
    return fn


__all__ = ["METHODS", "MethodContext", "MultiHeadStudent", "run_method", "fusion_variant",
           "no_kd_fusion_variant"]


for _f in ("late", "attention"):
    _register(f"mind_{_f}", f"MIND with {_f} fusion for the multimodal head.")(
        fusion_variant(_f))
    _register(f"no_kd_{_f}", f"The no-KD multi-head student with {_f} fusion.")(
        no_kd_fusion_variant(_f))


def _early(ctx, kd: bool):
    """Early fusion: the student's encoders are copied from the teachers of the student's own
    preset and frozen; only the heads and the fusion layer train."""
    from mindkit.fusion.modules import freeze_encoders

    ds = ctx.dataset
    same = {}
    for m, nets in ctx.teachers.items():
        match = [n for n in nets if n.size == ctx.student_size]
        if not match:
            raise ValueError(f"early fusion needs a {m} teacher of the student's size "
                             f"{ctx.student_size!r}; teachers have {[n.size for n in nets]}")
        same[m] = match[0]
    torch.manual_seed(ctx.config.seed)
    student = MultiHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size, fusion="early")
    freeze_encoders(student, same)
    if kd:
        return ctx.train(ensembles=ctx.ensembles(), student=student, desc="mind_early")
    return ctx.train(ensembles=None, alpha=0.0, student=student, desc="no_kd_early")


_register("mind_early", "MIND with early fusion (frozen pre-trained encoders).")(
    lambda ctx: _early(ctx, True))
_register("no_kd_early", "The no-KD student with early fusion (frozen pre-trained encoders).")(
    lambda ctx: _early(ctx, False))


class HintStudent(torch.nn.Module):
    """A student plus one learned projection per modality (student features -> teacher
    features) for feature (hint) KD. Prediction, routing and heads are the student's."""

    def __init__(self, student: MultiHeadStudent, teacher_dims: dict[str, int]) -> None:
        super().__init__()
        self.student = student
        self.proj = torch.nn.ModuleDict({m: torch.nn.Linear(student.encoders[m].out_dim, d)
                                         for m, d in teacher_dims.items()})

    @property
    def head_names(self):
        return self.student.head_names

    def forward_batch(self, batch):
        return self.student.forward_batch(batch)

    def route(self, out, task, rule="mm_else_mean"):
        return self.student.route(out, task, rule)


@torch.no_grad()
def teacher_features(nets: dict[str, UnimodalNet], split, batch_size: int = 512
                     ) -> dict[str, torch.Tensor]:
    """Each teacher's encoder features on its modality's rows of ``split`` (NaN elsewhere)."""
    out = {}
    for m, net in nets.items():
        net.eval()
        idx = split.present[m].nonzero().flatten()
        full = torch.full((len(split), net.encoder.out_dim), float("nan"))
        for start in range(0, idx.numel(), batch_size):
            i = idx[start: start + batch_size]
            lens = split.lengths[m][i] if m in split.lengths else None
            full[i] = net.encoder(split.inputs[m][i], lens)
        out[m] = full
    return out


@_register("feature_kd", "Feature (hint) KD: each modality's student features, through a learned "
           "projection, match the best teacher's encoder features (MSE), plus the task loss.")
def _feature_kd(ctx, hint_weight: float = 1.0):
    ds = ctx.dataset
    best = {m: e.members[0] for m, e in ctx.best_teachers().items()}
    feats = teacher_features(best, ds["train"])
    torch.manual_seed(ctx.config.seed)
    model = HintStudent(MultiHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                                         fusion=ctx.fusion),
                        {m: n.encoder.out_dim for m, n in best.items()})

    def hint(model, batch, out):
        terms = {}
        for m, proj in model.proj.items():
            rows = batch.present[m]
            if rows.any():
                pred = proj(out.features[m][rows])
                target = feats[m][batch.idx][rows]
                terms[f"hint/{m}"] = hint_weight * torch.nn.functional.mse_loss(pred, target)
        return terms

    return ctx.train(ensembles=None, alpha=0.0, student=model, extra_loss=hint,
                     desc="feature_kd")
