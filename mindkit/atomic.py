"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file mindkit writes into a run folder or a model store goes through :func:`atomic_path`:
the content is written to a temporary file in the same folder (a unique name per writer, so
concurrent writers never share one), flushed to disk, then renamed over the target with
:func:`os.replace`, which is atomic on POSIX and Windows file systems. A process killed while
writing leaves the previous file intact (and at worst a stray ``.<name>.<random>.tmp`` beside it,
which nothing reads).

Standard library only, so every layer of the package may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over ``path`` on success.

    ``with atomic_path(p) as tmp: frame.to_parquet(tmp)``. If the block raises, the temporary
    file is removed and ``path`` is left as it was. The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the content must be on disk before the rename publishes it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


__all__ = ["atomic_path", "write_bytes", "write_text"]
