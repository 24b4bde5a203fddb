"""A run folder: where a notebook writes its metric records, figures and checkpoints.

Several notebooks, sweep runs and parallel trainings may write one ``run_dir`` at the same time,
so the records live in a small SQLite database, ``records.sqlite`` (write-ahead log mode, from
the standard library), and every write is one transaction:

* a notebook run's records are keyed by the notebook's name and a **run key**, a hash of its
  parameters (``RunDir.params``, set by :func:`mindkit.notebook.setup`; ``run_dir`` itself is
  left out). Rewriting with the same key replaces exactly that run's earlier records, so
  rerunning notebook 02 with the same parameters replaces its own records, a notebook-02 run
  with another ``alpha`` adds its own beside them, and notebook 01's records are never touched;
* concurrent writers queue on SQLite's write lock (``BEGIN IMMEDIATE``); every record lands
  exactly once;
* a process killed mid-write rolls back: the previous state stays intact.

``metrics.json`` stays the file users read (a list of tidy records, as before); it is exported
from the database inside the same transaction, through a temporary file renamed over the old
one, so a reader never sees a half-written file. The database is the source of truth:
:meth:`RunDir.read_metrics` reads it. A run folder made before the database existed (a
``metrics.json`` alone) is imported on its first write, its records keyed as ``legacy`` runs of
their notebook (a rerun of that notebook replaces them).

A damaged record file is named in a :class:`RecordsError` by :meth:`RunDir.check_records`,
which :func:`mindkit.notebook.setup` calls before a notebook does any work, and by every read
and write; nothing is ever overwritten to "repair" it, so no other notebook's records are lost.
SQLite's locking needs a local file system (not NFS) for the run folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import sqlite3
from pathlib import Path

from mindkit.atomic import atomic_path, write_text

REQUIRED_FIELDS = ("dataset", "method", "model", "head", "metric", "value", "ci_low", "ci_high",
                   "seed", "split")
RECORDS_DB = "records.sqlite"
LEGACY_KEY = "legacy"
BUSY_TIMEOUT_S = 120.0  # how long a writer waits for another writer's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    notebook TEXT NOT NULL,
    run_key TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_run ON records (notebook, run_key);
CREATE TABLE IF NOT EXISTS runs (
    notebook TEXT NOT NULL,
    run_key TEXT NOT NULL,
    params TEXT NOT NULL,
    n_records INTEGER NOT NULL,
    PRIMARY KEY (notebook, run_key)
);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class RecordsError(RuntimeError):
    """A run folder's record files cannot be read (damaged, or not mindkit's)."""


NOT_IN_RUN_KEY = ("run_dir", "workers", "store_dir")
"""Parameters that never change a run's results: where it writes, how many processes train,
where its model store is."""


def run_key(params: dict | None) -> str:
    """A short hash of a notebook run's parameters (``""`` when none are known), without
    :data:`NOT_IN_RUN_KEY`: the same run in another folder, or with more workers, has the same
    key."""
    if not params:
        return ""
    clean = {k: _jsonable(v) for k, v in sorted(params.items()) if k not in NOT_IN_RUN_KEY}
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:12]


class RunDir:
    """A run folder. ``params``: the current notebook run's parameters (keys its records)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.params: dict | None = None

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS_DB

    # ----------------------------------------------------------------------------------------
    # the record database

    @contextlib.contextmanager
    def _db(self, write: bool):
        """A connection; with ``write``, inside one ``BEGIN IMMEDIATE`` transaction committed on
        success and rolled back on any error. Damage is raised as :class:`RecordsError`."""
        if not write and not self.records_path.exists():
            yield None
            return
        try:
            con = sqlite3.connect(self.records_path, timeout=BUSY_TIMEOUT_S,
                                  isolation_level=None)
        except sqlite3.Error as err:
            raise self._damaged(self.records_path, err) from None
        try:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                if write:
                    con.executescript(_SCHEMA)  # idempotent; executescript commits, so first
                    con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as err:
                raise self._damaged(self.records_path, err) from None
            if not write:
                yield con
                return
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()
        finally:
            con.close()

    def _damaged(self, path: Path, err: Exception) -> RecordsError:
        other = (f"; the exported copy {self.metrics_path} may still hold the records"
                 if path == self.records_path and self.metrics_path.exists() else "")
        return RecordsError(
            f"the record file {path} cannot be read ({type(err).__name__}: {err}): it is damaged "
            f"or not a mindkit record file{other}. Nothing was written. Move it aside (e.g. "
            f"mv {path} {path}.damaged) to start this run folder's records afresh, or use "
            "another run_dir")

    def _import_legacy(self, con: sqlite3.Connection) -> None:
        """Import a pre-database ``metrics.json`` once (keyed as legacy runs of its notebooks)."""
        if con.execute("SELECT 1 FROM info WHERE key = 'imported'").fetchone():
            return
        if self.metrics_path.exists() and not con.execute(
                "SELECT 1 FROM records LIMIT 1").fetchone():
            for r in self._read_json(self.metrics_path):
                con.execute("INSERT INTO records (notebook, run_key, record) VALUES (?, ?, ?)",
                            (str(r.get("notebook", "")), LEGACY_KEY, json.dumps(r)))
        con.execute("INSERT OR REPLACE INTO info VALUES ('imported', '1')")

    def _read_json(self, path: Path) -> list[dict]:
        try:
            records = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise self._damaged(path, err) from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise self._damaged(path, ValueError("not a list of records"))
        return records

    def check_records(self) -> int:
        """Raise :class:`RecordsError` naming the file if this folder's records cannot be read;
        else the number of records. Cheap: one query (or one JSON parse for an old folder)."""
        return len(self.read_metrics())

    def read_metrics(self) -> list[dict]:
        """Every record of the folder, in the order they were written."""
        with self._db(write=False) as con:
            if con is None:
                return self._read_json(self.metrics_path) if self.metrics_path.exists() else []
            try:
                rows = con.execute("SELECT record FROM records ORDER BY seq").fetchall()
            except sqlite3.OperationalError as err:
                if "no such table" not in str(err):
                    raise self._damaged(self.records_path, err) from None
                rows = []  # created by a writer that has not committed its schema yet
            except sqlite3.DatabaseError as err:
                raise self._damaged(self.records_path, err) from None
        return [json.loads(r) for (r,) in rows]

    def runs(self) -> list[dict]:
        """The notebook runs whose records the folder holds: notebook, run key, parameters,
        record count."""
        with self._db(write=False) as con:
            if con is None:
                return []
            try:
                rows = con.execute("SELECT notebook, run_key, params, n_records FROM runs "
                                   "ORDER BY notebook, run_key").fetchall()
            except sqlite3.OperationalError:
                return []
        return [{"notebook": n, "run_key": k, "params": json.loads(p), "n_records": c}
                for n, k, p, c in rows]

    def write_metrics(self, records: list[dict], notebook: str,
                      params: dict | None = None) -> Path:
        """Store ``records`` as one run of ``notebook``, replacing that run's older records.

        The run is keyed by ``params`` (default: :attr:`params`; :func:`run_key`); records
        gain ``notebook`` and ``run_key`` fields. Checked first: every record needs
        :data:`REQUIRED_FIELDS`. Returns the exported ``metrics.json``.
        """
        params = self.params if params is None else params
        key = run_key(params)
        clean = []
        for i, r in enumerate(records):
            missing = [f for f in REQUIRED_FIELDS if f not in r]
            if missing:
                raise ValueError(f"metric record {i} lacks fields {missing}; every record needs "
                                 f"{list(REQUIRED_FIELDS)}")
            clean.append({**{k: _jsonable(v) for k, v in r.items()}, "notebook": notebook,
                          "run_key": key})
        with self._db(write=True) as con:
            self._import_legacy(con)
            con.execute("DELETE FROM records WHERE notebook = ? AND run_key IN (?, ?)",
                        (notebook, key, LEGACY_KEY))
            con.execute("DELETE FROM runs WHERE notebook = ? AND run_key = ?", (notebook, key))
            con.executemany("INSERT INTO records (notebook, run_key, record) VALUES (?, ?, ?)",
                            [(notebook, key, json.dumps(r)) for r in clean])
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?)",
                        (notebook, key, json.dumps(_jsonable(params or {}), sort_keys=True),
                         len(clean)))
            rows = con.execute("SELECT record FROM records ORDER BY seq").fetchall()
            # exported while this transaction holds the write lock: exports never interleave
            write_text(self.metrics_path, "[\n" + ",\n".join(r for (r,) in rows) + "\n]")
        return self.metrics_path

    def metrics_frame(self):
        import pandas as pd

        return pd.DataFrame(self.read_metrics())

    # ----------------------------------------------------------------------------------------
    # other files, each written atomically

    def savefig(self, fig, name: str, dpi: int = 110) -> Path:
        path = self.path / (name if name.endswith(".png") else f"{name}.png")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        return path

    def write_csv(self, frame, name: str) -> Path:
        """``frame`` (a pandas DataFrame) as ``run_dir/name`` without its index, atomically."""
        path = self.path / (name if name.endswith(".csv") else f"{name}.csv")
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        return path

    def write_json(self, name: str, payload) -> Path:
        return write_text(self.path / name, json.dumps(payload, indent=1, default=_jsonable))

    def require(self, relpath: str, notebook: str) -> Path:
        """``run_dir/relpath``, or a clear error naming the notebook that makes it."""
        p = self.path / relpath
        if not p.exists():
            raise FileNotFoundError(
                f"{p} does not exist: run notebooks/{notebook}.ipynb first with "
                f"run_dir={str(self.path)!r} (and the same dataset)")
        return p


def _jsonable(v):
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


QUICK_SUBDIR = "quick"  # where quick runs go inside a run folder that holds a full run
# files mindkit only ever replaces (never edits in place): a copy may share them as hard links
SHAREABLE = (".safetensors", ".parquet", ".png", ".csv", ".pt")


def run_dir_for(run_dir: str | Path, quick: bool) -> Path:
    """The folder a notebook run writes: ``run_dir``, or ``run_dir/quick`` when ``quick`` and
    ``run_dir`` already holds a full (non-quick) run, so a quick smoke test never collides with
    (or is refused by) the full run beside it."""
    run_dir = Path(run_dir)
    marker = run_dir / "dataset.json"
    if quick and marker.exists():
        try:
            full = json.loads(marker.read_text()).get("quick") is False
        except (OSError, ValueError):
            full = False
        if full:
            return run_dir / QUICK_SUBDIR
    return run_dir


def copy_run(src: str | Path, dst: str | Path) -> Path:
    """Copy run folder ``src`` (its records, checkpoints, predictions, figures and model store)
    to a new folder ``dst`` for a learner to continue from: notebooks run there find every model
    ``src``'s run trained (through the copied store) and train nothing again. Files mindkit only
    ever replaces (checkpoints, prediction and table files, figures) are hard links where the
    file system allows; databases and everything else are copied. ``dst`` must not exist."""
    src, dst = Path(src), Path(dst)
    if not (src / "dataset.json").exists():
        raise FileNotFoundError(f"{src} is not a run folder (no dataset.json): run the series "
                                f"into it first, e.g. `make classroom`")
    if dst.exists():
        raise FileExistsError(f"{dst} exists; give a new folder to copy the run into")

    def link_or_copy(a: str, b: str) -> str:
        if a.endswith(SHAREABLE):
            try:
                os.link(a, b)
                return b
            except OSError:
                pass
        return shutil.copy2(a, b)

    for db in src.rglob("*.sqlite"):  # a consistent snapshot of each database, WAL included
        with contextlib.closing(sqlite3.connect(db)) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(src, dst, copy_function=link_or_copy, symlinks=True,
                    ignore=shutil.ignore_patterns("*.sqlite-wal", "*.sqlite-shm", ".*.tmp"))
    return dst
