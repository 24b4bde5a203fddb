"""The loader's cache: one folder per dataset configuration under ``cache_dir/mimic/``, holding
the plan (which samples, which files), the discretised unstandardised series, the uint8 images,
the fitted normaliser, what the ``tab`` and ``notes`` modalities read (``extras.json``: the
stay-table values and the HPI texts, when asked for) and the size and mtime of every file used
(see :mod:`mindkit.data.mimic`, **Cache**)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mindkit.data.mimic.layout import ENV_CACHE
from mindkit.data.mimic.plan import Plan


def default_cache_dir() -> Path:
    """``$MINDKIT_CACHE``, else ``data/cache/`` of a source checkout, else ``~/.cache/mindkit``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[3]  # mindkit/data/mimic/cache.py
    if (repo / "pyproject.toml").is_file():
        return repo / "data" / "cache"
    return Path.home() / ".cache" / "mindkit"


def file_stat(path: Path) -> list:
    st = path.stat()
    return [str(path), int(st.st_size), int(st.st_mtime_ns)]


def cache_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _data_file_stats(root: Path | None, rel: list[str]) -> list[list[int]]:
    out = []
    for r in rel:
        st = (root / r).stat()
        out.append([int(st.st_size), int(st.st_mtime_ns)])
    return out


def _stats_match(root: Path | None, rel: list[str], stats: list) -> bool:
    if len(rel) != len(stats):
        return False
    for r, (size, mtime) in zip(rel, stats):
        try:
            st = (root / r).stat()
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def read_cache(entry: Path, ehr: Path | None, cxr: Path, n_labels: int, uses_ts: bool,
                extras: bool = False):
    """The cached ``(plan, x_ts, ts_len, imgs, ts_counts, normalizer, extras)`` of ``entry``,
    or None when there is no entry, a time-series or image file it used has changed since, or
    ``extras`` are wanted and the entry has none."""
    if not (entry / "manifest.json").is_file():
        return None
    if extras and not (entry / "extras.json").is_file():
        return None
    man = json.loads((entry / "manifest.json").read_text())
    cand = Plan.from_json(man["plan"], n_labels)
    ok = _stats_match(ehr, [f for f in cand.ts_files], man["ts_file_stats"]) and \
        _stats_match(cxr, [f for f in cand.cxr_files if f], man["cxr_file_stats"])
    if not ok:
        return None
    x_ts = ts_len = None
    if uses_ts:
        x_ts = np.load(entry / "ts.npy")
        ts_len = np.load(entry / "ts_len.npy")
    imgs = np.load(entry / "cxr.npy")
    more = json.loads((entry / "extras.json").read_text()) if extras else {}
    return cand, x_ts, ts_len, imgs, man["ts_counts"], man.get("normalizer"), more


def write_cache(entry: Path, plan: Plan, ehr, cxr, x_ts, ts_len, imgs, ts_counts, norm,
                 config, extras: dict | None = None) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".tmp-", dir=entry.parent))
    try:
        if x_ts is not None:
            np.save(tmp / "ts.npy", x_ts)
            np.save(tmp / "ts_len.npy", ts_len)
        np.save(tmp / "cxr.npy", imgs)
        if extras is not None:
            (tmp / "extras.json").write_text(json.dumps(extras))
        manifest = {
            "config": config,
            "plan": plan.to_json(),
            "ts_file_stats": _data_file_stats(ehr, plan.ts_files),
            "cxr_file_stats": _data_file_stats(cxr, [f for f in plan.cxr_files if f]),
            "ts_counts": ts_counts,
            "normalizer": norm,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
        # entries of the same configuration built from older tables can never hit again
        prefix = entry.name.rsplit("-", 1)[0]
        for old in entry.parent.glob(f"{prefix}-*"):
            man = old / "manifest.json"
            if old != entry and ".tmp-" not in old.name and man.is_file() and \
                    json.loads(man.read_text()).get("config") == config:
                shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
