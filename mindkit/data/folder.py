"""A dataset folder: a researcher's own data as files, read by
``mindkit.data.load("path/to/folder")`` (so every notebook takes ``dataset="path/to/folder"``).
The layout (docs/your-data.md)::

    my_cohort/
      dataset.json        {"task": "binary", "label_names": ["death"],
                           "modalities": {"labs": {"kind": "timeseries"}}}   (kinds optional)
      labels.csv          id,label[,split][,group]   (or labels.parquet; multilabel:
                          label_<name> columns instead of label)
      tab.npy             [N, F] rows in the order of labels' ids
      labs.npz            x [M, T, F], ids [M] (the samples that have it), lengths [M] optional
      cxr/<id>.png        one PNG per sample that has the modality (no file: absent)
      present.csv         id,<modality>,...  True/False (optional)

Every modality is a ``<name>.npy``, a ``<name>.npz`` or a folder ``<name>/`` of PNGs; other
files (a README) are listed in the card and otherwise ignored. The files are checked here (the
labels file, each modality file's rows and ids, each PNG, ``present.csv``); the arrays then go
through :func:`mindkit.data.user.assemble`, whose messages name the file, the column and the
samples (their ids and lines of the labels file). Nothing is written into the folder.

The dataset's name is the folder's name; its options hold the folder (where it was read, left
out of the provenance fingerprint), the seed and split fractions (used when ``labels`` has no
``split`` column) and ``content_hash``, a hash of every file read, so a changed file changes
the fingerprint and saved models and predictions of the old data are refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np

from mindkit.common import TASKS
from mindkit.data.base import MultimodalDataset
from mindkit.data.splits import split_fractions
from mindkit.data.user import assemble
from mindkit.data.usercheck import DIMS, DataError, Origin

__all__ = ["FOLDER_OPTIONS", "FolderOrigin", "is_dataset_folder", "read_folder"]

META_FILE = "dataset.json"
LABEL_FILES = ("labels.csv", "labels.parquet")
PRESENT_FILE = "present.csv"
RESERVED = {META_FILE, *LABEL_FILES, PRESENT_FILE}
META_KEYS = ("task", "label_names", "modalities", "description", "source")
MODALITY_KEYS = ("kind", "vocab_size")
NPZ_KEYS = ("x", "ids", "lengths")
FOLDER_OPTIONS = {"seed": 0, "val_fraction": 0.2, "test_fraction": 0.2}
"""The options of a dataset folder (``load(path, **options)``) and their defaults."""
LAYOUT = "see docs/your-data.md for the folder layout"
TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f"}


def is_dataset_folder(path) -> bool:
    """Whether ``path`` is an existing folder (``load`` reads it as a dataset folder)."""
    try:
        return Path(path).expanduser().is_dir()
    except (TypeError, OSError):
        return False


class FolderOrigin(Origin):
    """Names the files and columns of a dataset folder in messages; rows are quoted as sample
    ids and lines of the labels file."""

    def __init__(self, ids, labels_file: str, sources: dict[str, str]) -> None:
        super().__init__(ids)
        self.labels_file = labels_file
        self.sources = sources
        col = f"{labels_file} column"
        self.y, self.ids_name = f"{col} 'label'", f"{col} 'id'"
        self.split, self.group = f"{col} 'split'", f"{col} 'group'"
        self.fix_split = f"drop the 'split' column of {labels_file}"

    def modality(self, m: str) -> str:
        return self.sources.get(m, m)

    def lengths(self, m: str) -> str:
        return f"{self.sources.get(m, m)} 'lengths'"

    def present(self, m: str) -> str:
        return f"{PRESENT_FILE} column {m!r}"

    def rows(self, idx, limit: int = 5) -> str:
        idx = np.asarray(idx).ravel()
        more = f" and {idx.size - limit} more" if idx.size > limit else ""
        first = idx[:limit].tolist()
        if self.labels_file.endswith(".csv"):
            lines = f"lines {[i + 2 for i in first]} of {self.labels_file}"
        else:
            lines = f"rows {first} of {self.labels_file}"
        return f"{idx.size} sample(s), e.g. ids {[self.ids[i] for i in first]}{more} ({lines})"


class _Files:
    """Reads files of the folder, hashing each one read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes: dict[str, str] = {}

    def read(self, rel: str) -> bytes:
        data = (self.root / rel).read_bytes()
        self.hashes[rel] = hashlib.sha256(data).hexdigest()
        return data

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for rel in sorted(self.hashes):
            h.update(f"{rel}\0{self.hashes[rel]}\n".encode())
        return h.hexdigest()[:16]


def _err(file: str, found: str, fix: str) -> DataError:
    return DataError(f"{file}: {found}. Fix: {fix}")


# ------------------------------------------------------------------------------------------
# dataset.json and the labels file


def _meta(files: _Files) -> dict:
    if not (files.root / META_FILE).is_file():
        raise _err(str(files.root / META_FILE), "missing", 'write {"task": "binary"} (or '
                   f'"multiclass", "multilabel") there, optionally with "label_names"; {LAYOUT}')
    try:
        meta = json.loads(files.read(META_FILE))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _err(META_FILE, f"not valid JSON ({err})", 'write an object such as '
                   '{"task": "binary"}') from None
    if not isinstance(meta, dict):
        raise _err(META_FILE, f"a {type(meta).__name__}, not an object",
                   'write an object such as {"task": "binary"}')
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown or "task" not in meta:
        found = f"unknown key(s) {unknown}" if unknown else "no 'task'"
        raise _err(META_FILE, found, f"use the keys {list(META_KEYS)} ('task' is required)")
    if meta["task"] not in TASKS:
        raise _err(META_FILE, f"task {meta['task']!r}", f"use one of {list(TASKS)}: binary (one "
                   "0/1 label), multilabel (several 0/1 labels), multiclass (one class index)")
    mods = meta.get("modalities") or {}
    if not isinstance(mods, dict) or not all(isinstance(v, dict) for v in mods.values()):
        raise _err(META_FILE, "'modalities' is not {name: {\"kind\": ...}}",
                   'write e.g. "modalities": {"labs": {"kind": "timeseries"}}')
    for m, d in mods.items():
        bad = sorted(set(d) - set(MODALITY_KEYS))
        if bad or d.get("kind", "image") not in DIMS:
            raise _err(META_FILE, f"modality {m!r}: " + (f"unknown key(s) {bad}" if bad else
                                                         f"unknown kind {d.get('kind')!r}"),
                       f"give 'kind' (one of {list(DIMS)}) and, for tokens, 'vocab_size'")
    names = meta.get("label_names")
    if names is not None and (not isinstance(names, list) or not names):
        raise _err(META_FILE, f"label_names {names!r}", "give a list of names")
    return meta


def _labels(files: _Files, task: str):
    """``(labels file name, frame)`` with ``id`` read as text."""
    import pandas as pd

    have = [f for f in LABEL_FILES if (files.root / f).is_file()]
    if len(have) != 1:
        found = "both" if have else "neither"
        raise _err(str(files.root), f"{found} of {' and '.join(LABEL_FILES)}",
                   "give exactly one labels file with columns id, label (or label_<name> per "
                   f"label for multilabel), optional split and group; {LAYOUT}")
    name = have[0]
    data = io.BytesIO(files.read(name))
    try:
        if name.endswith(".csv"):
            df = pd.read_csv(data, dtype={"id": str, "split": str, "group": str})
        else:
            df = pd.read_parquet(data)
    except Exception as err:
        raise _err(name, f"cannot be read ({type(err).__name__}: {err})",
                   "write it with pandas (df.to_csv(index=False) / df.to_parquet())") from None
    df.columns = [str(c).strip() for c in df.columns]
    label_cols = [c for c in df.columns if c.startswith("label_")]
    allowed = {"id", "label", "split", "group", *label_cols}
    unknown = [c for c in df.columns if c not in allowed]
    if "id" not in df.columns or unknown:
        raise _err(name, f"columns {list(df.columns)}: " + (
            f"unknown {unknown}" if unknown else "no 'id' column"),
            "the columns are id, label (or label_<name> for multilabel), split, group; "
            "remove or rename the others")
    if task == "multilabel" and (not label_cols or "label" in df.columns):
        raise _err(name, f"columns {list(df.columns)} for a multilabel task",
                   "give one 0/1 column label_<name> per label (and no 'label' column)")
    if task != "multilabel" and ("label" not in df.columns or label_cols):
        raise _err(name, f"columns {list(df.columns)} for a {task} task",
                   "give one 'label' column (label_<name> columns are for task multilabel)")
    if df.empty:
        raise _err(name, "no rows", "give one row per sample")
    return name, df


def _ids(df, name: str):
    """``(ids as written: ints when every id is a plain integer, else strings; their text)``."""
    import pandas as pd

    raw = df["id"]
    miss = np.flatnonzero(pd.isna(raw).to_numpy())
    if miss.size:
        lines = [int(i) + 2 for i in miss[:5]] if name.endswith(".csv") else miss[:5].tolist()
        raise _err(name, f"{miss.size} row(s) without an id (lines {lines})",
                   "give every sample an id")
    text = [str(v).strip() for v in raw]
    if all(re.fullmatch(r"0|[1-9][0-9]{0,17}", t) for t in text):
        return [int(t) for t in text], text
    return text, text


# ------------------------------------------------------------------------------------------
# modality files


def _kinds_and_sources(root: Path, meta: dict):
    """``({modality: (file or folder name, form)}, ignored files)``; form is npy, npz or png."""
    found: dict[str, list[str]] = {}
    ignored = []
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or p.name in RESERVED or p.name.startswith("__"):
            continue
        if p.is_dir():
            found.setdefault(p.name, []).append(p.name + "/")
        elif p.suffix in (".npy", ".npz"):
            found.setdefault(p.stem, []).append(p.name)
        else:
            ignored.append(p.name)
    two = {m: f for m, f in found.items() if len(f) > 1}
    if two:
        m, f = next(iter(two.items()))
        raise _err(str(root), f"modality {m!r} is given twice ({f})", "keep one of the files")
    declared = meta.get("modalities") or {}
    missing = sorted(set(declared) - set(found))
    if missing:
        raise _err(META_FILE, f"modalities {missing} have no file", "write <name>.npy, "
                   f"<name>.npz or a folder <name>/ of PNGs for each, or remove them; {LAYOUT}")
    if not found:
        raise _err(str(root), "no modality file", f"give <name>.npy, <name>.npz or a folder "
                   f"<name>/ of PNG images per modality; {LAYOUT}")
    out = {}
    for m, (f,) in found.items():
        form = "png" if f.endswith("/") else f.rsplit(".", 1)[1]
        kind = declared.get(m, {}).get("kind")
        if form == "png" and kind not in (None, "image"):
            raise _err(META_FILE, f"modality {m!r} is a folder of PNGs but declared {kind!r}",
                       "a folder of PNGs is an image modality")
        out[m] = (f, form)
    return out, ignored


def _rows_of(file_ids: np.ndarray, index: dict[str, int], rel: str,
             unit: str = "rows") -> np.ndarray:
    keys = [str(v.item() if isinstance(v, np.generic) else v).strip() for v in file_ids]
    unknown = [k for k in keys if k not in index]
    if unknown:
        raise _err(rel, f"{len(unknown)} id(s) not in the labels file, e.g. {unknown[:5]}",
                   f"give every sample a row in the labels file, or remove those {unit}")
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise _err(rel, f"ids given more than once: {uniq[counts > 1][:5].tolist()}",
                   "one row per sample")
    return np.asarray([index[k] for k in keys], dtype=np.int64)


def _npy(files: _Files, rel: str, n: int, labels_file: str):
    try:
        x = np.load(io.BytesIO(files.read(rel)), allow_pickle=False)
    except Exception as err:
        raise _err(rel, f"cannot be read ({type(err).__name__}: {err})",
                   "save a numeric array with np.save (no Python objects)") from None
    if x.ndim == 0 or x.shape[0] != n:
        raise _err(rel, f"{x.shape[0] if x.ndim else 0} rows (shape {x.shape}) but "
                   f"{labels_file} has {n} ids", f"a .npy holds one row per id of "
                   f"{labels_file}, in its order; for a modality only some samples have, write "
                   f"{Path(rel).stem}.npz with arrays 'ids' and 'x' (or mark rows absent in "
                   f"{PRESENT_FILE})")
    return x, np.ones(n, dtype=bool), None


def _npz(files: _Files, rel: str, n: int, index: dict[str, int]):
    try:
        with np.load(io.BytesIO(files.read(rel)), allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
    except Exception as err:
        raise _err(rel, f"cannot be read ({type(err).__name__}: {err})",
                   "save numeric arrays with np.savez(path, x=..., ids=...)") from None
    unknown = sorted(set(arrs) - set(NPZ_KEYS))
    if unknown or "x" not in arrs:
        raise _err(rel, f"arrays {sorted(arrs)}", "give 'x' and optionally 'ids' (which "
                   "samples the rows are; default: every id of the labels file, in order) and "
                   "'lengths' (true steps of a padded sequence)")
    x = arrs["x"]
    m = x.shape[0] if x.ndim else 0
    for k in ("ids", "lengths"):
        if k in arrs and (arrs[k].ndim != 1 or arrs[k].shape[0] != m):
            raise _err(rel, f"'{k}' of shape {arrs[k].shape} for 'x' of shape {x.shape}",
                       f"one entry of '{k}' per row of 'x'")
    if "ids" not in arrs:
        if m != n:
            raise _err(rel, f"'x' has {m} rows but the labels file has {n} ids and there is "
                       "no 'ids' array", "add 'ids' (which sample each row is)")
        return x, np.ones(n, dtype=bool), arrs.get("lengths")
    rows = _rows_of(arrs["ids"], index, rel)
    full = np.zeros((n, *x.shape[1:]), dtype=x.dtype)
    full[rows] = x
    present = np.zeros(n, dtype=bool)
    present[rows] = True
    lens = None
    if "lengths" in arrs:
        lens = np.zeros(n, dtype=arrs["lengths"].dtype)
        lens[rows] = arrs["lengths"]
    return full, present, lens


PNG_MODES = {"L": 1, "RGB": 3, "I;16": 1, "I": 1, "1": 1, "P": 3}


def _png(files: _Files, rel: str, n: int, index: dict[str, int]):
    from PIL import Image

    folder = files.root / rel
    paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    other = [p.name for p in paths if p.suffix.lower() != ".png" or not p.is_file()]
    if other:
        raise _err(rel, f"holds files that are not PNG images: {other[:5]}",
                   "a modality folder holds only <id>.png files; convert or move the others")
    if not paths:
        raise _err(rel, "no PNG image", "write <id>.png per sample, or remove the folder")
    rows = _rows_of(np.asarray([p.stem for p in paths]), index, rel, "files")
    first = None
    images = []
    for p in paths:
        name = f"{rel}{p.name}"
        try:
            with Image.open(io.BytesIO(files.read(name))) as im:
                im.load()
                mode, size = im.mode, im.size
                if mode == "1":
                    im = im.convert("L")
                elif mode == "P":
                    im = im.convert("RGB")
                a = np.asarray(im)
        except Exception as err:
            why = "not an image file PIL can identify" if "BytesIO" in str(err) else str(err)
            raise _err(name, f"cannot be read as an image ({type(err).__name__}: {why})",
                       "re-save it as a PNG, or delete it (the sample then lacks this "
                       "modality)") from None
        if mode not in PNG_MODES:
            raise _err(name, f"PNG mode {mode!r}", "save greyscale (L) or RGB images "
                       "(e.g. im.convert('RGB') drops an alpha channel)")
        if first is None:
            first = (name, PNG_MODES[mode], size)
        elif (PNG_MODES[mode], size) != first[1:]:
            raise _err(name, f"{PNG_MODES[mode]} channel(s), {size[0]}x{size[1]} pixels, but "
                       f"{first[0]} has {first[1]}, {first[2][0]}x{first[2][1]}",
                       "give every image of a modality the same size and channels (resize / "
                       "convert them first)")
        scale = 65535.0 if mode in ("I;16", "I") else 255.0
        a = a.astype(np.float32) / scale
        images.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    x = np.zeros((n, *images[0].shape), dtype=np.float32)
    x[rows] = np.stack(images)
    present = np.zeros(n, dtype=bool)
    present[rows] = True
    return x, present, None


def _present_csv(files: _Files, mods: list[str], index: dict[str, int], n: int):
    """``{modality: bool[n]}`` from present.csv (absent file: {})."""
    import pandas as pd

    if not (files.root / PRESENT_FILE).is_file():
        return {}
    try:
        df = pd.read_csv(io.BytesIO(files.read(PRESENT_FILE)), dtype=str)
    except Exception as err:
        raise _err(PRESENT_FILE, f"cannot be read ({err})", "write id plus one True/False "
                   "column per modality") from None
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    unknown = [c for c in cols if c != "id" and c not in mods]
    if "id" not in cols or unknown:
        raise _err(PRESENT_FILE, f"columns {cols}" + (f": {unknown} are not modalities "
                                                      f"({mods})" if unknown else ": no 'id'"),
                   "give id plus one True/False column per modality")
    rows = _rows_of(df["id"].to_numpy(), index, PRESENT_FILE)
    if rows.size != n:
        have = set(rows.tolist())
        lack = [k for k, i in index.items() if i not in have]
        raise _err(PRESENT_FILE, f"no row for {len(lack)} id(s) of the labels file, e.g. "
                   f"{lack[:5]}", "give one row per id of the labels file")
    out = {}
    for m in cols[1:]:
        vals = df[m].fillna("").str.strip().str.lower()
        bad = np.flatnonzero(~vals.isin(TRUE | FALSE).to_numpy())
        if bad.size:
            raise _err(PRESENT_FILE, f"column {m!r}: values {sorted(set(df[m].iloc[bad]))[:5]} "
                       f"at lines {[int(i) + 2 for i in bad[:5]]}", "write True or False "
                       "(or 1 / 0)")
        p = np.zeros(n, dtype=bool)
        p[rows] = vals.isin(TRUE).to_numpy()
        out[m] = p
    return out


# ------------------------------------------------------------------------------------------


def read_folder(path, **options) -> MultimodalDataset:
    """The dataset in folder ``path`` (layout in the module docstring and docs/your-data.md).

    Options: ``seed`` and ``val_fraction`` / ``test_fraction`` (default 0.2 each), used only when
    the labels file has no ``split`` column (the split is then drawn per group, stratified by
    label). Every violation raises a :class:`mindkit.data.user.DataError` naming the file, the
    column or samples, and the fix."""
    unknown = sorted(set(options) - set(FOLDER_OPTIONS))
    if unknown:
        raise TypeError(f"dataset folder: unknown option(s) {unknown}; valid options: "
                        f"{', '.join(FOLDER_OPTIONS)}")
    opts = {**FOLDER_OPTIONS, **options}
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; {LAYOUT}")
    files = _Files(root)
    meta = _meta(files)
    task = meta["task"]
    labels_file, df = _labels(files, task)
    ids, keys = _ids(df, labels_file)
    n = len(ids)
    index = {k: i for i, k in enumerate(keys)}
    if len(index) != n:
        seen: set[str] = set()
        rows = [i for i, k in enumerate(keys) if k in seen or seen.add(k)]
        dup = sorted({keys[i] for i in rows})
        raise _err(labels_file, f"{len(dup)} id(s) given more than once, e.g. {dup[:5]} "
                   f"({FolderOrigin(ids, labels_file, {}).rows(rows)})", "one row per sample")
    sources, ignored = _kinds_and_sources(root, meta)
    declared = meta.get("modalities") or {}
    arrays, present, lengths = {}, {}, {}
    for m, (rel, form) in sorted(sources.items()):
        if form == "npy":
            x, p, ln = _npy(files, rel, n, labels_file)
        elif form == "npz":
            x, p, ln = _npz(files, rel, n, index)
        else:
            x, p, ln = _png(files, rel, n, index)
        arrays[m], present[m] = x, p
        if ln is not None:
            lengths[m] = ln
    origin = FolderOrigin(ids, labels_file, {
        m: (f"{rel} (PNG folder)" if form == "png" else rel)
        for m, (rel, form) in sources.items()})
    for m, p in _present_csv(files, sorted(sources), index, n).items():
        lack = np.flatnonzero(p & ~present[m])
        if lack.size:
            raise _err(PRESENT_FILE, f"column {m!r} marks present {origin.rows(lack)} that "
                       f"{sources[m][0]} does not hold", f"add them to {sources[m][0]} or write "
                       "False there")
        present[m] = p & present[m]
    if task == "multilabel":
        cols = [c for c in df.columns if c.startswith("label_")]
        y = df[cols].to_numpy()
        origin.y = f"{labels_file} columns {cols[:4]}{'...' if len(cols) > 4 else ''}"
        names = meta.get("label_names") or [c[len("label_"):] for c in cols]
    else:
        y, names = df["label"].to_numpy(), meta.get("label_names")
        if y.dtype == object and task != "multiclass":
            y = _numeric(y)
    fr = split_fractions(opts["val_fraction"], opts["test_fraction"])
    source = meta.get("source") or f"user folder {root.name}/"
    options_out = {"folder": str(root), "seed": opts["seed"],
                   "val_fraction": fr[1], "test_fraction": fr[2],
                   "split": "given" if "split" in df.columns else "drawn",
                   "content_hash": files.content_hash()}
    return assemble(
        arrays, y, task, present=present, ids=ids,
        splits=df["split"].to_numpy() if "split" in df.columns else None,
        groups=df["group"].to_numpy() if "group" in df.columns else None,
        name=root.name, label_names=names, seed=opts["seed"], split_fractions=fr,
        kinds={m: d["kind"] for m, d in declared.items() if "kind" in d},
        lengths=lengths, vocab_sizes={m: d["vocab_size"] for m, d in declared.items()
                                      if "vocab_size" in d},
        origin=origin, source=source, description=meta.get("description", ""),
        options=options_out,
        card_extra={"folder": str(root), "files": _file_summary(files, sources),
                    "ignored_files": ignored})


def _file_summary(files: _Files, sources: dict) -> dict[str, str]:
    """What was read: each file with its size, each PNG folder with its number of images."""
    out = {rel: f"{(files.root / rel).stat().st_size:,} bytes" for rel in sorted(files.hashes)
           if "/" not in rel}
    for rel, form in sorted(sources.values()):
        if form == "png":
            out[rel] = f"{sum(r.startswith(rel) for r in files.hashes)} PNG images"
    return out


def _numeric(y: np.ndarray) -> np.ndarray:
    """Object labels (text) as numbers where they are; else as they are (refused later)."""
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        return y
