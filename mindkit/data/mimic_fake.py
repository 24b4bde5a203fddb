"""A FAKE MIMIC-IV + MIMIC-CXR tree in the MedFuse layout, for tests and a credential-free demo.

:func:`make_fake_mimic_tree` writes, below ``root``::

    FAKE_README.txt
    FAKE-mimic-iv-extracted/    (ehr_root: root/all_stays.csv, in-hospital-mortality/, phenotyping/)
    FAKE-mimic-cxr-jpg/         (cxr_root: the three CSVs and resized/<dicom_id>.jpg)
    FAKE-mimic-iv-note/         (notes_root: note/discharge.csv.gz; with notes=True, the default)

exactly as :mod:`mindkit.data.mimic` expects (the layout in docs/data.md). Nothing in it is
real patient data: every value is drawn from a seeded generator, every root holds a
``FAKE_MIMIC.json`` marker (so :mod:`mindkit.data.mimic` loads it as ``synthetic=True``) and
every JPG carries a "FAKE" comment. Ids look like MIMIC ids (8-digit subject and stay ids,
dicom ids of five 8-hex-digit groups) so the loader's code path is the real one.

**What is generated.** ``n_stays`` ICU stays of about ``0.8 * n_stays`` patients (some have a
second stay), lengths 20-160 h (stays under 48 h are left out of the mortality task, as in the
benchmark), charted events at ``events_per_hour`` with random subsets of the 17 channels
(categorical values drawn from the discretiser's possible values, old and new GCS spellings
mixed), patient-level 70/15/15 splits. Each stay has a latent severity that raises mortality,
some phenotypes, heart and respiratory rate, lowers GCS, and brightens the stay's X-rays, so
models can learn something in a demo. Chest X-rays: about 75% of stays get 1-3 studies taken at
random times from 12 h before admission to 12 h after discharge (so some fall outside the
pairing windows), AP in 80% of studies, PA otherwise, a LATERAL image in some; patients also get
images outside any stay, and ``image_only_share`` more patients have images but no stay (the
image-only samples of ``mimic_cxr_findings``). ``mimic-cxr-ehr-split.csv`` gives each patient's
images the patient's time-series split (``validate`` for ``val``), and a random one to patients
with no stay. Images are ``image_width`` x ``image_height`` greyscale JPGs (default 40 x 48,
not the real 512-pixel width, to stay fast), a few in a nested folder to exercise the
recursive search.

**Stay table and notes** (drawn from their own random streams, so the series, images and
splits above are the same with or without them). ``root/all_stays.csv`` has MedFuse's columns
(``subject_id, hadm_id, stay_id, last_careunit, intime, outtime, los, admittime, dischtime,
deathtime, ethnicity, gender, anchor_age, dod, age, mortality_inunit, mortality,
mortality_inhospital``), one admission (``hadm_id``) per stay; age rises with severity. With
``notes=True`` a ``FAKE-mimic-iv-note/`` root holds ``note/discharge.csv.gz`` in the
MIMIC-IV-Note columns (``note_id, subject_id, hadm_id, note_type, note_seq, charttime,
storetime, text``): about ``notes_share`` of the admissions have a discharge note, of which
about ``hpi_share`` have a ``History of Present Illness:`` section (a few written
``HISTORY OF PRESENT ILLNESS:`` with the text on the header line, or ``HPI:``) whose wording
depends on the stay's severity; about 10% of admissions with a note also have a second
note (``note_seq`` 2, an addendum without HPI), and some notes belong to admissions with no ICU
stay. Every note starts with a line saying it is FAKE.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from mindkit.common import SPLITS, rng_stream
from mindkit.data.mimic import (
    CHEXPERT_FILE,
    FAKE_MARKER,
    FINDINGS,
    IHM_HOURS,
    META_FILE,
    NOTES_FILES,
    PHENOTYPES,
    SPLIT_FILE,
    TASK_DIRS,
    default_discretizer,
)

EHR_DIR, CXR_DIR, NOTE_DIR = "FAKE-mimic-iv-extracted", "FAKE-mimic-cxr-jpg", "FAKE-mimic-iv-note"
STAYS_HEADER = ["subject_id", "hadm_id", "stay_id", "last_careunit", "intime", "outtime", "los",
                "admittime", "dischtime", "deathtime", "ethnicity", "gender", "anchor_age", "dod",
                "age", "mortality_inunit", "mortality", "mortality_inhospital"]
NOTES_HEADER = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime",
                "storetime", "text"]
NOTE_FAKE_LINE = "FAKE synthetic discharge note (mindkit.data.mimic_fake), not MIMIC-IV-Note"
_ETHNICITIES = (["WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO", "ASIAN", "OTHER",
                 "UNKNOWN", "UNABLE TO OBTAIN", "AMERICAN INDIAN/ALASKA NATIVE"],
                [0.62, 0.12, 0.06, 0.04, 0.06, 0.06, 0.02, 0.02])
_UNITS = ["Medical Intensive Care Unit (MICU)", "Surgical Intensive Care Unit (SICU)",
          "Cardiac Vascular Intensive Care Unit (CVICU)", "Coronary Care Unit (CCU)"]
META_HEADER = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
               "ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime",
               "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
               "PatientOrientationCodeSequence_CodeMeaning"]
NOTICE = ("FAKE / SYNTHETIC data written by mindkit.data.mimic_fake.make_fake_mimic_tree: not "
          "MIMIC, no real patient. Same layout as the MedFuse extraction of MIMIC-IV + "
          "MIMIC-CXR, for tests and demos only.")
JPG_COMMENT = b"FAKE synthetic image (mindkit.data.mimic_fake), not MIMIC-CXR"

# channel -> (probability measured per event, normal mean, sd, severity effect, decimals)
_CONT = {
    "Diastolic blood pressure": (0.5, 60.0, 10.0, -4.0, 0),
    "Fraction inspired oxygen": (0.08, 0.4, 0.1, 0.08, 2),
    "Glucose": (0.1, 130.0, 30.0, 10.0, 0),
    "Heart Rate": (0.6, 86.0, 12.0, 9.0, 0),
    "Height": (0.01, 170.0, 10.0, 0.0, 0),
    "Mean blood pressure": (0.5, 78.0, 10.0, -5.0, 1),
    "Oxygen saturation": (0.5, 97.0, 2.0, -1.5, 0),
    "Respiratory rate": (0.5, 19.0, 4.0, 3.0, 0),
    "Systolic blood pressure": (0.5, 118.0, 15.0, -6.0, 0),
    "Temperature": (0.15, 36.8, 0.5, 0.3, 2),
    "Weight": (0.02, 81.0, 15.0, 0.0, 1),
    "pH": (0.05, 7.39, 0.05, -0.03, 2),
}
_GCS = ["Glascow coma scale eye opening", "Glascow coma scale motor response",
        "Glascow coma scale total", "Glascow coma scale verbal response"]


@dataclass
class FakeMimicTree:
    """Where a fake tree lives, and what was generated (for tests)."""

    root: Path
    ehr_root: Path
    cxr_root: Path
    seed: int
    stays: list[dict] = field(default_factory=list)
    """One dict per stay: subject_id, hadm_id, stay_id, episode, intime, outtime, hours, split,
    in_ihm, mortality, phenotypes, age, gender, ethnicity, files ({"ihm": relpath, "pheno":
    relpath})."""
    images: list[dict] = field(default_factory=list)
    """One dict per image: dicom_id, subject_id, study_id, view, when, split, path."""
    notes_root: Path | None = None
    notes: list[dict] = field(default_factory=list)
    """One dict per discharge note: note_id, subject_id, hadm_id, note_seq, hpi (the text of
    its HPI section as written, or None), text."""

    @property
    def options(self) -> dict:
        """``ehr_root`` / ``cxr_root`` options for :func:`mindkit.data.load`."""
        return {"ehr_root": str(self.ehr_root), "cxr_root": str(self.cxr_root)}

    @property
    def notes_options(self) -> dict:
        """:attr:`options` plus ``notes_root`` (for ``modalities=(..., "notes")``)."""
        if self.notes_root is None:
            raise ValueError("this fake tree was written with notes=False: it has no notes root")
        return {**self.options, "notes_root": str(self.notes_root)}

    @property
    def env(self) -> dict:
        """The environment variables that point the loader at this tree."""
        return {"MINDKIT_MIMIC_EHR": str(self.ehr_root), "MINDKIT_MIMIC_CXR": str(self.cxr_root)}

    def stay(self, stay_id: int) -> dict:
        return next(s for s in self.stays if s["stay_id"] == stay_id)


def _dicom(rng) -> str:
    return "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, size=5))


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _study_date_time(t: datetime, rng) -> tuple[str, str]:
    ms = int(rng.integers(0, 1000))
    # StudyTime as HHMMSS.fff without leading zeros (as in the real file, e.g. 84530.123)
    return t.strftime("%Y%m%d"), f"{t.hour * 10000 + t.minute * 100 + t.second}.{ms:03d}"


def write_fake_image(path: str | Path, brightness: float, rng, width: int = 40,
                     height: int = 48) -> Path:
    """A FAKE greyscale chest-X-ray-like JPG: dark lung fields, a blob whose intensity grows
    with ``brightness`` (about 0-1), noise."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = 0.65 - 0.35 * (np.exp(-(((xx - 0.3 * width) / (0.17 * width)) ** 2
                                  + ((yy - 0.5 * height) / (0.3 * height)) ** 2))
                         + np.exp(-(((xx - 0.7 * width) / (0.17 * width)) ** 2
                                    + ((yy - 0.5 * height) / (0.3 * height)) ** 2)))
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.25, 0.75) * width
    img += 0.4 * float(np.clip(brightness, 0, 1)) * np.exp(
        -(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.12 * width) ** 2)))
    img += 0.05 * rng.standard_normal(img.shape)
    arr = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode="L").save(path, quality=90, comment=JPG_COMMENT)
    return path


def write_fake_timeseries(path: str | Path, rows: list[dict]) -> Path:
    """Write a time-series CSV in the benchmark header from ``rows`` (dicts with ``Hours`` and
    any channels; missing channels are empty cells)."""
    header = default_discretizer().header
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def add_fake_image(tree: FakeMimicTree, subject_id: int, when: datetime, view: str = "AP",
                   split: str | None = None, brightness: float = 0.5, seed: int = 0,
                   labels: dict[str, float] | None = None) -> str:
    """Append one FAKE image (metadata, split and CheXpert rows, JPG) to ``tree``; returns its
    ``dicom_id``. ``split`` defaults to the subject's time-series split (``validate`` for
    ``val``), or ``train`` for a subject with no stay."""
    rng = rng_stream(seed, subject_id, abs(int((when - datetime(2000, 1, 1)).total_seconds())))
    dicom = _dicom(rng)
    study = int(9 * 10**7 + rng.integers(0, 10**7))
    if split is None:
        s = next((st["split"] for st in tree.stays if st["subject_id"] == subject_id), "train")
        split = "validate" if s == "val" else s
    date, tm = _study_date_time(when, rng)
    cx = tree.cxr_root
    with (cx / META_FILE).open("a", newline="") as f:
        csv.writer(f).writerow([dicom, subject_id, study, "CHEST (PORTABLE AP)", view, 48, 40,
                                date, tm, "CHEST (PORTABLE AP)", "antero-posterior", "Erect"])
    with (cx / SPLIT_FILE).open("a", newline="") as f:
        csv.writer(f).writerow([dicom, study, subject_id, split])
    labels = labels or {}
    with (cx / CHEXPERT_FILE).open("a", newline="") as f:
        csv.writer(f).writerow([subject_id, study, *[labels.get(c, "") for c in FINDINGS]])
    path = write_fake_image(cx / "resized" / f"{dicom}.jpg", brightness, rng)
    tree.images.append(dict(dicom_id=dicom, subject_id=subject_id, study_id=study, view=view,
                            when=when, split=split, path=path))
    return dicom


def remove_fake_images(tree: FakeMimicTree, subject_id: int) -> int:
    """Delete every metadata / split row (and JPG) of ``subject_id``; returns how many."""
    import pandas as pd

    cx = tree.cxr_root
    meta = pd.read_csv(cx / META_FILE, dtype=str)
    gone = meta[meta["subject_id"] == str(subject_id)]["dicom_id"].tolist()
    meta[meta["subject_id"] != str(subject_id)].to_csv(cx / META_FILE, index=False)
    split = pd.read_csv(cx / SPLIT_FILE, dtype=str)
    split[~split["dicom_id"].isin(gone)].to_csv(cx / SPLIT_FILE, index=False)
    for d in gone:
        for p in cx.rglob(f"{d}.jpg"):
            p.unlink()
    tree.images = [im for im in tree.images if im["dicom_id"] not in gone]
    return len(gone)


def write_fake_notes(tree: FakeMimicTree) -> Path:
    """(Re)write ``note/discharge.csv.gz`` of ``tree.notes_root`` from ``tree.notes``."""
    if tree.notes_root is None:
        raise ValueError("this fake tree was written with notes=False: it has no notes root")
    path = tree.notes_root / NOTES_FILES[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(NOTES_HEADER)
        for n in tree.notes:
            w.writerow([n["note_id"], n["subject_id"], n["hadm_id"], "DS", n["note_seq"],
                        n.get("charttime", ""), n.get("storetime", ""), n["text"]])
    return path


def add_fake_note(tree: FakeMimicTree, subject_id: int, hadm_id: int, text: str,
                  note_seq: int | None = None, hpi: str | None = None) -> str:
    """Append one discharge note (``text`` as given; the FAKE line is not added) to ``tree``
    and rewrite its notes file; returns the ``note_id``. ``note_seq`` defaults to one more
    than the admission's last; ``hpi`` is only recorded in ``tree.notes``."""
    seqs = [n["note_seq"] for n in tree.notes if n["hadm_id"] == hadm_id]
    seq = int(note_seq) if note_seq is not None else max(seqs, default=0) + 1
    note_id = f"{subject_id}-DS-{seq + 100 * len(tree.notes)}"
    tree.notes.append(dict(note_id=note_id, subject_id=int(subject_id), hadm_id=int(hadm_id),
                           note_seq=seq, hpi=hpi, text=text))
    write_fake_notes(tree)
    return note_id


_COMPLAINTS = ["shortness of breath", "chest pain", "fever and cough", "abdominal pain",
               "altered mental status", "fall at home", "weakness", "syncope"]
_HISTORY = ["hypertension", "diabetes", "COPD", "atrial fibrillation", "CHF", "CKD",
            "hyperlipidemia", "cirrhosis"]
_SICK = ["He was hypotensive and started on norepinephrine.", "Lactate was elevated.",
         "Intubated for airway protection.", "Required pressors in the ED.",
         "Found to be septic with rising creatinine."]
_WELL = ["Hemodynamically stable on arrival.", "Mentating well and comfortable.",
         "Vitals were within normal limits.", "Tolerated oral intake.",
         "Ambulating without assistance."]


def _fake_hpi(rng, st: dict) -> str:
    sev = st["severity"]
    sex = "man" if st["gender"] == "M" else "woman"
    hist = " and ".join(rng.choice(_HISTORY, size=int(rng.integers(1, 3)), replace=False))
    lines = [f"{st['age']} year old {sex} with {hist} who presents with "
             f"{rng.choice(_COMPLAINTS)} for {int(rng.integers(1, 6))} days."]
    hr = int(np.clip(86 + 9 * sev + 12 * rng.standard_normal(), 40, 170))
    sbp = int(np.clip(118 - 6 * sev + 15 * rng.standard_normal(), 60, 200))
    lines.append(f"In the ED, initial vitals: HR {hr}, BP {sbp}/{int(sbp * 0.55)}, "
                 f"RR {int(np.clip(19 + 3 * sev, 10, 40))}, O2 sat "
                 f"{int(np.clip(97 - 1.5 * sev, 80, 100))}% on room air.")
    pool = _SICK if sev + 0.7 * rng.standard_normal() > 0.3 else _WELL
    lines += list(rng.choice(pool, size=2, replace=False))
    return "\n".join(lines)


def _fake_note_text(rng, st: dict | None, hpi: str | None, style: int) -> str:
    sex = "M" if st is None or st["gender"] == "M" else "F"
    parts = [NOTE_FAKE_LINE, " ", "Name:  ___                     Unit No:   ___", " ",
             "Admission Date:  ___              Discharge Date:   ___", " ",
             f"Date of Birth:  ___             Sex:   {sex}", " ", "Service: MEDICINE", " ",
             "Allergies: ", "No Known Allergies / Adverse Drug Reactions", " ",
             "Attending: ___.", " ", "Chief Complaint:", str(rng.choice(_COMPLAINTS)), " ",
             "Major Surgical or Invasive Procedure:", "None", " "]
    if hpi is not None:
        if style == 1:
            head, body = hpi.split("\n", 1) if "\n" in hpi else (hpi, "")
            parts += [f"HISTORY OF PRESENT ILLNESS: {head}", *([body] if body else [])]
        else:
            parts += ["HPI:" if style == 2 else "History of Present Illness:", hpi]
        parts.append(" ")
    parts += ["Past Medical History:", ", ".join(rng.choice(_HISTORY, size=2, replace=False)),
              " ", "Social History:", "___", "Family History:", "Non-contributory", " ",
              "Physical Exam:", "ADMISSION PHYSICAL EXAM:", "VS: see flowsheet", " ",
              "Brief Hospital Course:", "Treated as above.", " ",
              "Discharge Instructions:", "Please follow up with your doctor.", " "]
    return "\n".join(parts)


def _fake_notes(tree: FakeMimicTree, rng, notes_share: float, hpi_share: float) -> None:
    for st in tree.stays:
        if rng.random() >= notes_share:
            continue
        style = int(rng.choice(3, p=[0.7, 0.15, 0.15]))
        hpi = _fake_hpi(rng, st) if rng.random() < hpi_share else None
        text = _fake_note_text(rng, st, hpi, style)
        chart = st["dischtime"].replace(hour=0, minute=0, second=0)
        base = dict(subject_id=st["subject_id"], hadm_id=st["hadm_id"],
                    charttime=_fmt(chart), storetime=_fmt(st["dischtime"] + timedelta(hours=5)))
        seq = int(rng.integers(10, 30))
        tree.notes.append(dict(base, note_id=f"{st['subject_id']}-DS-{seq}", note_seq=seq,
                               hpi=hpi, text=text))
        if rng.random() < 0.1:  # an addendum: a later note without HPI
            tree.notes.append(dict(base, note_id=f"{st['subject_id']}-DS-{seq + 1}",
                                   note_seq=seq + 1, hpi=None,
                                   text=_fake_note_text(rng, st, None, 0)))
    for k in range(max(1, len(tree.stays) // 4)):  # admissions without an ICU stay
        subj = int(tree.stays[int(rng.integers(len(tree.stays)))]["subject_id"])
        hpi = "Elective admission for a procedure.\nNo complaints."
        tree.notes.append(dict(subject_id=subj, hadm_id=29_000_000 + k,
                               note_id=f"{subj}-DS-{90 + k}", note_seq=90 + k, hpi=hpi,
                               text=_fake_note_text(rng, None, hpi, 0),
                               charttime="2151-01-01 00:00:00",
                               storetime="2151-01-01 05:00:00"))
    write_fake_notes(tree)


def _events(rng, hours: float, severity: float, per_hour: float) -> list[dict]:
    disc = default_discretizer()
    n = max(1, int(rng.poisson(per_hour * hours)))
    times = np.sort(rng.uniform(0, hours, size=n))
    rows = []
    gcs_total = int(np.clip(round(15 - 3 * max(severity, 0) + rng.normal(0, 1)), 3, 15))
    for t in times:
        r: dict = {"Hours": f"{t:.6f}".rstrip("0").rstrip(".")}
        for c, (p, mu, sd, eff, dec) in _CONT.items():
            if rng.random() < p:
                v = mu + eff * severity + sd * rng.standard_normal()
                r[c] = f"{v:.{dec}f}"
        if rng.random() < 0.12:
            tot = int(np.clip(gcs_total + rng.integers(-1, 2), 3, 15))
            r["Glascow coma scale total"] = str(tot)
            new = rng.random() < 0.5
            eye = 4 if tot >= 13 else (3 if tot >= 9 else 1)
            r["Glascow coma scale eye opening"] = {4: "4 Spontaneously", 3: "3 To speech",
                                                   1: "1 No Response"}[eye] if new else \
                {4: "Spontaneously", 3: "To Speech", 1: "None"}[eye]
            motor = disc.possible_values["Glascow coma scale motor response"]
            r["Glascow coma scale motor response"] = (
                "6 Obeys Commands" if tot >= 13 else motor[int(rng.integers(len(motor)))])
            verbal = disc.possible_values["Glascow coma scale verbal response"]
            r["Glascow coma scale verbal response"] = (
                "5 Oriented" if tot >= 14 else verbal[int(rng.integers(len(verbal)))])
        if rng.random() < 0.05:
            r["Capillary refill rate"] = "1.0" if severity > 1 else "0.0"
        rows.append(r)
    return rows


def make_fake_mimic_tree(
    root: str | Path,
    n_stays: int = 40,
    seed: int = 0,
    events_per_hour: float = 1.0,
    image_only_share: float = 0.25,
    image_width: int = 40,
    image_height: int = 48,
    notes: bool = True,
    notes_share: float = 0.8,
    hpi_share: float = 0.85,
) -> FakeMimicTree:
    """Write a FAKE MIMIC-IV + MIMIC-CXR (+ MIMIC-IV-Note) tree below ``root`` (see the module
    docstring) and return its :class:`FakeMimicTree`. Deterministic for a given ``seed``."""
    if n_stays < 6:
        raise ValueError(f"n_stays must be >= 6 (a few stays per split), got {n_stays}")
    rng = rng_stream(seed, 271828)
    demo_rng = rng_stream(seed, 271828, 1)  # the stay table's extra columns and the notes
    root = Path(root)
    ehr, cxr = root / EHR_DIR, root / CXR_DIR
    for d in (root, ehr, cxr, *([root / NOTE_DIR] if notes else [])):
        d.mkdir(parents=True, exist_ok=True)
        (d / FAKE_MARKER).write_text(json.dumps({"fake": True, "notice": NOTICE,
                                                 "seed": int(seed)}, indent=1))
    (root / "FAKE_README.txt").write_text(NOTICE + "\n")
    tree = FakeMimicTree(root=root, ehr_root=ehr, cxr_root=cxr, seed=int(seed),
                         notes_root=root / NOTE_DIR if notes else None)

    # ---- patients, stays, splits (patient-level)
    n_subj = max(3, int(round(0.8 * n_stays)))
    subjects = 10_000_000 + np.sort(rng.choice(9_000_000, size=n_subj, replace=False))
    perm = rng.permutation(n_subj)
    n_val = max(1, int(round(0.15 * n_subj)))
    n_test = max(1, int(round(0.15 * n_subj)))
    subj_split = {}
    for k, i in enumerate(perm):
        subj_split[int(subjects[i])] = ("val" if k < n_val else
                                        "test" if k < n_val + n_test else "train")
    owner = np.concatenate([np.arange(n_subj), rng.integers(0, n_subj, n_stays - n_subj)])
    base = datetime(2150, 1, 1)
    first_in: dict[int, datetime] = {}
    episodes: dict[int, int] = {}
    pheno_bias = rng.uniform(-2.5, -0.5, size=len(PHENOTYPES))
    pheno_w = rng.choice([-1.0, 0.0, 1.0], size=len(PHENOTYPES))
    for i, o in enumerate(np.sort(owner)):
        subj = int(subjects[o])
        episodes[subj] = episodes.get(subj, 0) + 1
        if subj not in first_in:
            first_in[subj] = base + timedelta(days=int(rng.integers(0, 3000)),
                                              minutes=int(rng.integers(0, 1440)))
            intime = first_in[subj]
        else:
            prev = max(s["outtime"] for s in tree.stays if s["subject_id"] == subj)
            intime = prev + timedelta(days=int(rng.integers(20, 400)),
                                      minutes=int(rng.integers(0, 1440)))
        hours = float(np.round(rng.uniform(20, 160), 4))
        sev = float(rng.standard_normal())
        tree.stays.append(dict(
            subject_id=subj, stay_id=30_000_000 + i, episode=episodes[subj], intime=intime,
            outtime=intime + timedelta(hours=hours), hours=hours, split=subj_split[subj],
            in_ihm=hours >= IHM_HOURS, severity=sev,
            mortality=int(rng.random() < 1 / (1 + np.exp(-(-1.8 + 1.2 * sev)))),
            phenotypes=[int(v) for v in (rng.random(len(PHENOTYPES))
                                         < 1 / (1 + np.exp(-(pheno_bias + pheno_w * sev))))],
            files={},
        ))

    # ---- time series + listfiles
    disc = default_discretizer()
    (ehr / "root").mkdir(exist_ok=True)
    patient: dict[int, dict] = {}
    for s in tree.stays:
        p = patient.setdefault(s["subject_id"], {
            "gender": "M" if demo_rng.random() < 0.56 else "F",
            "ethnicity": str(demo_rng.choice(_ETHNICITIES[0], p=_ETHNICITIES[1])),
            "age": int(np.clip(round(64 + 8 * s["severity"] + 14 * demo_rng.standard_normal()),
                               18, 91)),
        })
        s.update(hadm_id=20_000_000 + s["stay_id"] % 10**7, gender=p["gender"],
                 ethnicity=p["ethnicity"], age=p["age"],
                 admittime=s["intime"] - timedelta(hours=float(demo_rng.uniform(0, 30))),
                 dischtime=s["outtime"] + timedelta(hours=float(demo_rng.uniform(1, 200))))
    with (ehr / "root" / "all_stays.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(STAYS_HEADER)
        for s in tree.stays:
            dead = bool(s["mortality"])
            w.writerow([s["subject_id"], s["hadm_id"], s["stay_id"],
                        _UNITS[int(demo_rng.integers(len(_UNITS)))], _fmt(s["intime"]),
                        _fmt(s["outtime"]), round(s["hours"] / 24, 4), _fmt(s["admittime"]),
                        _fmt(s["dischtime"]), _fmt(s["dischtime"]) if dead else "",
                        s["ethnicity"], s["gender"], s["age"],
                        s["dischtime"].strftime("%Y-%m-%d") if dead else "", s["age"],
                        int(dead and demo_rng.random() < 0.6), int(dead), int(dead)])
    listfiles: dict[tuple[str, str], list[list]] = {}
    for s in tree.stays:
        rows = _events(rng, s["hours"], s["severity"], events_per_hour)
        name = f"{s['subject_id']}_episode{s['episode']}_timeseries.csv"
        folder = "test" if s["split"] == "test" else "train"
        for task in ("ihm", "pheno"):
            if task == "ihm" and not s["in_ihm"]:
                continue
            limit = IHM_HOURS if task == "ihm" else s["hours"]
            rel = f"{TASK_DIRS[task]}/{folder}/{name}"
            write_fake_timeseries(ehr / rel, [r for r in rows if float(r["Hours"]) <= limit])
            s["files"][task] = rel
            if task == "ihm":
                period = 0 if rng.random() < 0.2 else IHM_HOURS  # 0 means 48 in the listfile
                row = [name, period, s["stay_id"], s["mortality"]]
            else:
                row = [name, s["hours"], s["stay_id"], *s["phenotypes"]]
            listfiles.setdefault((task, s["split"]), []).append(row)
    for task in ("ihm", "pheno"):
        labels = ["y_true"] if task == "ihm" else PHENOTYPES
        for split in SPLITS:
            with (ehr / TASK_DIRS[task] / f"{split}_listfile.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["stay", "period_length", "stay_id", *labels])
                w.writerows(listfiles.get((task, split), []))
    del disc

    # ---- chest X-rays
    for name, header in ((META_FILE, META_HEADER),
                         (SPLIT_FILE, ["dicom_id", "study_id", "subject_id", "split"]),
                         (CHEXPERT_FILE, ["subject_id", "study_id", *FINDINGS])):
        with (cxr / name).open("w", newline="") as f:
            csv.writer(f).writerow(header)
    meta_rows, split_rows, chex_rows = [], [], []
    study_counter = [50_000_000]

    def study(subj: int, when: datetime, sev: float, split: str) -> None:
        study_counter[0] += int(rng.integers(1, 50))
        sid = study_counter[0]
        date, tm = _study_date_time(when, rng)
        views = ["AP" if rng.random() < 0.8 else "PA"]
        if rng.random() < 0.3:
            views.append("LATERAL")
        for v in views:
            d = _dicom(rng)
            meta_rows.append([d, subj, sid, f"CHEST ({'PORTABLE ' if v == 'AP' else ''}{v})", v,
                              image_height, image_width, date, tm, "CHEST", v.lower(), "Erect"])
            split_rows.append([d, sid, subj, "validate" if split == "val" else split])
            sub = "nested/deeper" if rng.random() < 0.1 else ""
            path = cxr / "resized" / sub / f"{d}.jpg"
            write_fake_image(path, 0.5 + 0.25 * sev, rng, image_width, image_height)
            tree.images.append(dict(dicom_id=d, subject_id=subj, study_id=sid, view=v,
                                    when=when, split=split, path=path))
        lab = []
        for c in FINDINGS:
            r = rng.random()
            p1 = 0.15 + (0.3 if c in ("Lung Opacity", "Edema") and sev > 0.5 else 0.0)
            lab.append("1.0" if r < p1 else "-1.0" if r < p1 + 0.05 else
                       "0.0" if r < p1 + 0.4 else "")
        chex_rows.append([subj, sid, *lab])

    for s in tree.stays:
        if rng.random() < 0.75:
            for _ in range(int(rng.integers(1, 4))):
                off = rng.uniform(-12, s["hours"] + 12)
                study(s["subject_id"], s["intime"] + timedelta(hours=float(off)),
                      s["severity"], s["split"])
        if rng.random() < 0.2:  # an image long before the stay (outside every window)
            study(s["subject_id"], s["intime"] - timedelta(days=int(rng.integers(2, 30))),
                  s["severity"], s["split"])
    n_only = int(round(image_only_share * n_subj))
    others = 19_000_000 + np.sort(rng.choice(900_000, size=n_only, replace=False))
    for subj in others:
        split = str(rng.choice(["train", "val", "test"], p=[0.7, 0.15, 0.15]))
        for _ in range(int(rng.integers(1, 4))):
            when = base + timedelta(days=int(rng.integers(0, 3000)),
                                    minutes=int(rng.integers(0, 1440)))
            study(int(subj), when, float(rng.standard_normal()), split)
    for name, rows in ((META_FILE, meta_rows), (SPLIT_FILE, split_rows),
                       (CHEXPERT_FILE, chex_rows)):
        with (cxr / name).open("a", newline="") as f:
            csv.writer(f).writerows(rows)
    if notes:
        _fake_notes(tree, demo_rng, float(notes_share), float(hpi_share))
    return tree


__all__ = ["FakeMimicTree", "add_fake_image", "add_fake_note", "make_fake_mimic_tree",
           "remove_fake_images", "write_fake_image", "write_fake_notes", "write_fake_timeseries"]
