"""A sweep folder on disk: its layout, the state of its runs, and the lock of the sweep writing it.

Layout of a sweep folder ``out``::

    out/sweep.json                   what was asked: notebooks, grid, include, fixed parameters
    out/<run name>/                  one finished run (ok or failed) of the last notebook
        params.json  status.json  <notebook>.ipynb  metrics.json  *.png  predictions/ ...
    out/_stages/<notebook>/<name>/   a finished run of an upstream notebook of a chain (teachers),
                                     shared by every run whose upstream parameters are the same
    out/.tmp/                        runs in progress; renamed into place when they end

A run is written into ``out/.tmp/`` and renamed into place when it ends (:func:`place_run`), so
an interrupted sweep never leaves a half-written run that counts as finished; ``status.json`` is
written last. One sweep at a time writes into a folder (:func:`lock_sweep_folder`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

STAGES_DIR = "_stages"
TMP_DIR = ".tmp"


def utc_now() -> str:
    """The current UTC time as ISO text, to the second (the times of status and lock files)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_status(folder: Path) -> dict | None:
    """A run folder's ``status.json``; ``None`` where there is none or it cannot be read."""
    p = Path(folder) / "status.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def place_run(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing an earlier (failed) run there."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        old = folder.with_name(folder.name + f".old-{uuid.uuid4().hex[:6]}")
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)


def lock_sweep_folder(out: Path) -> Path:
    """One sweep at a time per folder: a lock file naming the driver; a stale one is taken over."""
    lock = out / ".sweep.lock"
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
        except json.JSONDecodeError:
            info = {}
        alive = info.get("host") == socket.gethostname() and _pid_alive(info.get("pid", -1))
        if alive:
            raise RuntimeError(f"another sweep (pid {info['pid']}) is running into {out}; wait "
                               f"for it or remove {lock} if it is gone")
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                "start": utc_now()}))
    return lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    return True


def write_manifest(out, notebooks, grid, include, fixed) -> None:
    """``out/sweep.json``: the notebooks, grid, include points and fixed parameters asked for."""
    refs = [notebooks] if isinstance(notebooks, (str, Path)) else list(notebooks)
    doc = {"notebooks": [str(r) for r in refs], "grid": dict(grid or {}),
           "include": list(include), "fixed": dict(fixed or {}), "written": utc_now()}
    (out / "sweep.json").write_text(json.dumps(doc, indent=1, default=str))
