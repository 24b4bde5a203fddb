"""The method catalogue: importing this module registers every method of the kit (one module
per family, each registering its methods with one line per name) and any plugin named in
``MINDKIT_PLUGINS``; it re-exports what callers use to build and train them.

Claims they test (MIND, TMLR 2025; our reading of its abstract):
(a) KD from unimodal teacher ensembles helps: ``mind`` vs ``no_kd``;
(b) a multi-head student beats single-head joint fusion, above all with missing modalities:
    ``mind``/``no_kd`` vs ``single_head_zero``/``single_head_learned``/``single_head_ensemble_kd``;
(c) it holds across fusion methods: ``mind_<fusion>`` vs ``no_kd_<fusion>``.

``MINDKIT_PLUGINS``: module names or ``.py`` files, separated by commas, each imported once
when this module is first imported, so a method defined outside the kit (one file with one
``register(...)`` line) is known to every notebook, sweep and worker process that inherits the
variable (docs/architecture.md, "A new method").
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from mindkit.distill import baselines, hint, mckd, mind, selfkd  # noqa: F401  (they register)
from mindkit.distill.base import (
    METHODS,
    MethodContext,
    MethodEntry,
    Settings,
    StudentSettings,
    build_method,
    method_spec,
    needs_teachers,
    parse_method,
    register,
    setting_names,
)
from mindkit.distill.runner import read_step_logs, run_method, step_log_path

PLUGINS_ENV = "MINDKIT_PLUGINS"


def load_plugin(ref: str):
    """Import plugin ``ref``: a module name (``mypkg.my_method``) or a ``.py`` file."""
    if ref.endswith(".py"):
        path = Path(ref).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{PLUGINS_ENV} names {ref!r}, which is not a file")
        name = "mindkit_plugin_" + re.sub(r"\W", "_", str(path))
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(ref)


def load_plugins(value: str | None = None) -> list:
    """Import every plugin of ``value`` (default: the ``MINDKIT_PLUGINS`` variable)."""
    value = os.environ.get(PLUGINS_ENV, "") if value is None else value
    refs = [r.strip() for r in value.split(",") if r.strip()]
    return [load_plugin(r) for r in refs]


load_plugins()

__all__ = ["METHODS", "PLUGINS_ENV", "MethodContext", "MethodEntry", "Settings",
           "StudentSettings", "build_method", "load_plugins", "method_spec", "needs_teachers",
           "parse_method", "read_step_logs", "register", "run_method", "setting_names",
           "step_log_path"]
