"""MIND, its baselines and ablations, registered by name; each builds one method object.

A registered builder is ``build(ctx) -> Method`` (:class:`mindkit.train.method.Method`): it
owns its student, its frozen teachers and its loss. :func:`run_method` builds it and fits it
with the one training loop (:func:`mindkit.distill.recipes.fit_method`), so every method is
trained, checkpointed and scored the same way. ``ctx`` (:class:`MethodContext`) carries the
dataset, the trained teachers per modality (with their validation scores) and the shared
settings; ``"name@key=value,..."`` overrides settings, so alpha/T grids are method names.

With a model store (``MethodContext.store``, :class:`mindkit.train.store.ModelStore`),
:func:`run_method` trains each distinct student once: its key (:func:`method_spec`) holds the
base method name, the dataset's fingerprint, the training config, the student's architecture
and exactly the context fields its builder read, recorded while it was built (so ``no_kd``,
which never reads ``alpha`` or ``T``, is the same model in every alpha/T run, while any field a
method does read splits its key). The teachers enter by the hash of their weights. Builders
must read the context while they build (all of them do): a field read later, during training,
would escape the key. Use :meth:`MethodContext.with_` rather than ``dataclasses.replace`` inside
builders (replace reads every field, which only makes keys needlessly specific).

Claims they test (MIND, TMLR 2025; our reading of its abstract):
(a) KD from unimodal teacher ensembles helps: ``mind`` vs ``no_kd``;
(b) a multi-head student beats single-head joint fusion, above all with missing modalities:
    ``mind``/``no_kd`` vs ``single_head_zero``/``single_head_learned``/``single_head_ensemble_kd``;
(c) it holds across fusion methods: ``mind_<fusion>`` vs ``no_kd_<fusion>``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch

from mindkit.atomic import atomic_path
from mindkit.common import with_ext
from mindkit.data.base import MultimodalDataset
from mindkit.distill.cache import EnsembleTargets, ModelTargets
from mindkit.distill.hint import HintDistiller
from mindkit.distill.mckd import MCKD, MCKDStudent
from mindkit.distill.mind import MindDistiller
from mindkit.distill.recipes import fit_method, informed_head_weights
from mindkit.distill.selfkd import ModalityDropoutKD
from mindkit.fusion.modules import freeze_encoders
from mindkit.models.build import model_config
from mindkit.models.student import MM, MultiHeadStudent, SingleHeadStudent
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet
from mindkit.registry import Registry
from mindkit.train.checkpoint import load_model, weights_sha256
from mindkit.train.gradmod import GradModConfig
from mindkit.train.method import Method
from mindkit.train.store import (
    dataset_ident,
    export,
    history_from,
    history_summary,
    train_ident,
)
from mindkit.train.trainer import Callback, History, TrainConfig

METHODS: Registry[Callable[["MethodContext"], Method]] = Registry("method")
_READS: ContextVar[dict | None] = ContextVar("mindkit_context_reads", default=None)
NOT_IN_KEY = ("progress", "store")  # context fields that never change the trained weights


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
    ensemble_weighting: str = "uniform"  # members: "uniform" or "val_score"
    head_weights: str = "uniform"  # MIND's head weights: a modality_informed_weights mode
    sharpness: float = 0.1  # of the softmax head-weight modes
    # gradient modulation (mindkit.distill.gradmod), for the *_gm methods
    gm_alpha: float = 0.5  # alpha in 1 - tanh(alpha * rho)
    gm_start: int = 0  # first epoch modulated
    gm_end: int = 4  # last epoch modulated (inclusive)
    gm_noise: bool = True  # OGM-GE's generalisation noise
    gm_params: str = "all"  # "all" modality parameters or "conv" (4-D only, OGM-GE's code)
    # pooled-bottleneck fusion (mindkit.fusion.bottleneck), for the pb_* methods
    bn_tokens: int = 10  # bottleneck tokens (the authors' 10)
    bn_depth: int = 2  # layers per modality stream (the authors' 2)
    bn_heads: int = 2  # attention heads (the authors' 2)
    bn_width: int = 32  # fusion width (the authors' 512 with BERT/DenseNet encoders)
    bn_pool_len: int = 16  # at most this many tokens per modality
    bn_pooling: str = "weighted"  # "weighted" (learned) or "mean"
    bn_absent: str = "exclude"  # "exclude" (ours) or "include" (the authors' code)
    # KD for missing modalities (mindkit.distill.selfkd), for the *_kd pb/concat methods
    self_kd_T: float = 1.0  # T = 1 reproduces the authors' soft-label cross-entropy
    drop_probs: tuple = (0.5, 0.5)  # chance of dropping 1, 2, ... modalities
    feature_kd: float = 0.0  # weight of the bottleneck-token feature KD
    kd_start: int = 0  # first epoch with the KD term
    # meta-learned cross-modal KD (mindkit.distill.mckd), for the mckd method
    mckd_lambda_kd: float = 0.1  # weight of the cross-modal feature KD (the reference's 0.1)
    mckd_drop_rate: float = 0.5  # chance a sample loses a modality ((M-1)/M: the reference)
    mckd_warmup_epochs: int = 1  # full-modality epochs first (the authors' advice)
    mckd_ramp_epochs: int = 2  # then the drop rate rises linearly over these epochs
    mckd_meta_every: int = 10  # train steps between meta steps on w (0: none)
    mckd_meta_share: float = 0.1  # share of the complete training samples kept for meta steps
    mckd_meta_lr: float = 1e-2  # Adam on w (the reference's lr 1e-2, weight decay 5e-4)
    mckd_meta_scale: str = "softmax"  # "softmax" (reference) or "relative" (M softmax(w))
    mckd_width: int = 32  # shared feature width
    mckd_hidden: int = 32  # hidden layer after the concatenation
    store: object = None  # a mindkit.train.store.ModelStore: train each distinct student once

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if name in _CONTEXT_FIELDS:
            reads = _READS.get()
            if reads is not None and name not in reads:
                reads[name] = value  # recorded while a method is built: its key (method_spec)
        return value

    def with_(self, **changes) -> "MethodContext":
        """A copy with ``changes`` (``dataclasses.replace`` without recording every field as
        read while a method is built)."""
        token = _READS.set(None)
        try:
            return replace(self, **changes)
        finally:
            _READS.reset(token)

    def ensembles(self, sizes: list[str] | None = None) -> dict[str, TeacherEnsemble]:
        if self.ensemble_weighting not in ("uniform", "val_score"):
            raise ValueError(f"unknown ensemble weighting {self.ensemble_weighting!r}; use "
                             "uniform or val_score")
        out = {}
        for m, nets in self.teachers.items():
            chosen = [i for i, n in enumerate(nets) if sizes is None or n.size in sizes]
            if not chosen:
                raise ValueError(f"no {m} teacher of sizes {sizes}; have "
                                 f"{[n.size for n in nets]}")
            w = ([max(1e-6, self.teacher_scores[m][i]) for i in chosen]
                 if self.ensemble_weighting == "val_score" else None)
            out[m] = TeacherEnsemble([nets[i] for i in chosen], w,
                                     names=[f"{m}_{nets[i].size}" for i in chosen])
        return out

    def best_teachers(self) -> dict[str, TeacherEnsemble]:
        out = {}
        for m, nets in self.teachers.items():
            best = max(range(len(nets)), key=lambda i: self.teacher_scores[m][i])
            out[m] = TeacherEnsemble([nets[best]], names=[f"{m}_{nets[best].size}"])
        return out

    def student(self, fusion: str | None = None, size: str | None = None) -> MultiHeadStudent:
        ds = self.dataset
        torch.manual_seed(self.config.seed)
        return MultiHeadStudent(ds.modalities, ds.num_outputs, size or self.student_size,
                                fusion=fusion or self.fusion)

    def mind(self, teacher=None, alpha=None, student=None, head_weights=None,
             train_on: str = "all") -> MindDistiller:
        """A MIND method object with this context's settings (``teacher=None``: no KD)."""
        if head_weights is None:  # uniform weights need no teachers (nor their store keys)
            head_weights = informed_head_weights(
                self.head_weights, None if self.head_weights == "uniform" else self.ensembles(),
                self.dataset, self.sharpness)
        # without a teacher, alpha and T are unused: not read, so not part of the store key
        return MindDistiller(student if student is not None else self.student(),
                             self.dataset.task, teacher,
                             (self.alpha if alpha is None else alpha) if teacher else 0.0,
                             self.T if teacher is not None else 1.0, head_weights, train_on)


_CONTEXT_FIELDS = frozenset(f.name for f in fields(MethodContext))


# what "name@key=value" may set: every scalar setting of MethodContext, typed by its annotation
# (the dataset, teachers, training config, store and progress are not method settings)
NOT_SETTINGS = ("dataset", "teachers", "teacher_scores", "config", "progress", "store")
_SCALAR = {"float": float, "int": int, "str": str, "bool": bool}


def setting_types() -> dict[str, type]:
    """``{name: type}`` of the settings ``"name@key=value"`` may override, read from
    :class:`MethodContext`'s fields (a new field is settable with no other change)."""
    return {f.name: _SCALAR[f.type] for f in fields(MethodContext)
            if f.name not in NOT_SETTINGS and f.type in _SCALAR}


def _typed(key: str, value: str, kind: type, name: str):
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return kind(value)
    except ValueError:
        raise ValueError(f"setting {key}={value!r} in method {name!r} takes a {kind.__name__}"
                         ) from None


def parse_method(name: str) -> tuple[str, dict]:
    """``"mind@alpha=0.8,T=4"`` -> ``("mind", {"alpha": 0.8, "T": 4.0})``: a registered method
    with overridden settings, so alpha and T grids are just more method names."""
    base, _, spec = name.partition("@")
    METHODS.get(base)  # unknown base name: error listing the valid ones
    overrides, types = {}, setting_types()
    for part in filter(None, spec.split(",")):
        key, eq, value = (t.strip() for t in part.partition("="))
        if not eq or key not in types:
            raise ValueError(f"bad setting {part!r} in method {name!r}; use key=value with keys "
                             f"{sorted(types)}, e.g. 'mind@alpha=0.8,T=4'")
        overrides[key] = _typed(key, value, types[key], name)
    return base, overrides


def build_method(name: str, ctx: MethodContext) -> Method:
    """The method object for ``name`` (optionally ``base@key=value,...``)."""
    base, overrides = parse_method(name)
    method = METHODS.get(base)(ctx.with_(**overrides))
    method.name = name
    return method




def _context_value(name: str, value):
    if name == "dataset":
        return dataset_ident(value)
    if name == "config":
        return train_ident(value)
    if name == "teachers":
        return {m: [weights_sha256(n.state_dict()) for n in nets]
                for m, nets in sorted(value.items())}
    if isinstance(value, tuple):
        return list(value)
    return value


def method_spec(name: str, ctx: MethodContext) -> tuple[Method, dict]:
    """Build method ``name`` while recording the context fields it reads; returns the method
    and its store spec (module docstring). Reads of a method built inside another one (e.g.
    the multimodal teacher of ``mm_teacher_kd``) count for the outer one too."""
    outer = _READS.get()
    reads: dict = {}
    token = _READS.set(reads)
    try:
        method = build_method(name, ctx)
    finally:
        _READS.reset(token)
    if outer is not None:
        for k, v in reads.items():
            outer.setdefault(k, v)
    spec = {"kind": "method", "method": parse_method(name)[0],
            "dataset": dataset_ident(ctx.dataset), "train": train_ident(ctx.config),
            "model": model_config(method.student),
            "context": {k: _context_value(k, v) for k, v in sorted(reads.items())
                        if k not in NOT_IN_KEY + ("dataset", "config")}}
    return method, spec


def run_method(name: str, ctx: MethodContext, checkpoint: str | Path | None = None,
               callbacks: Sequence[Callback] = ()) -> tuple[torch.nn.Module, dict]:
    """Build and train method ``name``; returns ``(deployed student, info)``. ``info`` holds
    the method object, its settings, the deployed and training-only parameter counts, the
    best epoch, validation score, epochs run, whether it was still improving, and the method's
    per-step logs (:func:`step_logs`: ``gm_log``, ``mckd_log``; ``None`` where it keeps none),
    also saved beside the checkpoint (:func:`step_log_path`).

    With ``ctx.store``, the student comes from the store when it holds the same model
    (``info["source"]`` is ``"store:<key>"``; the stored history is replayed to
    ``callbacks``), and is trained into it otherwise; ``checkpoint`` then gets links to the
    stored files. ``info["store_key"]`` names the entry."""
    if ctx.store is None:
        method = build_method(name, ctx)
        hist = fit_method(method, ctx.dataset, ctx.config, checkpoint, callbacks, ctx.progress,
                          desc=name)
        logs = step_logs(method)  # kept beside the checkpoint
        if checkpoint is not None:
            _save_logs(logs, checkpoint)
        return method.student, _info(method, hist, logs, "trained")
    method, spec = method_spec(name, ctx)
    fitted: dict = {}

    def train(ckpt: Path) -> dict:
        fitted["hist"] = fit_method(method, ctx.dataset, ctx.config, ckpt, callbacks,
                                    ctx.progress, desc=name)
        _save_logs(step_logs(method), ckpt)
        return {"summary": history_summary(fitted["hist"]), "history": fitted["hist"].records}

    stored = ctx.store.get_or_train(
        spec, train, describe=f"{name} on {ctx.dataset.display_name}, seed {ctx.config.seed}",
        verify=lambda ckpt: load_model(ckpt, dataset=ctx.dataset))
    if stored.trained:
        hist, logs = fitted["hist"], step_logs(method)
    else:
        method.student.load_state_dict(stored.loaded.state_dict())
        method.eval()
        hist = history_from(stored.history, stored.summary)
        for cb in callbacks:  # the stored training, replayed: live curves draw the same figure
            for rec in hist.records:
                cb.on_epoch_end(None, rec)
            cb.on_fit_end(None, hist)
        logs = {k: (pd.read_csv(p) if (p := step_log_path(stored.checkpoint, k)).exists()
                    else None) for k in STEP_LOGS}
    if checkpoint is not None:
        export(stored, checkpoint)
    return method.student, {**_info(method, hist, logs, stored.source), "store_key": stored.key}


def _save_logs(logs: dict, checkpoint: str | Path) -> None:
    for kind, frame in logs.items():
        if frame is not None:
            with atomic_path(step_log_path(checkpoint, kind)) as tmp:
                frame.to_csv(tmp, index=False)




def _info(method: Method, hist: History, logs: dict, source: str) -> dict:
    return {
        **{f"{kind}_log": frame for kind, frame in logs.items()},
        "method": method, "settings": method.settings(),
        "params": method.deployed_parameters(), "extra_params": method.extra_parameters(),
        "best_epoch": hist.best_epoch, "val_score": hist.best_score,
        "epochs_run": len(hist.records), "still_improving": hist.still_improving,
        "cache_s": getattr(method, "cache_s", 0.0), "history": hist, "source": source}


STEP_LOGS = ("gm", "mckd")  # per-step logs a method may keep, saved beside its checkpoint


def step_logs(method: Method) -> dict:
    """A method's per-step logs by kind, ``None`` for each kind of :data:`STEP_LOGS` it does
    not keep (:meth:`mindkit.train.method.Method.step_logs`: ``gm``, gradient modulation's rho
    and coefficients; ``mckd``, MCKD's importances after each meta step)."""
    kept = method.step_logs()
    unknown = sorted(set(kept) - set(STEP_LOGS))
    if unknown:
        raise ValueError(f"{type(method).__name__} keeps step logs {unknown} that "
                         f"mindkit.distill.methods.STEP_LOGS does not list; add them there")
    return {k: kept.get(k) for k in STEP_LOGS}


def step_log_path(checkpoint: str | Path, kind: str) -> Path:
    """Where a run's per-step log of ``kind`` (:data:`STEP_LOGS`) is kept:
    ``<checkpoint>.<kind>.csv``."""
    if kind not in STEP_LOGS:
        raise ValueError(f"unknown step log {kind!r}; use one of {STEP_LOGS}")
    return with_ext(checkpoint, f".{kind}.csv")


def register(name: str, doc: str, teachers: bool = True):
    """Register builder ``build(ctx) -> Method`` as method ``name`` (``doc``: one line for
    tables); ``teachers=False`` for a method that trains without teacher networks."""
    def deco(fn):
        fn.__doc__ = doc
        fn.teachers = teachers
        return METHODS.register(name)(fn)
    return deco


@register("mind", "MIND: multi-head student, KD on every head from the teacher ensembles.")
def _mind(ctx):
    return ctx.mind(EnsembleTargets(ctx.ensembles()))


@register("no_kd", "The same multi-head student trained on labels only (alpha = 0).")
def _no_kd(ctx):
    return ctx.mind(None)  # the same head weights as MIND's: only KD differs


@register("mind_informed", "MIND with head weights from the teachers' validation scores, "
          "favouring the more informative modality (softmax over scores / sharpness).")
def _mind_informed(ctx):
    return ctx.with_(head_weights="softmax").mind(EnsembleTargets(ctx.ensembles()))


@register("mind_balanced", "MIND with head weights that lift the weaker modality "
          "(softmax over -scores / sharpness; balancing).")
def _mind_balanced(ctx):
    return ctx.with_(head_weights="softmax_inverse").mind(EnsembleTargets(ctx.ensembles()))


@register("mind_no_unimodal_kd", "MIND with KD on the multimodal head only.")
def _mind_no_uni(ctx):
    alpha = {MM: ctx.alpha, **{m: 0.0 for m in ctx.dataset.modality_names}}
    return ctx.mind(EnsembleTargets(ctx.ensembles()), alpha=alpha)


@register("single_teacher_kd", "Classic KD from the best single teacher per modality "
          "(also the 'one teacher instead of an ensemble' ablation).")
def _single_teacher(ctx):
    return ctx.mind(EnsembleTargets(ctx.best_teachers()))


def _one_size(size):
    def fn(ctx):
        return ctx.mind(EnsembleTargets(ctx.ensembles([size])))
    return fn


# the teacher-size family, one row per method (a search for a method's name finds it here)
for _name, _size in (("mind_size_xs", "xs"), ("mind_size_s", "s"), ("mind_size_m", "m")):
    register(_name, f"MIND with ensembles of {_size} teachers only.")(_one_size(_size))


@register("mind_paired_only", "MIND trained without the unpaired (single-modality) samples.")
def _paired_only(ctx):
    return ctx.mind(EnsembleTargets(ctx.ensembles()), train_on="paired")


def _single_head(ctx, missing: str, kd: bool):
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = SingleHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                                missing=missing)
    # each sample's target: the mean of the ensembles of the modalities it has
    teacher = EnsembleTargets(ctx.ensembles(), combine="present_mean") if kd else None
    return ctx.mind(teacher, student=student, head_weights={})


@register("single_head_zero", "Single-head joint fusion, absent modality zero-filled "
          "(with presence flags).")
def _sh_zero(ctx):
    return _single_head(ctx, "zero", False)


@register("single_head_learned", "Single-head joint fusion with a learned missing token.")
def _sh_learned(ctx):
    return _single_head(ctx, "learned", False)


@register("single_head_ensemble_kd", "Single-head student distilled from the mean of the "
          "present modalities' teacher ensembles.")
def _sh_kd(ctx):
    return _single_head(ctx, "zero", True)


@register("mm_teacher_kd", "A large multi-head multimodal teacher (size m, no KD) distilled "
          "head by head into the small student.")
def _mm_teacher(ctx):
    # the teacher is the no-KD student at size m with uniform head weights (a store entry of
    # its own when the context has a store)
    big, _ = run_method("no_kd@student_size=m,head_weights=uniform", ctx)
    return ctx.mind(ModelTargets(big))


def _fusion_variant(fusion: str, kd: bool):
    def fn(ctx):
        teacher = EnsembleTargets(ctx.ensembles()) if kd else None
        return ctx.mind(teacher, student=ctx.student(fusion=fusion))
    return fn


# the fusion family, one row per method: (name, fusion of the multimodal head, KD)
for _name, _fusion, _kd in (("mind_late", "late", True), ("no_kd_late", "late", False),
                            ("mind_attention", "attention", True),
                            ("no_kd_attention", "attention", False),
                            ("mind_bottleneck", "bottleneck", True),
                            ("no_kd_bottleneck", "bottleneck", False)):
    register(_name, f"MIND with {_fusion} fusion for the multimodal head." if _kd else
             f"The no-KD multi-head student with {_fusion} fusion.")(
        _fusion_variant(_fusion, _kd))


def _early(ctx, kd: bool):
    """Early fusion: the student's encoders are copied from the teachers of the student's own
    preset and frozen; only the heads and the fusion layer train."""
    same = {}
    for m, nets in ctx.teachers.items():
        match = [n for n in nets if n.size == ctx.student_size]
        if not match:
            raise ValueError(f"early fusion needs a {m} teacher of the student's size "
                             f"{ctx.student_size!r}; teachers have {[n.size for n in nets]}")
        same[m] = match[0]
    student = freeze_encoders(ctx.student(fusion="early"), same)
    if kd:
        return ctx.mind(EnsembleTargets(ctx.ensembles()), student=student)
    return ctx.mind(None, student=student)


@register("mind_early", "MIND with early fusion (frozen pre-trained encoders).")
def _mind_early(ctx):
    return _early(ctx, True)


@register("no_kd_early", "The no-KD student with early fusion (frozen pre-trained encoders).")
def _no_kd_early(ctx):
    return _early(ctx, False)


@register("feature_kd", "Feature (hint) KD: each modality's student features, through a learned "
          "projection, match the best teacher's encoder features (MSE), plus the task loss.")
def _feature_kd(ctx):
    best = {m: e.members[0] for m, e in ctx.best_teachers().items()}
    return HintDistiller(ctx.student(), ctx.dataset.task, best)


def _gradmod(ctx, mode: str = "ogm"):
    return GradModConfig(mode=mode, alpha=ctx.gm_alpha, start=ctx.gm_start, end=ctx.gm_end,
                         noise=ctx.gm_noise, params=ctx.gm_params)


@register("mind_gm", "MIND with OGM-GE gradient modulation (scores from its unimodal heads).")
def _mind_gm(ctx):
    return ctx.mind(EnsembleTargets(ctx.ensembles())).use_gradmod(_gradmod(ctx), ctx.config.seed)


@register("no_kd_gm", "The no-KD multi-head student with OGM-GE gradient modulation.")
def _no_kd_gm(ctx):
    return ctx.mind(None).use_gradmod(_gradmod(ctx), ctx.config.seed)


def _self_kd_student(ctx, bottleneck: bool) -> SingleHeadStudent:
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    if not bottleneck:  # "without PB": concatenation, absent modality zero-filled with flags
        return SingleHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                                 fusion="joint", fusion_hidden=ctx.bn_width, missing="zero")
    kw = dict(n_bottleneck=ctx.bn_tokens, depth=ctx.bn_depth, heads=ctx.bn_heads,
              pool_len=ctx.bn_pool_len, pooling=ctx.bn_pooling, absent=ctx.bn_absent)
    return SingleHeadStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                             fusion="bottleneck", fusion_hidden=ctx.bn_width, fusion_kwargs=kw)


def _self_kd(bottleneck: bool, kd: bool, gm: str | None):
    def fn(ctx):
        n_mod = len(ctx.dataset.modality_names)
        method = ModalityDropoutKD(
            _self_kd_student(ctx, bottleneck), ctx.dataset.task, kd=kd, T=ctx.self_kd_T,
            drop_probs=tuple(ctx.drop_probs)[: max(1, n_mod - 1)],
            feature_kd=ctx.feature_kd if bottleneck else 0.0, kd_start=ctx.kd_start)
        return method.use_gradmod(_gradmod(ctx, gm), ctx.config.seed) if gm else method
    return fn


def needs_teachers(name: str) -> bool:
    """Whether method ``name`` (optionally ``base@settings``) distils from trained teachers."""
    return METHODS.get(parse_method(name)[0]).teachers


for _name, _pb, _kd, _gm, _doc in [
    ("pb_kd_gm", True, True, "ogm", "Pooled-bottleneck fusion + KD for missing modalities + "
     "OGM-GE gradient modulation (score ratios, each modality against the mean of the others)."),
    ("pb_kd_gm_weights", True, True, "pb", "Pooled bottleneck + KD + gradient modulation with "
     "the authors' coefficients 1 - w_m / sum(w) from the pooling weights."),
    ("pb_kd", True, True, None, "Pooled bottleneck + KD for missing modalities, no modulation "
     "(the 'without GM' ablation)."),
    ("pb_gm", True, False, "ogm", "Pooled bottleneck + gradient modulation, no KD (the "
     "'without KD' ablation)."),
    ("pb", True, False, None, "Pooled bottleneck alone (no KD, no modulation)."),
    ("concat_kd_gm", False, True, "ogm", "Concatenation fusion (absent modality zero-filled, "
     "presence flags) + KD + gradient modulation (the 'without PB' ablation)."),
]:
    register(_name, _doc, teachers=False)(_self_kd(_pb, _kd, _gm))


@register("mckd", "MCKD / MetaKD: every present modality distils its features into every other "
          "(L1, weighted by learned importance ratios), random modality subsets, importances "
          "softmax(w) meta-learned on a split carved from train (mindkit.distill.mckd).",
          teachers=False)
def _mckd(ctx):
    ds = ctx.dataset
    torch.manual_seed(ctx.config.seed)
    student = MCKDStudent(ds.modalities, ds.num_outputs, ctx.student_size,
                          width=ctx.mckd_width, hidden=ctx.mckd_hidden)
    return MCKD(student, ds.task, lambda_kd=ctx.mckd_lambda_kd, drop_rate=ctx.mckd_drop_rate,
                warmup_epochs=ctx.mckd_warmup_epochs, ramp_epochs=ctx.mckd_ramp_epochs,
                meta_every=ctx.mckd_meta_every, meta_share=ctx.mckd_meta_share,
                meta_lr=ctx.mckd_meta_lr, meta_scale=ctx.mckd_meta_scale, seed=ctx.config.seed)



__all__ = ["METHODS", "STEP_LOGS", "MethodContext", "build_method",
           "needs_teachers", "parse_method", "register", "run_method", "setting_types",
           "step_log_path", "step_logs"]
