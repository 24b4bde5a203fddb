"""The notebook kernel and JupyterLab: the kit's warnings shown as one-line notices in a
notebook, and the JupyterLab settings the kit installs (widget state saved with a notebook)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from mindkit.common import KitWarning, in_notebook

# --------------------------------------------------------------------------------------------
# the kit's warnings in a notebook

KIT_DIR = Path(__file__).resolve().parent  # a warning attributed to a file below it is the kit's


def is_kit_warning(category: type[Warning], filename: str) -> bool:
    """Whether a warning is the kit's own: a :class:`~mindkit.common.KitWarning`, or a
    ``UserWarning`` attributed to a file of the mindkit package (a plain ``warnings.warn``)."""
    if issubclass(category, KitWarning):
        return True
    if not issubclass(category, UserWarning):
        return False
    try:
        return Path(filename).resolve().is_relative_to(KIT_DIR)
    except (OSError, ValueError):
        return False


class WarningNotices:
    """A ``warnings.showwarning`` that prints each of the kit's warnings as one plain line,
    ``Note (ConvergenceWarning): <message>``, on stdout, once per message (category and text);
    every other warning goes to the ``showwarning`` it replaced. Filters still decide first
    whether a warning is shown at all, and ``warnings.catch_warnings(record=True)`` (pytest,
    ``pytest.warns``) still records it: it swaps this function out while it records."""

    def __init__(self, previous: Any, stream=None) -> None:
        self.previous = previous
        self.stream = stream  # None: sys.stdout when the notice is printed
        self.seen: set[tuple[str, str]] = set()

    def notice(self, message: Warning | str, category: type[Warning]) -> str:
        text = " ".join(str(message).split())
        return f"Note ({category.__name__}): {text}"

    def __call__(self, message, category, filename, lineno, file=None, line=None) -> None:
        if not is_kit_warning(category, filename):
            return self.previous(message, category, filename, lineno, file, line)
        line_out = self.notice(message, category)
        key = (category.__name__, line_out)
        if key in self.seen:
            return None
        self.seen.add(key)
        stream = self.stream if self.stream is not None else sys.stdout
        print(line_out, file=stream, flush=True)
        return None


def show_warnings_as_notices(force: bool = False, stream=None) -> WarningNotices | None:
    """In a Jupyter kernel (or with ``force``), show the kit's warnings as one-line notices
    (:class:`WarningNotices`); elsewhere change nothing and return ``None``. Installing twice
    keeps the first installation (and its memory of the notices already shown)."""
    if not (force or in_notebook()):
        return None
    current = warnings.showwarning
    if isinstance(current, WarningNotices):
        return current
    notices = WarningNotices(current, stream)
    warnings.showwarning = notices
    return notices


# --------------------------------------------------------------------------------------------
# JupyterLab settings for the kit's environment

LAB_SETTINGS = {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}
"""JupyterLab setting defaults the kit installs (:func:`install_lab_settings`): save the widgets'
state with the notebook, so a reopened notebook shows the explorers of notebook 05 with their
last picture instead of "Error displaying widget: model not found"."""


def lab_settings_dir(prefix: str | Path | None = None) -> Path:
    """JupyterLab's application settings folder: ``$JUPYTERLAB_DIR/settings`` when that is set
    (and no ``prefix`` is given), else ``<prefix>/share/jupyter/lab/settings`` (``prefix``:
    default this Python's ``sys.prefix``, the virtual environment)."""
    if prefix is None and os.environ.get("JUPYTERLAB_DIR"):
        return Path(os.environ["JUPYTERLAB_DIR"]) / "settings"
    return Path(sys.prefix if prefix is None else prefix) / "share" / "jupyter" / "lab" / "settings"


def install_lab_settings(prefix: str | Path | None = None) -> Path:
    """Merge :data:`LAB_SETTINGS` into JupyterLab's ``overrides.json`` in
    :func:`lab_settings_dir` (``make setup`` runs it for ``.venv``); the file's other settings
    are kept. Returns the file. The overrides are defaults: a setting the user changed in
    JupyterLab's Settings editor wins."""
    from mindkit.atomic import write_text

    path = lab_settings_dir(prefix) / "overrides.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    if not isinstance(current, dict):
        raise ValueError(f"{path} does not hold a JSON object of settings; fix or remove it")
    for plugin, values in LAB_SETTINGS.items():
        current.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(current, indent=2) + "\n")
    return path


__all__ = ["KIT_DIR", "LAB_SETTINGS", "WarningNotices", "install_lab_settings", "is_kit_warning",
           "lab_settings_dir", "show_warnings_as_notices"]
