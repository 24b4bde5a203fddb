"""A model store keyed by content: each distinct model is trained once.

Every trained teacher and student can be kept under a **key**: the SHA-256 of a JSON *spec*
holding everything that determines its weights (the dataset's fingerprint, which covers every
data option and the split; the model's architecture; the method and every setting it reads;
the teachers it distils from, by the hash of their weights; the training config with its seed).
Whoever asks for the same spec again, in any notebook, sweep run or later session sharing the
store, gets the stored model, its training history and its per-step logs instead of training it
again; a spec that differs in anything is a different model.

Layout of a store folder (``run_dir/store`` by default; any path can be shared by run folders
and sweep workers)::

    <key>/model.safetensors    the checkpoint (mindkit.train.checkpoint: provenance + weights hash)
    <key>/model.json           a copy of its header
    <key>/model.<log>.csv      per-step logs (gradient modulation, MCKD importances), if any
    <key>/entry.json           the spec, a one-line description, the training history and summary
    .tmp/  .locks/  .damaged/  work in progress, one lock per key, quarantined entries
    store.sqlite               the event log: which key was trained or reused, when, by whom

Safety with several writers: a key is trained under its own lock (``filelock``; the operating
system releases it when a process dies), in a temporary folder that is renamed into place only
when complete. So two processes asking for the same key never both train it (the second waits,
then reuses), a process killed mid-training leaves no entry (the next one trains it), and a
reader never sees half an entry. An entry that fails its checks when loaded (altered weights,
unreadable files) is reported in a :class:`StoreWarning`, moved to ``.damaged/`` and retrained;
it is never loaded half-way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from mindkit.atomic import write_text
from mindkit.common import KitWarning
from mindkit.provenance import dataset_fingerprint
from mindkit.train.trainer import History

STORE_FORMAT = 1
MODEL = "model"  # the checkpoint's base name inside an entry
ENTRY = "entry.json"


class StoreWarning(KitWarning):
    """A store entry could not be used (damaged); it was set aside and is trained again."""


def spec_key(spec: dict) -> str:
    """The store key of ``spec``: SHA-256 (24 hex digits) of its canonical JSON."""
    text = json.dumps({"store_format": STORE_FORMAT, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Stored:
    """What the store returns: the entry's folder, spec, summary, history and whether this call
    trained it (``trained``) or found it (``reused``)."""

    key: str
    path: Path
    spec: dict
    summary: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    trained: bool = False
    loaded: Any = None  # what ``verify`` returned for a found entry (e.g. the loaded model)

    @property
    def checkpoint(self) -> Path:
        return self.path / MODEL

    @property
    def source(self) -> str:
        return "trained" if self.trained else f"store:{self.key}"


class ModelStore:
    """A folder of trained models keyed by content (module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    def entry_path(self, key: str) -> Path:
        return self.root / key

    # ----------------------------------------------------------------------------------------
    # the one way in

    def get_or_train(self, spec: dict, train: Callable[[Path], dict], describe: str,
                     verify: Callable[[Path], Any] | None = None) -> Stored:
        """The entry for ``spec``, training it first when the store lacks it.

        ``train(checkpoint)`` trains the model, saves it at ``checkpoint`` (a path without
        extension inside a temporary entry folder; per-step logs beside it) and returns a dict
        with ``summary`` (JSON-able numbers: best epoch, validation score, ...) and ``history``
        (the per-epoch records). ``verify(checkpoint)`` loads a found entry and raises if it
        cannot be used (e.g. :func:`mindkit.train.checkpoint.load_model`, which checks the
        weights' hash and provenance); a failing entry is set aside and trained again.
        ``describe`` is a one-line description for listings and the event log.
        """
        key = spec_key(spec)
        found = self._found(key, verify)
        if found is not None:
            self._event(key, "reused", describe)
            return found
        with self._lock(key):
            found = self._found(key, verify)  # trained by another process while we waited
            if found is not None:
                self._event(key, "reused", describe)
                return found
            tmp = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=self._sub(".tmp")))
            try:
                t0 = time.perf_counter()
                out = train(tmp / MODEL) or {}
                summary = {**out.get("summary", {}), "train_s": time.perf_counter() - t0}
                entry = {"key": key, "spec": spec, "describe": describe, "summary": summary,
                         "history": out.get("history", []), "created": time.time(),
                         "pid": os.getpid(), "store_format": STORE_FORMAT}
                write_text(tmp / ENTRY, json.dumps(entry, indent=1, default=str))
                os.replace(tmp, self.entry_path(key))  # the entry appears whole, or not at all
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._event(key, "trained", describe)
        return Stored(key, self.entry_path(key), spec, summary, entry["history"], trained=True)

    def _found(self, key: str, verify) -> Stored | None:
        path = self.entry_path(key)
        if not path.is_dir():
            return None
        try:
            entry = json.loads((path / ENTRY).read_text())
            loaded = verify(path / MODEL) if verify is not None else None
        except Exception as err:  # noqa: BLE001 - any failure: the entry cannot be trusted
            self._quarantine(key, err)
            return None
        return Stored(key, path, entry["spec"], entry.get("summary", {}),
                      entry.get("history", []), loaded=loaded)

    def _quarantine(self, key: str, err: Exception) -> None:
        dest = self._sub(".damaged") / f"{key}-{int(time.time() * 1000)}"
        with contextlib.suppress(OSError):
            os.replace(self.entry_path(key), dest)
        warnings.warn(f"store entry {self.entry_path(key)} is damaged ({type(err).__name__}: "
                      f"{err}); it was moved to {dest} and the model is trained again",
                      StoreWarning, stacklevel=3)
        self._event(key, "damaged", str(err)[:200])

    def _sub(self, name: str) -> Path:
        p = self.root / name
        p.mkdir(exist_ok=True)
        return p

    def _lock(self, key: str):
        from filelock import FileLock

        return FileLock(str(self._sub(".locks") / f"{key}.lock"))

    # ----------------------------------------------------------------------------------------
    # the event log

    def _db(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.root / "store.sqlite", timeout=120, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS events (time REAL, pid INTEGER, key TEXT, "
                    "event TEXT, describe TEXT)")
        return con

    def _event(self, key: str, event: str, describe: str) -> None:
        con = self._db()
        try:
            con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                        (time.time(), os.getpid(), key, event, describe))
        finally:
            con.close()

    def events(self, since: float = 0.0) -> list[dict]:
        """The event log (``trained`` / ``reused`` / ``damaged``) from time ``since`` on."""
        if not (self.root / "store.sqlite").exists():
            return []
        con = self._db()
        try:
            rows = con.execute("SELECT time, pid, key, event, describe FROM events WHERE time >= "
                               "? ORDER BY rowid", (since,)).fetchall()
        finally:
            con.close()
        return [dict(zip(("time", "pid", "key", "event", "describe"), r)) for r in rows]

    # ----------------------------------------------------------------------------------------
    # listing and pruning

    def entries(self) -> list[dict]:
        """One row per complete entry: key, description, dataset, seed, epochs run, validation
        score, training seconds, size on disk, creation time."""
        rows = []
        for path in sorted(p for p in self.root.iterdir() if p.is_dir() and
                           not p.name.startswith(".")):
            try:
                entry = json.loads((path / ENTRY).read_text())
            except (OSError, ValueError):
                rows.append({"key": path.name, "describe": "(unreadable entry.json)"})
                continue
            spec, summ = entry.get("spec", {}), entry.get("summary", {})
            data = spec.get("dataset", {}) if isinstance(spec.get("dataset"), dict) else {}
            rows.append({
                "key": path.name, "describe": entry.get("describe", ""),
                "dataset": data.get("name"), "fingerprint": data.get("fingerprint"),
                "seed": (spec.get("train") or {}).get("seed"),
                "epochs_run": summ.get("epochs_run"), "val_score": summ.get("val_score"),
                "train_s": summ.get("train_s"),
                "bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file()),
                "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.get("created",
                                                                                    0)))})
        return rows

    def remove(self, keys: list[str]) -> list[str]:
        """Delete the entries whose key starts with any of ``keys`` (a prefix must match exactly
        one entry); returns the removed keys. Each removal takes the key's lock."""
        have = [p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        chosen = []
        for k in keys:
            match = [h for h in have if h.startswith(k)]
            if len(match) != 1:
                raise KeyError(f"{k!r} matches {len(match)} store entries in {self.root}"
                               + (f": {match[:5]}" if match else "; `mindkit store ls` lists "
                                  "them"))
            chosen.append(match[0])
        for key in chosen:
            with self._lock(key):
                shutil.rmtree(self.entry_path(key), ignore_errors=True)
            self._event(key, "removed", "")
        return chosen


def dataset_ident(ds) -> dict:
    """A dataset in a store key: its name and fingerprint (every data option, the split)."""
    return {"name": ds.name, "fingerprint": dataset_fingerprint(ds)}


def train_ident(config) -> dict:
    """A training config in a store key: every field but where it runs (the device) and how the
    data reaches it (``max_split_bytes``: the whole split moved at once or streamed in batches
    gives the same batches)."""
    return {k: v for k, v in asdict(config).items() if k not in ("device", "max_split_bytes")}


def history_summary(hist: History) -> dict:
    """What a store entry keeps of a training history besides its per-epoch records."""
    return {"best_epoch": hist.best_epoch, "val_score": hist.best_score,
            "epochs_run": len(hist.records), "stopped_early": hist.stopped_early,
            "still_improving": hist.still_improving}


def history_from(records: list[dict], summary: dict) -> History:
    """A :class:`History` rebuilt from a store entry (:func:`history_summary`)."""
    return History(records=list(records), best_epoch=summary.get("best_epoch", -1),
                   best_score=summary.get("val_score", float("-inf")),
                   stopped_early=bool(summary.get("stopped_early")),
                   still_improving=bool(summary.get("still_improving")))


def export(stored: Stored, checkpoint: str | Path) -> Path:
    """Make the entry's checkpoint (and its JSON copy and step logs) also appear at
    ``checkpoint`` (a path without extension, e.g. ``run_dir/students/mind``), as hard links
    where the file system allows (copies otherwise), each placed atomically. The store's files
    are never written through these links: mindkit replaces files, it never edits them."""
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    for src in sorted(stored.path.iterdir()):
        if not src.name.startswith(MODEL + "."):
            continue
        dst = checkpoint.with_name(checkpoint.name + src.name[len(MODEL):])
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        os.close(fd)
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return checkpoint


def store_for(path: str | Path | None, run_dir: str | Path | None = None) -> ModelStore | None:
    """The store at ``path``; ``""``/``None`` with a ``run_dir``: ``run_dir/store``."""
    if path:
        return ModelStore(path)
    return ModelStore(Path(run_dir) / "store") if run_dir is not None else None


__all__ = ["ModelStore", "Stored", "StoreWarning", "dataset_ident", "export", "history_from",
           "history_summary", "spec_key", "store_for", "train_ident"]
