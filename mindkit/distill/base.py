"""What a method file needs: the method registry, a method's settings and the context every
method is built from (docs/architecture.md, "A new method").

A method is one file: a settings dataclass (a subclass of :class:`Settings`, one field per
knob, each with its default and a comment), a builder ``build(ctx, settings) -> Method``
(:class:`mindkit.train.method.Method`) and one line, ``register("name", build, TheSettings)``.
``"name@key=value,..."`` overrides the method's settings, typed by the fields' annotations, so
alpha/T grids are method names; a key the method does not declare is refused with the ones it
does. :class:`MethodContext` carries what every method shares (the dataset, the trained
teachers per modality with their validation scores, the training config, progress and a model
store) and settings by name for the methods that declare them (a notebook's ``alpha``,
``gm_alpha``, ``bn_tokens``...).

While a method is built, every setting and teacher it reads is recorded: with a model store
those reads are its key (:func:`method_spec`), so ``no_kd``, which never reads ``alpha`` or
``T``, is one model in every alpha/T run. Builders read their settings while they build (a
setting read later, during training, would escape the key).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Callable

from mindkit.data.base import MultimodalDataset
from mindkit.models.build import model_config
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, teacher_ensembles
from mindkit.registry import Registry
from mindkit.train.checkpoint import weights_sha256
from mindkit.train.method import Method
from mindkit.train.store import dataset_ident, train_ident
from mindkit.train.trainer import TrainConfig

READS: ContextVar[dict | None] = ContextVar("mindkit_method_reads", default=None)
SCALAR_TYPES = {"float": float, "int": int, "str": str, "bool": bool}


def record_read(name: str, value) -> None:
    """Note that the method being built read ``name`` (its store key, :func:`method_spec`)."""
    reads = READS.get()
    if reads is not None and name not in reads:
        reads[name] = value


class Settings:
    """Base of a method's settings dataclass (decorate the subclass with ``@dataclass``): each
    field is one knob that a notebook or ``"name@key=value"`` may set. Reading a field while a
    method is built records it (module docstring)."""

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if name in getattr(type(self), "__dataclass_fields__", ()):
            record_read(name, value)
        return value

    @classmethod
    def types(cls) -> dict[str, type]:
        """``{name: type}`` of the fields ``"name@key=value"`` may set (the scalar ones)."""
        return {f.name: SCALAR_TYPES[f.type] for f in fields(cls) if f.type in SCALAR_TYPES}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class StudentSettings(Settings):
    """The one setting every kit method has."""

    student_size: str = "xs"  # the student's encoder preset (mindkit.encoders.presets)


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: its builder, settings class, whether it distils from trained
    teachers, and one line for tables."""

    name: str
    build: Callable[["MethodContext", Settings], Method]
    settings: type[Settings]
    teachers: bool
    doc: str


METHODS: Registry[MethodEntry] = Registry("method")


def register(name: str, build: Callable, settings: type[Settings] = StudentSettings,
             teachers: bool = True, doc: str | None = None) -> MethodEntry:
    """Register ``build(ctx, settings) -> Method`` as method ``name`` with its settings
    dataclass; ``teachers=False`` for a method that trains without teacher networks; ``doc``:
    one line for tables (default: the first line of ``build``'s docstring)."""
    if not (isinstance(settings, type) and issubclass(settings, Settings)):
        raise TypeError(f"method {name!r}: settings must be a Settings dataclass, got "
                        f"{settings!r}")
    doc = doc or (build.__doc__ or "").strip().split("\n")[0]
    if not doc:
        raise ValueError(f"method {name!r} needs a one-line doc (doc= or a docstring)")
    entry = MethodEntry(name, build, settings, teachers, doc)
    METHODS.register(name)(entry)
    return entry


def setting_names() -> set[str]:
    """Every setting some registered method declares."""
    return {n for name in METHODS for n in METHODS.get(name).settings.names()}


def typed_value(key: str, value: str, kind: type, name: str):
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
    with settings overridden, keys and types from its settings dataclass."""
    base, _, spec = name.partition("@")
    types = METHODS.get(base).settings.types()  # unknown base name: error listing the valid ones
    overrides = {}
    for part in filter(None, spec.split(",")):
        key, eq, value = (t.strip() for t in part.partition("="))
        if not eq or key not in types:
            raise ValueError(f"bad setting {part!r} in method {name!r}; use key=value with the "
                             f"keys {base!r} declares: {sorted(types)}")
        overrides[key] = typed_value(key, value, types[key], name)
    return base, overrides


def needs_teachers(name: str) -> bool:
    """Whether method ``name`` (optionally ``base@settings``) distils from trained teachers."""
    return METHODS.get(parse_method(name)[0]).teachers


SHARED = ("dataset", "teachers", "teacher_scores", "config", "progress", "store")


class MethodContext:
    """What every method is built from: ``dataset``, ``teachers`` per modality (one per size)
    with their validation ``teacher_scores`` (same order), the training ``config``,
    ``progress`` bars, a model ``store`` (:class:`mindkit.train.store.ModelStore`: train each
    distinct student once) and ``settings`` by name for the methods that declare them (a name
    no registered method declares is refused, listing the known ones)."""

    def __init__(self, dataset: MultimodalDataset,
                 teachers: dict[str, list[UnimodalNet]] | None = None,
                 teacher_scores: dict[str, list[float]] | None = None,
                 config: TrainConfig | None = None, progress: bool = False, store=None,
                 **settings) -> None:
        unknown = sorted(set(settings) - setting_names())
        if unknown:
            raise ValueError(f"unknown method settings {unknown}; the registered methods "
                             f"declare {sorted(setting_names())}")
        self.dataset = dataset
        self._teachers = dict(teachers or {})
        self._teacher_scores = dict(teacher_scores or {})
        self.config = config or TrainConfig()
        self.progress = progress
        self.store = store
        self.settings = dict(settings)

    @property
    def teachers(self) -> dict[str, list[UnimodalNet]]:
        record_read("teachers", self._teachers)
        return self._teachers

    @property
    def teacher_scores(self) -> dict[str, list[float]]:
        record_read("teacher_scores", self._teacher_scores)
        return self._teacher_scores

    def with_(self, **changes) -> "MethodContext":
        """A copy with ``changes`` to shared fields or settings."""
        shared = {k: getattr(self, "_" + k if k.startswith("teacher") else k) for k in SHARED}
        shared.update({k: v for k, v in changes.items() if k in SHARED})
        settings = {**self.settings, **{k: v for k, v in changes.items() if k not in SHARED}}
        return MethodContext(**shared, **settings)

    def settings_of(self, base: str, overrides: dict | None = None) -> Settings:
        """Method ``base``'s settings: its defaults, then this context's settings it declares,
        then ``overrides`` (from ``"base@key=value"``)."""
        cls = METHODS.get(base).settings
        mine = set(cls.names())
        chosen = {k: v for k, v in {**self.settings, **(overrides or {})}.items() if k in mine}
        return cls(**chosen)

    def ensembles(self, sizes: list[str] | None = None, weighting: str | None = None
                  ) -> dict[str, TeacherEnsemble]:
        """One frozen ensemble per modality of the teachers of ``sizes`` (all by default),
        weighted ``"uniform"`` or by ``"val_score"`` (default: this context's
        ``ensemble_weighting`` setting, else uniform)."""
        weighting = weighting or self.settings.get("ensemble_weighting", "uniform")
        scores = self.teacher_scores if weighting == "val_score" else None  # read if used
        return teacher_ensembles(self.teachers, scores, weighting, sizes)

    def best_teachers(self) -> dict[str, TeacherEnsemble]:
        """Per modality, the teacher with the best validation score, as a one-member
        ensemble."""
        out = {}
        for m, nets in self.teachers.items():
            best = max(range(len(nets)), key=lambda i: self.teacher_scores[m][i])
            out[m] = TeacherEnsemble([nets[best]], names=[f"{m}_{nets[best].size}"])
        return out


def build_method(name: str, ctx: MethodContext) -> Method:
    """The method object for ``name`` (optionally ``base@key=value,...``)."""
    base, overrides = parse_method(name)
    method = METHODS.get(base).build(ctx, ctx.settings_of(base, overrides))
    method.name = name
    return method


NOT_IN_KEY = ("progress", "store")  # never change the trained weights


def key_value(name: str, value):
    if name == "teachers":
        return {m: [weights_sha256(n.state_dict()) for n in nets]
                for m, nets in sorted(value.items())}
    if isinstance(value, tuple):
        return list(value)
    return value


def method_spec(name: str, ctx: MethodContext) -> tuple[Method, dict]:
    """Build method ``name`` while recording the settings and teachers it reads; returns the
    method and its store spec (module docstring). Reads of a method built inside another one
    (the multimodal teacher of ``mm_teacher_kd``) count for the outer one too."""
    outer = READS.get()
    reads: dict = {}
    token = READS.set(reads)
    try:
        method = build_method(name, ctx)
    finally:
        READS.reset(token)
    if outer is not None:
        for k, v in reads.items():
            outer.setdefault(k, v)
    spec = {"kind": "method", "method": parse_method(name)[0],
            "dataset": dataset_ident(ctx.dataset), "train": train_ident(ctx.config),
            "model": model_config(method.student),
            "context": {k: key_value(k, v) for k, v in sorted(reads.items())
                        if k not in NOT_IN_KEY}}
    return method, spec


__all__ = ["METHODS", "MethodContext", "MethodEntry", "Settings", "StudentSettings",
           "build_method", "method_spec", "needs_teachers", "parse_method", "register",
           "setting_names"]
