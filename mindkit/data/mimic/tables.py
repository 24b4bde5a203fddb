"""The CSV tables of the two roots, read with their layout checked: the task listfiles, the stay
table, the image metadata, the image split file and the CheXpert labels. Every reader raises an
error naming the path, line and column, and the expected layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mindkit.common import progress as progress_bar
from mindkit.data.mimic.layout import (
    CHEXPERT_FILE,
    CXR_LAYOUT,
    EHR_LAYOUT,
    ENV_CXR,
    ENV_EHR,
    ENV_NOTE,
    FINDINGS,
    IHM_HOURS,
    META_COLUMNS,
    META_FILE,
    NOTES_COLUMNS,
    NOTES_FILES,
    NOTES_LAYOUT,
    PHENOTYPES,
    SPLIT_FILE,
    SPLITS,
    STAYS_COLUMNS,
    TASK_DIRS,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def table_roots(ehr_root, cxr_root, need_ehr: bool, need_cxr: bool
                ) -> tuple[Path | None, Path | None]:
    def one(value, env, what, layout, needed):
        value = value if value is not None else os.environ.get(env)
        if value is None or str(value) == "":
            if needed:
                raise FileNotFoundError(
                    f"no {what} root: pass {'ehr_root' if env == ENV_EHR else 'cxr_root'}=... "
                    f"or set the environment variable {env} to a folder laid out as:\n{layout}"
                )
            return None
        p = Path(value).expanduser().resolve()
        if not p.is_dir():
            raise FileNotFoundError(f"{what} root {p} does not exist or is not a folder; "
                                    f"expected a folder laid out as:\n{layout}")
        return p

    return (one(ehr_root, ENV_EHR, "MIMIC-IV time-series", EHR_LAYOUT, need_ehr),
            one(cxr_root, ENV_CXR, "MIMIC-CXR", CXR_LAYOUT, need_cxr))


def resolve_notes_root(notes_root) -> Path:
    """The MIMIC-IV-Note root: ``notes_root`` or ``$MINDKIT_MIMIC_NOTE``, an existing folder."""
    value = notes_root if notes_root is not None else os.environ.get(ENV_NOTE)
    if value is None or str(value) == "":
        raise FileNotFoundError(
            "the 'notes' modality needs the MIMIC-IV-Note root: pass notes_root=... or set the "
            f"environment variable {ENV_NOTE} to a folder laid out as:\n{NOTES_LAYOUT}\n(or drop "
            "'notes' from modalities)"
        )
    p = Path(value).expanduser().resolve()
    if not p.is_dir():
        raise FileNotFoundError(f"notes root {p} does not exist or is not a folder; expected a "
                                f"folder laid out as:\n{NOTES_LAYOUT}")
    return p


def notes_file(notes_root: Path) -> Path:
    """``note/discharge.csv.gz`` below ``notes_root`` (or ``note/discharge.csv``, or either
    directly in ``notes_root`` when it is the ``note/`` folder), or an error naming the file
    and what would fix it."""
    for rel in NOTES_FILES:
        if (notes_root / rel).is_file():
            return notes_root / rel
    raise FileNotFoundError(
        f"notes root {notes_root} has no {NOTES_FILES[0]} (nor {NOTES_FILES[1]}, nor either "
        "directly in it): pass "
        "notes_root=... pointing at your copy of MIMIC-IV-Note 2.2 (the folder that holds "
        f"note/), or drop 'notes' from modalities; expected layout:\n{NOTES_LAYOUT}"
    )


def require_file(path: Path, what: str, layout: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; expected layout:\n{layout}")
    return path


def _read_table(path: Path, columns: list[str], layout: str, **kw) -> "pd.DataFrame":
    import pandas as pd

    try:
        df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; expected columns {columns}:\n{layout}") from None
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: malformed CSV ({e}); expected columns {columns}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected columns {columns} "
                         f"(found {list(df.columns)}); layout:\n{layout}")
    return df


def _int_column(df: "pd.DataFrame", col: str, path: Path) -> np.ndarray:
    import pandas as pd

    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | (v != v.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: column {col!r} holds {df[col].iloc[i]!r}; "
                         "expected an integer id")
    return v.to_numpy().astype(np.int64)


def _datetime_column(df: "pd.DataFrame", col: str, path: Path) -> "pd.Series":
    import pandas as pd

    v = pd.to_datetime(df[col], errors="coerce")
    if v.isna().any():
        i = int(np.flatnonzero(v.isna().to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: column {col!r} holds {df[col].iloc[i]!r}; "
                         "expected a date-time such as 2150-01-01 08:00:00")
    return v


def read_listfiles(ehr_root: Path, task: str) -> "pd.DataFrame":
    """The three listfiles of ``task`` (``ihm``/``pheno``) as one table.

    Columns: ``split``, ``stay`` (file name), ``file`` (path relative to ``ehr_root``),
    ``stay_id``, ``period_length`` (hours; ihm: 48), ``line`` (1-based line in the listfile),
    ``listfile`` and the label columns (``y_true`` or the 25 :data:`PHENOTYPES`).
    """
    import pandas as pd

    tdir = ehr_root / TASK_DIRS[task]
    if not tdir.is_dir():
        raise FileNotFoundError(f"task folder {tdir} does not exist; expected layout:\n"
                                f"{EHR_LAYOUT}")
    labels = ["y_true"] if task == "ihm" else PHENOTYPES
    cols = ["stay", "period_length", "stay_id", *labels]
    frames = []
    for split in SPLITS:
        path = require_file(tdir / f"{split}_listfile.csv", "listfile", EHR_LAYOUT)
        df = _read_table(path, cols, EHR_LAYOUT, dtype={"stay": str}, keep_default_na=False)
        df = df[cols].copy()
        df["stay"] = df["stay"].astype(str).str.strip()
        if (df["stay"] == "").any():
            i = int(np.flatnonzero((df["stay"] == "").to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: empty 'stay' (expected a file name such "
                             "as 10000032_episode1_timeseries.csv)")
        df["stay_id"] = _int_column(df, "stay_id", path)
        pl = pd.to_numeric(df["period_length"], errors="coerce")
        if pl.isna().any() or (pl < 0).any():
            i = int(np.flatnonzero((pl.isna() | (pl < 0)).to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: column 'period_length' holds "
                             f"{df['period_length'].iloc[i]!r}; expected hours >= 0")
        df["period_length"] = float(IHM_HOURS) if task == "ihm" else pl.astype(float)
        for c in labels:
            v = pd.to_numeric(df[c], errors="coerce")
            bad = ~v.isin([0, 1])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"{path}, line {i + 2}: label column {c!r} holds "
                                 f"{df[c].iloc[i]!r}; expected 0 or 1")
            df[c] = v.astype(np.float32)
        folder = "test" if split == "test" else "train"
        df["file"] = [f"{TASK_DIRS[task]}/{folder}/{s}" for s in df["stay"]]
        df["split"] = split
        df["line"] = np.arange(len(df)) + 2
        df["listfile"] = str(path)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    dup = out["stay_id"].duplicated(keep=False)
    if dup.any():
        rows = out[dup].head(4)
        where = "; ".join(f"{r.listfile} line {r.line}" for r in rows.itertuples())
        raise ValueError(f"stay_id {int(rows['stay_id'].iloc[0])} is listed more than once in "
                         f"the {TASK_DIRS[task]} listfiles ({where}); each stay belongs to one "
                         "split")
    return out


def read_all_stays(ehr_root: Path) -> "pd.DataFrame":
    path = require_file(ehr_root / "root" / "all_stays.csv", "stay table", EHR_LAYOUT)
    df = _read_table(path, STAYS_COLUMNS, EHR_LAYOUT)
    out = df[STAYS_COLUMNS].copy()
    out["subject_id"] = _int_column(df, "subject_id", path)
    out["stay_id"] = _int_column(df, "stay_id", path)
    out["intime"] = _datetime_column(df, "intime", path)
    out["outtime"] = _datetime_column(df, "outtime", path)
    return out.drop_duplicates("stay_id", keep="first")


def read_cxr_metadata(cxr_root: Path) -> "pd.DataFrame":
    """Image metadata with ``index`` (row, 0-based) and ``when`` (study date-time)."""
    import pandas as pd

    path = require_file(cxr_root / META_FILE, "image metadata", CXR_LAYOUT)
    df = _read_table(path, META_COLUMNS, CXR_LAYOUT,
                     dtype={"dicom_id": str, "ViewPosition": str, "StudyDate": str,
                            "StudyTime": str})
    out = pd.DataFrame({
        "index": np.arange(len(df), dtype=np.int64),
        "dicom_id": df["dicom_id"].astype(str).str.strip(),
        "subject_id": _int_column(df, "subject_id", path),
        "study_id": _int_column(df, "study_id", path),
        "view": df["ViewPosition"].fillna("").astype(str).str.strip(),
    })
    date = df["StudyDate"].fillna("").astype(str).str.strip().str.slice(0, 8)
    tnum = pd.to_numeric(df["StudyTime"], errors="coerce")
    bad_t = tnum.isna() | (tnum < 0) | (tnum >= 240000)
    when = pd.to_datetime(date + tnum.fillna(0).astype(np.int64).map("{:06d}".format),
                          format="%Y%m%d%H%M%S", errors="coerce")
    bad = bad_t | when.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, line {i + 2}: StudyDate {df['StudyDate'].iloc[i]!r} / StudyTime "
            f"{df['StudyTime'].iloc[i]!r} is not a valid date-time (expected YYYYMMDD and "
            "HHMMSS.f, e.g. 21800506 and 213014.531)"
        )
    out["when"] = when
    dup = out["dicom_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: dicom_id {out['dicom_id'].iloc[i]!r} appears "
                         "twice; each image has one metadata row")
    return out


def read_cxr_split(cxr_root: Path) -> "pd.DataFrame":
    path = require_file(cxr_root / SPLIT_FILE, "image split file", CXR_LAYOUT)
    cols = ["dicom_id", "study_id", "subject_id", "split"]
    df = _read_table(path, cols, CXR_LAYOUT, dtype={"dicom_id": str, "split": str})
    out = df[cols].copy()
    out["dicom_id"] = out["dicom_id"].astype(str).str.strip()
    out["subject_id"] = _int_column(df, "subject_id", path)
    s = out["split"].astype(str).str.strip().str.lower().replace({"validate": "val"})
    bad = ~s.isin(SPLITS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: split {df['split'].iloc[i]!r}; expected train, "
                         "validate or test")
    out["split"] = s
    dup = out["dicom_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}: dicom_id {out['dicom_id'].iloc[i]!r} is "
                         "assigned twice; each image belongs to one split")
    return out


def read_chexpert(cxr_root: Path, uncertain: str = "zero") -> "pd.DataFrame":
    """CheXpert labels per study: 1 -> 1; 0 and empty -> 0; -1 (uncertain) -> ``uncertain``."""
    import pandas as pd

    path = require_file(cxr_root / CHEXPERT_FILE, "CheXpert label file", CXR_LAYOUT)
    df = _read_table(path, ["subject_id", "study_id", *FINDINGS], CXR_LAYOUT)
    out = pd.DataFrame({"subject_id": _int_column(df, "subject_id", path),
                        "study_id": _int_column(df, "study_id", path)})
    for c in FINDINGS:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = ~(v.isna() | v.isin([1, 0, -1])) | (df[c].notna() & v.isna())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{path}, line {i + 2}: column {c!r} holds {df[c].iloc[i]!r}; "
                             "expected 1, 0, -1 or empty")
        v = v.fillna(0)
        out[c] = np.where(v == -1, 1.0 if uncertain == "one" else 0.0, v).astype(np.float32)
    return out.drop_duplicates("study_id", keep="first")


def read_stay_columns(ehr_root: Path, columns: list[str], fix: str) -> "pd.DataFrame":
    """``stay_id`` (int) and ``columns`` (text, ``""`` where empty) of ``root/all_stays.csv``,
    one row per stay (the first row of a repeated stay). A missing column raises an error
    naming it, the file, the columns found and ``fix`` (what the caller can do about it)."""
    path = require_file(ehr_root / "root" / "all_stays.csv", "stay table", EHR_LAYOUT)
    df = _read_table(path, ["stay_id"], EHR_LAYOUT, dtype=str)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (found {list(df.columns)}); "
                         f"{fix}")
    out = df[list(dict.fromkeys(columns))].fillna("").astype(str)
    out = out.apply(lambda c: c.str.strip())
    out.insert(0, "stay_id", _int_column(df, "stay_id", path))
    return out.drop_duplicates("stay_id", keep="first").reset_index(drop=True)


def read_discharge_notes(notes_root: Path, hadm_ids, progress: bool = False,
                         label: str = "") -> tuple["pd.DataFrame", dict[str, int]]:
    """The discharge notes of the admissions ``hadm_ids``: ``note_id, subject_id, hadm_id,
    note_seq, text`` (ids as int64, ``note_seq`` as float, missing last), read in chunks so that
    only these admissions' notes are held. Also returns counts: ``notes_read`` (rows in the
    file), ``notes_kept`` and ``notes_without_ids`` (rows whose subject_id or hadm_id is not
    an integer, skipped)."""
    import sys

    import pandas as pd

    path = notes_file(notes_root)
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.EmptyDataError, EOFError, OSError) as e:
        raise ValueError(f"{path} cannot be read as a (gzipped) CSV ({e}); expected columns "
                         f"{NOTES_COLUMNS}:\n{NOTES_LAYOUT}") from None
    missing = [c for c in NOTES_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected columns {NOTES_COLUMNS} "
                         f"(found {header}); is this MIMIC-IV-Note's discharge.csv(.gz)? "
                         f"layout:\n{NOTES_LAYOUT}")
    wanted = set(int(h) for h in hadm_ids)
    counts = {"notes_read": 0, "notes_kept": 0, "notes_without_ids": 0}
    frames = []
    reader = pd.read_csv(path, usecols=lambda c: str(c).strip() in NOTES_COLUMNS,
                         dtype=str, keep_default_na=False, chunksize=20_000)
    for chunk in progress_bar(reader, f"{label}: reading discharge notes", progress,
                              leave=False, mininterval=0.5, file=sys.stderr):
        chunk.columns = [str(c).strip() for c in chunk.columns]
        counts["notes_read"] += len(chunk)
        subj = pd.to_numeric(chunk["subject_id"], errors="coerce")
        hadm = pd.to_numeric(chunk["hadm_id"], errors="coerce")
        ok = subj.notna() & hadm.notna()
        counts["notes_without_ids"] += int((~ok).sum())
        keep = ok & hadm.isin(wanted)
        if keep.any():
            frames.append(pd.DataFrame({
                "note_id": chunk.loc[keep, "note_id"].astype(str).str.strip(),
                "subject_id": subj[keep].astype(np.int64),
                "hadm_id": hadm[keep].astype(np.int64),
                "note_seq": pd.to_numeric(chunk.loc[keep, "note_seq"], errors="coerce"),
                "text": chunk.loc[keep, "text"].astype(str),
            }))
    cols = ["note_id", "subject_id", "hadm_id", "note_seq", "text"]
    out = (pd.concat(frames, ignore_index=True) if frames
           else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    counts["notes_kept"] = int(len(out))
    return out, counts
