"""The plan of a dataset: which samples (stays or images), their split, labels and the files to
read, decided from the tables alone before any time series or image is read. Pairing, the
leakage guard, missing files and ``max_samples`` are applied here; every sample left out is
counted in ``plan.dropped``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mindkit.common import rng_stream
from mindkit.data.mimic.images import ImageFinder
from mindkit.data.mimic.layout import (
    CXR_LAYOUT,
    EHR_LAYOUT,
    FINDINGS,
    META_FILE,
    PHENOTYPES,
    SPLIT_FILE,
    SPLITS,
    TASK_DIRS,
    TASK_NAMES,
)
from mindkit.data.mimic.pairing import check_image_leakage, leak_error, pair_images
from mindkit.data.mimic.tables import (
    read_all_stays,
    read_chexpert,
    read_cxr_metadata,
    read_cxr_split,
    read_listfiles,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class Plan:
    split: np.ndarray  # int8 per sample: 0 train, 1 val, 2 test
    ids: np.ndarray  # int64: stay_id or image index
    y: np.ndarray  # float32 [N, C]
    ts_files: list[str]  # per sample (relative to ehr_root), "" without ts
    ts_end: np.ndarray  # float64 window end in hours
    cxr_files: list[str]  # per sample (relative to cxr_root), "" without image
    cxr_index: np.ndarray  # int64 metadata row, -1 without image
    dicoms: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "split": self.split.tolist(), "ids": self.ids.tolist(), "y": self.y.tolist(),
            "ts_files": self.ts_files, "ts_end": self.ts_end.tolist(),
            "cxr_files": self.cxr_files, "cxr_index": self.cxr_index.tolist(),
            "dicoms": self.dicoms, "dropped": self.dropped, "info": self.info,
        }

    @classmethod
    def from_json(cls, d: dict, n_labels: int) -> "Plan":
        return cls(
            split=np.asarray(d["split"], dtype=np.int8),
            ids=np.asarray(d["ids"], dtype=np.int64),
            y=np.asarray(d["y"], dtype=np.float32).reshape(-1, n_labels),
            ts_files=list(d["ts_files"]), ts_end=np.asarray(d["ts_end"], dtype=np.float64),
            cxr_files=list(d["cxr_files"]), cxr_index=np.asarray(d["cxr_index"], dtype=np.int64),
            dicoms=list(d["dicoms"]), dropped=dict(d["dropped"]), info=dict(d["info"]),
        )


def _subsample(split_codes: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    """Positions kept: all, or at most ``max_samples`` per split (seeded), in original order."""
    if max_samples is None:
        return np.arange(len(split_codes))
    rng = rng_stream(seed, 4241)
    keep = []
    for s in range(len(SPLITS)):
        pos = np.flatnonzero(split_codes == s)
        if len(pos) > max_samples:
            pos = np.sort(rng.choice(pos, size=max_samples, replace=False))
        keep.append(pos)
    return np.sort(np.concatenate(keep))


def _group_by_split(table: "pd.DataFrame", max_samples: int | None, seed: int,
                    dropped: dict[str, int]) -> tuple["pd.DataFrame", np.ndarray]:
    """``table`` (a ``split`` column) grouped by split in train, val, test blocks (row order kept
    within a block), then drawn down with :func:`_subsample`; returns the rows kept and their
    split codes, and counts the rows not drawn in ``dropped["not_drawn_max_samples"]``."""
    code = {s: i for i, s in enumerate(SPLITS)}
    table = table.iloc[np.argsort(table["split"].map(code).to_numpy(), kind="stable")]
    split_codes = table["split"].map(code).to_numpy(np.int8)
    keep = _subsample(split_codes, max_samples, seed)
    dropped["not_drawn_max_samples"] = int(len(table) - len(keep))
    return table.iloc[keep], split_codes[keep]


def _locate(finder: ImageFinder, cxr_root: Path, cand: "pd.DataFrame") -> list[str]:
    out = []
    for r in cand.itertuples():
        p = finder.find(r.dicom_id, r.subject_id, r.study_id)
        out.append("" if p is None else str(p.relative_to(cxr_root)))
    return out


def _missing_image_error(cand_row, cxr_root: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"image {cand_row.dicom_id}.jpg (subject {cand_row.subject_id}, study "
        f"{cand_row.study_id}) is listed in {cxr_root / META_FILE} but no such file exists "
        f"below {cxr_root}; expected layout:\n{CXR_LAYOUT}\n(pass missing_images='skip' to use "
        "the latest eligible image that exists, counted in the card)"
    )


def plan_stays(task: str, ehr_root: Path, cxr_root: Path, mode: str, views, leakage: str,
                missing_images: str, max_samples: int | None, seed: int,
                max_hours: int | None) -> Plan:
    import pandas as pd

    dropped: dict[str, int] = {}
    lst = read_listfiles(ehr_root, task)
    stays = read_all_stays(ehr_root)
    lst = lst.merge(stays, on="stay_id", how="left")
    no_row = lst["subject_id"].isna()
    dropped["stays_not_in_all_stays_unpaired"] = int(no_row.sum())
    if no_row.any():  # subject from the file name, no pairing possible (no intime)
        subj = lst.loc[no_row, "stay"].str.extract(r"^(\d+)_episode")[0]
        if subj.isna().any():
            r = lst[no_row][subj.isna()].iloc[0]
            raise ValueError(f"{r.listfile}, line {r.line}: stay_id {r.stay_id} is not in "
                             f"{ehr_root / 'root/all_stays.csv'} and the file name {r.stay!r} "
                             "does not start with <subject>_episode")
        lst.loc[no_row, "subject_id"] = subj.astype(np.int64)
    lst["subject_id"] = lst["subject_id"].astype(np.int64)

    # patient-level splits
    subj_splits = lst.groupby("subject_id")["split"].nunique()
    multi = subj_splits[subj_splits > 1]
    if len(multi):
        s = int(multi.index[0])
        where = sorted(set(lst.loc[lst["subject_id"] == s, "split"]))
        raise ValueError(f"{TASK_DIRS[task]} listfiles are not patient-level: {len(multi)} "
                         f"patient(s) have stays in several splits (e.g. subject {s} in {where})")

    # files exist
    for r in lst.itertuples():
        if not (ehr_root / r.file).is_file():
            raise FileNotFoundError(
                f"{r.listfile}, line {r.line} lists {r.stay!r} but {ehr_root / r.file} does not "
                f"exist; expected layout:\n{EHR_LAYOUT}"
            )

    # pairing
    meta = read_cxr_metadata(cxr_root)
    split_file = read_cxr_split(cxr_root)
    window = "ihm" if task == "ihm" else "stay"
    cand = pair_images(lst[~no_row][["stay_id", "subject_id", "intime", "outtime"]], meta,
                       window, views)
    eligible = cand.groupby("stay_id").size()
    finder = ImageFinder(cxr_root)
    if missing_images == "raise":
        cand = cand[cand["rank"] == 0]
        files = _locate(finder, cxr_root, cand)
        for f, r in zip(files, cand.itertuples()):
            if not f:
                raise _missing_image_error(r, cxr_root)
        dropped["images_missing_file"] = 0
        dropped["stays_image_missing_file"] = 0
    else:
        files = _locate(finder, cxr_root, cand)
        cand = cand.assign(file=files)
        n_missing = int((cand["file"] == "").sum())
        with_any = set(cand["stay_id"])
        cand = cand[cand["file"] != ""]
        dropped["images_missing_file"] = n_missing
        dropped["stays_image_missing_file"] = len(with_any - set(cand["stay_id"]))
        cand = cand.groupby("stay_id", sort=False).head(1)
        files = list(cand["file"])
    chosen = cand.assign(file=files).set_index("stay_id")

    # leakage guard: image training data vs val/test patients
    eval_subjects = set(lst.loc[lst["split"] != "train", "subject_id"])
    paired_train = chosen[chosen.index.isin(lst.loc[lst["split"] == "train", "stay_id"])]
    train_images = pd.concat([
        split_file.loc[split_file["split"] == "train", ["subject_id", "dicom_id"]].assign(
            source=f"train in {SPLIT_FILE}"),
        paired_train[["subject_id", "dicom_id"]].assign(source="paired with a train stay"),
    ], ignore_index=True)
    bad = check_image_leakage(train_images, eval_subjects, TASK_NAMES[task])
    dropped["val_test_stays_image_removed_for_leakage"] = 0
    if len(bad):
        if leakage == "raise":
            raise leak_error(bad, TASK_NAMES[task])
        leaky = set(int(s) for s in bad["subject_id"])
        drop = chosen["subject_id"].isin(leaky)
        dropped["val_test_stays_image_removed_for_leakage"] = int(drop.sum())
        chosen = chosen[~drop]

    lst = lst.assign(has_img=lst["stay_id"].isin(chosen.index))
    if mode in ("paired", "image"):
        dropped["stays_without_image"] = int((~lst["has_img"]).sum())
        lst = lst[lst["has_img"]]
    else:
        dropped["stays_without_image"] = 0
    lst, split_codes = _group_by_split(lst, max_samples, seed, dropped)

    labels = ["y_true"] if task == "ihm" else PHENOTYPES
    ch = chosen.reindex(lst["stay_id"])
    has = lst["has_img"].to_numpy()
    ends = lst["period_length"].to_numpy(np.float64)
    if max_hours is not None:
        ends = np.minimum(ends, float(max_hours))
    info = {
        "stays": int(len(lst)),
        "eligible_images_per_paired_stay": round(float(
            eligible.reindex(lst.loc[has, "stay_id"]).mean()), 3) if has.any() else 0.0,
        "window": "[intime, intime + 48 h]" if task == "ihm" else "[intime, outtime]",
        "views": list(views) if views is not None else "all",
    }
    return Plan(
        split=split_codes,
        ids=lst["stay_id"].to_numpy(np.int64),
        y=lst[labels].to_numpy(np.float32).reshape(len(lst), len(labels)),
        ts_files=[] if mode == "image" else list(lst["file"]),
        ts_end=ends,
        cxr_files=[f if h else "" for f, h in zip(ch["file"].fillna("").tolist(), has)],
        cxr_index=np.where(has, ch["index"].fillna(-1).to_numpy(), -1).astype(np.int64),
        dicoms=[d if h else "" for d, h in zip(ch["dicom_id"].fillna("").tolist(), has)],
        dropped=dropped,
        info=info,
    )


def _ehr_eval_subjects(ehr_root: Path | None) -> tuple[set[int], list[str]]:
    """Subjects of the val/test listfiles of every task found under ``ehr_root``."""
    import pandas as pd

    subjects: set[int] = set()
    used = []
    if ehr_root is None:
        return subjects, used
    stays = None
    for task, folder in TASK_DIRS.items():
        if not (ehr_root / folder).is_dir():
            continue
        lst = read_listfiles(ehr_root, task)
        if stays is None:
            stays = read_all_stays(ehr_root)
        ev = lst[lst["split"] != "train"]
        sub = ev.merge(stays[["stay_id", "subject_id"]], on="stay_id", how="left")["subject_id"]
        from_name = ev["stay"].str.extract(r"^(\d+)_episode")[0]
        sub = sub.fillna(pd.to_numeric(from_name, errors="coerce")).dropna()
        subjects |= set(int(s) for s in sub)
        used.append(folder)
    if not used:
        raise FileNotFoundError(f"{ehr_root} holds neither task folder; expected layout:\n"
                                f"{EHR_LAYOUT}")
    return subjects, used


def plan_findings(ehr_root: Path | None, cxr_root: Path, views, leakage: str,
                   missing_images: str, uncertain: str, max_samples: int | None,
                   seed: int) -> Plan:
    dropped: dict[str, int] = {}
    meta = read_cxr_metadata(cxr_root)
    split_file = read_cxr_split(cxr_root)
    labels = read_chexpert(cxr_root, uncertain)
    n_all = len(meta)
    m = meta if views is None else meta[meta["view"].isin(list(views))]
    dropped["images_other_views"] = int(n_all - len(m))  # by design (views), reported
    m = m.merge(split_file[["dicom_id", "split"]], on="dicom_id", how="left")
    dropped["images_without_split"] = int(m["split"].isna().sum())
    m = m[m["split"].notna()]
    m = m.merge(labels.drop(columns="subject_id"), on="study_id", how="left")
    no_lab = m[FINDINGS[0]].isna()
    dropped["images_without_chexpert_labels"] = int(no_lab.sum())
    m = m[~no_lab]

    # leakage guard
    ehr_eval, tasks_checked = _ehr_eval_subjects(ehr_root)
    eval_subjects = ehr_eval | set(m.loc[m["split"] != "train", "subject_id"])
    eval_subjects |= set(split_file.loc[split_file["split"] != "train", "subject_id"])
    train = m[m["split"] == "train"]
    bad = check_image_leakage(
        train.assign(source=f"train in {SPLIT_FILE}")[["subject_id", "dicom_id", "source"]],
        eval_subjects, "mimic_cxr_findings")
    dropped["train_images_removed_for_leakage"] = 0
    if len(bad):
        if leakage == "raise":
            raise leak_error(bad, "mimic_cxr_findings")
        dropped["train_images_removed_for_leakage"] = int(len(bad))
        m = m[~m["dicom_id"].isin(set(bad["dicom_id"]))]

    m, split_codes = _group_by_split(m, max_samples, seed, dropped)

    finder = ImageFinder(cxr_root)
    files = _locate(finder, cxr_root, m)
    missing = np.array([f == "" for f in files], dtype=bool)
    if missing.any() and missing_images == "raise":
        raise _missing_image_error(next(m[missing].itertuples()), cxr_root)
    dropped["images_missing_file"] = int(missing.sum())
    m = m[~missing]
    split_codes = split_codes[~missing]
    files = [f for f, x in zip(files, missing) if not x]
    info = {
        "views": list(views) if views is not None else "all",
        "uncertain": uncertain,
        "leakage_checked_against": (["image split file"] + [f"{t} listfiles" for t in
                                                               tasks_checked]),
    }
    if not tasks_checked:
        info["leakage_note"] = ("no ehr_root: images were checked against the image split "
                                "file only, not against the time-series val/test patients")
    n = len(m)
    return Plan(
        split=split_codes,
        ids=m["index"].to_numpy(np.int64),
        y=m[FINDINGS].to_numpy(np.float32).reshape(n, len(FINDINGS)),
        ts_files=[], ts_end=np.zeros(n),
        cxr_files=files, cxr_index=m["index"].to_numpy(np.int64),
        dicoms=list(m["dicom_id"]), dropped=dropped, info=info,
    )
