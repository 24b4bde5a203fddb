"""Where MIMIC data lives and what it is called: environment variables, folder layouts, file
and column names, the phenotype and finding label lists, and the warning class of the reader."""

from __future__ import annotations

from pathlib import Path

from mindkit.common import SPLITS as SPLITS  # the one definition, re-exported here
from mindkit.common import KitWarning

ENV_EHR, ENV_CXR, ENV_CACHE = "MINDKIT_MIMIC_EHR", "MINDKIT_MIMIC_CXR", "MINDKIT_CACHE"
ENV_NOTE = "MINDKIT_MIMIC_NOTE"
FAKE_MARKER = "FAKE_MIMIC.json"  # written by mimic_fake into every fake root
CACHE_VERSION = 1
TASK_DIRS = {"ihm": "in-hospital-mortality", "pheno": "phenotyping"}
TASK_NAMES = {"ihm": "mimic_ihm", "pheno": "mimic_pheno", "findings": "mimic_cxr_findings"}
MODES = ("all", "paired", "image")
IHM_HOURS = 48
DEFAULT_MAX_HOURS = 48
EPS = 1e-6
RESOURCES = Path(__file__).resolve().parents[1] / "resources"  # mindkit/data/resources
DISCRETIZER_CONFIG = RESOURCES / "medfuse_discretizer.json"

PHENOTYPES = [
    "Acute and unspecified renal failure",
    "Acute cerebrovascular disease",
    "Acute myocardial infarction",
    "Cardiac dysrhythmias",
    "Chronic kidney disease",
    "Chronic obstructive pulmonary disease and bronchiectasis",
    "Complications of surgical procedures or medical care",
    "Conduction disorders",
    "Congestive heart failure; nonhypertensive",
    "Coronary atherosclerosis and other heart disease",
    "Diabetes mellitus with complications",
    "Diabetes mellitus without complication",
    "Disorders of lipid metabolism",
    "Essential hypertension",
    "Fluid and electrolyte disorders",
    "Gastrointestinal hemorrhage",
    "Hypertension with complications and secondary hypertension",
    "Other liver diseases",
    "Other lower respiratory disease",
    "Other upper respiratory disease",
    "Pleurisy; pneumothorax; pulmonary collapse",
    "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
    "Respiratory failure; insufficiency; arrest (adult)",
    "Septicemia (except in labor)",
    "Shock",
]

FINDINGS = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
]

EHR_LAYOUT = """\
<ehr_root>/                                   (e.g. mimic-iv-extracted/)
  root/all_stays.csv                          subject_id, stay_id, intime, outtime, ...
                                              (+ hadm_id for 'notes'; the tab_columns, by
                                              default age, gender, ethnicity, for 'tab')
  in-hospital-mortality/{train,val,test}_listfile.csv    stay,period_length,stay_id,y_true
  in-hospital-mortality/{train,test}/<subject>_episode<k>_timeseries.csv
  phenotyping/{train,val,test}_listfile.csv              stay,period_length,stay_id,<25 labels>
  phenotyping/{train,test}/<subject>_episode<k>_timeseries.csv
  (validation episodes live under train/; see docs/data.md)"""

CXR_LAYOUT = """\
<cxr_root>/                                   (e.g. mimic-cxr-jpg/)
  mimic-cxr-2.0.0-metadata.csv                dicom_id, subject_id, study_id, ViewPosition,
                                              StudyDate (YYYYMMDD), StudyTime (HHMMSS.f)
  mimic-cxr-2.0.0-chexpert.csv                subject_id, study_id, <14 findings>
  mimic-cxr-ehr-split.csv                     dicom_id, study_id, subject_id, split
  **/<dicom_id>.jpg                           anywhere below the root (commonly resized/)"""

NOTES_LAYOUT = """\
<notes_root>/                                 (e.g. mimic-iv-note/2.2/: MIMIC-IV-Note 2.2)
  note/discharge.csv.gz (or discharge.csv)    note_id, subject_id, hadm_id, note_type,
                                              note_seq, charttime, storetime, text
  (the published MIMIC-IV-Note layout; notes_root may also be the note/ folder itself.
  Only the discharge notes are read, and of their columns note_id, subject_id, hadm_id,
  note_seq, text; a note belongs to the stay of <ehr_root>/root/all_stays.csv with the same
  subject_id and hadm_id)"""

META_FILE = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT_FILE = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT_FILE = "mimic-cxr-ehr-split.csv"
META_COLUMNS = ["dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime"]
STAYS_COLUMNS = ["subject_id", "stay_id", "intime", "outtime"]

# the optional modalities (issue 11): ``tab`` (stay-table demographics + first values of the
# time series) and ``notes`` (the history of present illness of the discharge note)
MODALITIES = ("ts", "cxr", "tab", "notes")
DEFAULT_MODALITIES = ("ts", "cxr")
# the first that exists is read (the last two: notes_root pointing at the note/ folder itself)
NOTES_FILES = ("note/discharge.csv.gz", "note/discharge.csv", "discharge.csv.gz",
               "discharge.csv")
NOTES_COLUMNS = ["note_id", "subject_id", "hadm_id", "note_seq", "text"]
NOTES_MAX_TOKENS = 300  # the authors' truncation length
NOTES_MIN_COUNT = 2  # a word enters the vocabulary if seen at least this often in train notes
NOTES_MAX_VOCAB = 20_000  # words kept at most (besides <pad> and <unk>)
TAB_COLUMNS = ("age", "gender", "ethnicity")  # MedFuse's all_stays.csv (MIMIC-IV v1.0 names)
TAB_WINDOW_HOURS = 48  # first values are taken from the first 48 h of the series
# stay-table columns refused as tab features: identifiers, and what is only known at (or
# after) the end of the stay, which would leak the outcome
ID_COLUMNS = ("subject_id", "hadm_id", "stay_id")
LEAKY_STAY_COLUMNS = ("outtime", "los", "dischtime", "deathtime", "dod", "mortality",
                      "mortality_inunit", "mortality_inhospital")


class MimicDataWarning(KitWarning):
    """Something was left out or adjusted while reading MIMIC data (counts in the card)."""

