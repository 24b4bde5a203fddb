"""MIMIC-IV time series + MIMIC-CXR chest X-rays in the MedFuse layout (credentialed data), with
optional tabular data and MIMIC-IV-Note discharge-note text.

Three datasets read a user's own copy of the data, laid out as the MedFuse / mimic3-benchmarks
extraction writes it (docs/data.md; :data:`EHR_LAYOUT`, :data:`CXR_LAYOUT`;
notes: :data:`NOTES_LAYOUT`):

- ``mimic_ihm``: in-hospital mortality from the first 48 h (binary, ``y`` float ``[N, 1]``);
- ``mimic_pheno``: 25 acute-care phenotypes of the stay (multilabel, ``y`` float ``[N, 25]``,
  names in :data:`PHENOTYPES`, the listfile order);
- ``mimic_cxr_findings``: the 14 CheXpert findings per image (multilabel, :data:`FINDINGS`), an
  image-only dataset for pre-training image teachers.

Roots come from the ``ehr_root`` / ``cxr_root`` options or the environment variables
``MINDKIT_MIMIC_EHR`` / ``MINDKIT_MIMIC_CXR``. :func:`mindkit.data.mimic_fake.make_fake_mimic_tree`
writes a small FAKE tree in the same layout (for tests and a credential-free demo); a tree with
the fake marker file is loaded as ``synthetic=True``.

**Modalities.** ``ts`` (``timeseries``, ``(T, 76)``): the standard 76 hourly features (below).
``cxr`` (``image``, ``(1, S, S)``, values in ``[0, 1]``): the image read with Pillow as
greyscale, shorter side resized to ``resize`` (default ``round(S * 256 / 224)``, MedFuse's
256 -> 224 ratio), centre-cropped to ``S = image_size`` (default 64, small enough for CPU).
The stored tensors are *not* augmented; :func:`augment_cxr` is the train-time augmentation
(random affine + brightness/contrast, torch only). ``mimic_ihm`` and ``mimic_pheno`` add, on
request, the two modalities the clinical three-modality setting uses beside the X-ray:
``modalities=("ts", "cxr", "tab")``, ``("ts", "cxr", "notes")`` or ``("ts", "cxr", "tab",
"notes")`` (a list or a comma-separated string; ``ts`` and ``cxr`` are always built; not in
``mode="image"``). Without them nothing changes: not the samples, not the tensors, not the
card, not the cache key.

**Tabular** (``tab``, ``tabular``, ``(F,)``; names in ``card["features"]["tab"]``). Columns
``tab_columns`` of ``root/all_stays.csv`` (default :data:`TAB_COLUMNS` = ``age, gender,
ethnicity``), then the first value of each of ``tab_channels`` (default: the discretiser's 12
continuous channels). A column whose non-empty values are all numbers is numeric and gives
``"<c>"`` + ``"<c>: missing"``; any other column is categorical and gives ``"<c>-><value>"``
for each value seen in train (sorted) + ``"<c>->(missing or unseen)"``. A channel gives
``"first <channel>"`` + ``"first <channel>: missing"``: the value of the first hourly bin among
the first 48 h (``TAB_WINDOW_HOURS``; fewer with ``max_hours`` < 48) that holds a measurement,
read from the unstandardised discretised series (so the last value within that hour). Numeric
values missing are imputed with the train median of the observed values (0 if none was
observed) and flagged; with ``standardize`` (default) they are standardised with the train mean
and std (ddof 1) of the observed values; statistics and categories are fitted on this dataset's
train samples (``card["preprocessing"]["tab"]``, with missing-value counts), never on val/test.
Identifier columns and columns known only at or after the end of the stay (:data:`ID_COLUMNS`,
:data:`LEAKY_STAY_COLUMNS`: ``outtime, los, dischtime, deathtime, dod, mortality*``) are
refused. ``present["tab"]`` is False (zeros) only for a stay with no row in the stay table
(when ``tab_columns`` is not empty). *Assumption:* the layout requires only the stay-table
columns the time-series reader uses (``subject_id, stay_id, intime, outtime``); that MedFuse's
``all_stays.csv`` also holds ``hadm_id, age, gender, ethnicity`` (``age`` = ``anchor_age``,
``ethnicity`` from the admissions table of MIMIC-IV v1.0, called ``race`` from v2.0) is our
reading of MedFuse's ``mimic4extract`` code.

**Notes** (``notes``, ``tokens``, ``(notes_max_tokens,)`` long ids, ``variable_length``: lengths
in ``Split.lengths["notes"]``, 0 where absent; vocabulary in ``card["vocab"]``). The
history-of-present-illness section of the stay's MIMIC-IV-Note 2.2 discharge note
(``<notes_root>/note/discharge.csv.gz``, or ``discharge.csv``; ``notes_root`` or
``$MINDKIT_MIMIC_NOTE`` is the MIMIC-IV-Note version folder or its ``note/`` folder; columns
as published: ``note_id, subject_id, hadm_id, note_type, note_seq, charttime, storetime,
text``, of which ``note_id, subject_id, hadm_id, note_seq, text`` are read, in chunks,
keeping only the admissions of the planned stays). A note belongs
to the stay of ``all_stays.csv`` with the same ``subject_id`` and ``hadm_id`` (MedFuse keeps
admissions with a single ICU stay, so an admission is a stay); an admission with several
discharge notes uses the first in ``note_seq`` order that has an HPI section.
:func:`extract_hpi` takes the text after a line-initial ``History of Present Illness:`` (any
case; also ``HPI:``; text on the header line is kept) up to the next section header line
(:data:`SECTION_HEADER`: a line starting with one to eight capitalised words, short connectors
such as ``of``/``or``/``on`` allowed, then a colon, e.g. ``Past Medical History:``,
``Major Surgical or Invasive Procedure:``, ``PHYSICAL EXAM:``; a sentence such as ``In the ED,
initial vitals:`` is not one). :func:`tokenize`: lowercase, tokens are runs of letters or
numbers (``2.5`` is one token), everything else separates (the ``___`` de-identification marks
vanish). The vocabulary (:func:`fit_vocab`) is fitted on the *train* samples' notes only,
counting their first ``notes_max_tokens`` tokens: ``<pad>`` = 0, ``<unk>`` = 1, then words
seen at least ``notes_min_count`` times (default 2), most frequent first (ties alphabetical),
at most ``notes_max_vocab`` (default 20,000); other words are 1. Sequences keep their first
``notes_max_tokens`` tokens (default 300, as the authors' code) and are zero-padded.
``present["notes"]`` is False (zeros, length 0) for a stay without a discharge note, without an
HPI section, or whose HPI has no token; ``card["notes"]`` counts each case and maps each stay
to the ``note_id`` used. **Leakage caveat** (also in the card): discharge notes are written at
discharge, so using them to predict in-hospital mortality leaks future information; the HPI is
kept because it describes the presentation, but the note itself is written later, by someone
who knows the outcome. *Assumptions:* the header wording follows the published MIMIC-IV-Note
discharge template; the extractor is tested on hand-written notes, not on real ones, so check
``card["notes"]["counts"]["stays_note_without_hpi"]`` on your copy.

**The 76 features** (:data:`FEATURE_NAMES`; mimic3-benchmarks ``Discretizer`` with timestep 1 h,
``impute_strategy="previous"``, ``start_time="zero"``, masks stored; configuration shipped as
``mindkit/data/resources/medfuse_discretizer.json``). Per channel, in ``id_to_channel`` order,
either the one-hot columns of a categorical channel (``"<channel>-><value>"``, in the config's
``possible_values`` order) or the single value of a continuous channel (``"<channel>"``); then
17 masks (``"mask-><channel>"``) in channel order: 2 + 1 + 1 + 8 + 12 + 13 + 12 + 10 continuous
= 59 value columns, + 17 masks = 76. Hour bins ``k`` cover ``(k, k + 1]`` hours after ICU
admission (bin 0 also holds time 0); within a bin the last observed value wins; an empty bin
repeats the channel's previous value, or its normal value before any measurement; a mask is 1
where the bin held a real measurement. Events before time 0 are dropped (counted in the card);
events after the window are outside the task (counted, not warned about). A numeric
categorical value written differently (``"15.0"`` for GCS total ``"15"``) is matched by value.
Only the 12 continuous columns (:data:`CONTINUOUS_COLUMNS`) are standardised, with the mean and
std over the valid hourly steps of the *train* split's stays (mimic3-benchmarks' Normalizer);
the statistics are saved with the cache and in ``card["preprocessing"]``; pass
``normalizer=`` (a dict or a JSON file written by :func:`save_normalizer`) to reuse another
dataset's statistics (e.g. a teacher's).

**Windows.** ``mimic_ihm``: T = 48 fixed (``period_length`` 0 means 48). ``mimic_pheno``: the
whole stay is the window (``period_length`` hours), but the tensor keeps only the *first*
``max_hours`` hours (default 48: the same ``(48, 76)`` shape as ``mimic_ihm`` and the synthetic
sets, so the same encoders apply, and memory stays near 0.85 GB for all 59k stays; about half of
the stays are shorter than 48 h and are kept whole). ``lengths["ts"] = min(ceil(stay hours),
max_hours)`` (at least 1); ``max_hours=None`` keeps whole stays (T = the longest one).

**Pairing** (MedFuse): image metadata joined to ``root/all_stays.csv`` on ``subject_id``; keep
images whose study date-time lies in ``[intime, intime + 48 h]`` (mortality; later images would
leak the label) or ``[intime, outtime]`` (phenotyping), with ``ViewPosition`` in ``views``
(default AP only); take the latest per stay (ties: the later metadata row). ``mode``:

- ``"all"`` (default): every listfile stay; ``cxr`` present where a paired image exists
  (time-series-only samples included, ``present["cxr"]`` False and zeros);
- ``"paired"``: only stays with a paired image;
- ``"image"``: the paired stays' images alone (``cxr`` modality only) with the task's labels,
  to train an image teacher on the task without reading any time series.

Images of patients with no stay in the task have no task label, so they are not samples of
``mimic_ihm`` / ``mimic_pheno``; they are samples of ``mimic_cxr_findings``.

**Splits.** Stays: train / val / test from the listfiles (patient-level by construction; a
patient in two listfile splits is refused). A paired image follows its stay. Findings images:
``mimic-cxr-ehr-split.csv`` (``validate`` is ``val``). ``ids``: ``stay_id`` (ihm, pheno) or the
image index (findings). ``items[split]["ts"]`` holds stay ids, ``items[split]["cxr"]`` image
indices = the row of the dicom in ``mimic-cxr-2.0.0-metadata.csv`` (0-based, header excluded;
``card["cxr_dicoms"]`` maps the indices used back to ``dicom_id``).

**Leakage guard.** Image training data is every image the split file puts in ``train`` plus
the images of this dataset's train samples. If a patient of a val/test stay (or, for
findings, a val/test image) has an image there, the loader refuses with an error naming the
patients and images (``leakage="raise"``, default); ``leakage="drop"`` instead removes those
images (val/test stays lose their image; findings train images are dropped) and counts them.

**Errors and counts.** A missing folder, file or column, an unknown task or mode, a
malformed row (a non-numeric ``Hours``, an unknown categorical value, a label that is not 0/1)
raises an error naming the path, line and column and the expected layout. For ``tab`` and
``notes``, a missing notes root or ``note/discharge.csv.gz``, a missing notes column, or a
stay-table column that ``tab_columns`` names (or ``hadm_id``, for notes) that is not there,
raises an error naming it and what would fix it (pass ``notes_root=...`` / ``tab_columns=...``,
or drop the modality); ``tab_*`` / ``notes_*`` options given without their modality are
refused.
``bad_values="drop"`` drops unparseable cells instead, and ``missing_images="skip"`` uses the
latest eligible image that exists. Everything left out is counted in ``card["dropped"]``
(zeros included) and announced with a :class:`MimicDataWarning`, except what the options ask
to leave out (other views, stays without an image in ``"paired"`` mode, ``max_samples``),
which is counted only; events outside the window are counted in ``card["events"]``.

**Cache.** The first load shows tqdm progress and writes the assembled samples, the discretised
(unstandardised) series, the uint8 images and the normaliser under
``cache_dir/mimic/<dataset>-<key>/`` (``cache_dir`` default ``$MINDKIT_CACHE`` or ``data/cache/``
at the repository root). ``key`` hashes the configuration, the discretiser configuration and
the path, size and modification time of every table read (with ``tab`` / ``notes``: also the
modalities, ``tab_columns``, the notes root and the notes file; the entry then holds the
stay-table values and the HPI texts in ``extras.json``, and the vocabulary, first values,
imputation and standardisation are redone from them on every load, so ``tab_channels`` and the
``notes_*`` options do not change the key); the entry also records the path,
size and mtime of every time-series and image file used and is rebuilt when any of them
changes. A warm load reads no CSV and decodes no JPG (``benchmarks/mimic_cache.py``).

**Where things are** (one module per job; every public name is importable from here):

- :mod:`~mindkit.data.mimic.layout`: environment variables, folder layouts, file and column
  names, :data:`PHENOTYPES`, :data:`FINDINGS`, :class:`MimicDataWarning`;
- :mod:`~mindkit.data.mimic.discretizer`: :class:`Discretizer`, its configuration, the 76
  :data:`FEATURE_NAMES`, and the normaliser (:func:`fit_normalizer`, :func:`apply_normalizer`,
  :func:`save_normalizer`);
- :mod:`~mindkit.data.mimic.images`: :func:`load_cxr_image`, :func:`augment_cxr`, the image
  finder;
- :mod:`~mindkit.data.mimic.tables`: the CSV readers (:func:`read_listfiles`,
  :func:`read_all_stays`, :func:`read_cxr_metadata`, :func:`read_cxr_split`,
  :func:`read_chexpert`, :func:`read_stay_columns`, :func:`read_discharge_notes`) and their
  checks;
- :mod:`~mindkit.data.mimic.pairing`: :func:`pair_images` and the leakage guard
  (:func:`check_image_leakage`);
- :mod:`~mindkit.data.mimic.plan`: which samples and files a dataset uses, and what is dropped;
- :mod:`~mindkit.data.mimic.tab`: the ``tab`` features (:func:`first_values`,
  :func:`tab_features`);
- :mod:`~mindkit.data.mimic.notes`: the ``notes`` tokens (:func:`extract_hpi`,
  :func:`tokenize`, :func:`fit_vocab`, :func:`encode_tokens`);
- :mod:`~mindkit.data.mimic.cache`: :func:`default_cache_dir`, the cache key, reading and writing
  an entry;
- :mod:`~mindkit.data.mimic.assemble`: arrays -> dataset, splits and card;
- :mod:`~mindkit.data.mimic.build`: :func:`build_mimic` and the registered :func:`build_ihm`,
  :func:`build_pheno`, :func:`build_findings`.
"""


from __future__ import annotations

from mindkit.data.mimic.build import (
    FINDINGS_OPTIONS,
    IHM_OPTIONS,
    PHENO_OPTIONS,
    build_findings,
    build_ihm,
    build_mimic,
    build_pheno,
)
from mindkit.data.mimic.cache import default_cache_dir
from mindkit.data.mimic.discretizer import (
    CONTINUOUS_COLUMNS,
    FEATURE_NAMES,
    MASK_COLUMNS,
    Discretizer,
    apply_normalizer,
    default_discretizer,
    fit_normalizer,
    load_discretizer_config,
    save_normalizer,
)
from mindkit.data.mimic.images import augment_cxr, default_resize, load_cxr_image
from mindkit.data.mimic.layout import (
    CACHE_VERSION,
    CHEXPERT_FILE,
    CXR_LAYOUT,
    DEFAULT_MAX_HOURS,
    DEFAULT_MODALITIES,
    DISCRETIZER_CONFIG,
    EHR_LAYOUT,
    ENV_CACHE,
    ENV_CXR,
    ENV_EHR,
    ENV_NOTE,
    EPS,
    FAKE_MARKER,
    FINDINGS,
    ID_COLUMNS,
    IHM_HOURS,
    LEAKY_STAY_COLUMNS,
    META_COLUMNS,
    META_FILE,
    MODALITIES,
    MODES,
    NOTES_COLUMNS,
    NOTES_FILES,
    NOTES_LAYOUT,
    NOTES_MAX_TOKENS,
    NOTES_MAX_VOCAB,
    NOTES_MIN_COUNT,
    PHENOTYPES,
    RESOURCES,
    SPLIT_FILE,
    SPLITS,
    STAYS_COLUMNS,
    TAB_COLUMNS,
    TAB_WINDOW_HOURS,
    TASK_DIRS,
    TASK_NAMES,
    MimicDataWarning,
)
from mindkit.data.mimic.notes import (
    HPI_HEADER,
    SECTION_HEADER,
    encode_tokens,
    extract_hpi,
    fit_vocab,
    tokenize,
)
from mindkit.data.mimic.pairing import check_image_leakage, pair_images
from mindkit.data.mimic.tab import first_values, tab_features
from mindkit.data.mimic.tables import (
    notes_file,
    read_all_stays,
    read_chexpert,
    read_cxr_metadata,
    read_cxr_split,
    read_discharge_notes,
    read_listfiles,
    read_stay_columns,
)

__all__ = [
    "CACHE_VERSION", "CHEXPERT_FILE", "CONTINUOUS_COLUMNS", "CXR_LAYOUT", "DEFAULT_MAX_HOURS",
    "DEFAULT_MODALITIES", "DISCRETIZER_CONFIG", "Discretizer", "EHR_LAYOUT", "ENV_CACHE",
    "ENV_CXR", "ENV_EHR", "ENV_NOTE", "EPS", "FAKE_MARKER", "FEATURE_NAMES", "FINDINGS",
    "FINDINGS_OPTIONS", "HPI_HEADER", "ID_COLUMNS", "IHM_HOURS", "IHM_OPTIONS",
    "LEAKY_STAY_COLUMNS", "MASK_COLUMNS", "META_COLUMNS", "META_FILE", "MODALITIES", "MODES",
    "MimicDataWarning", "NOTES_COLUMNS", "NOTES_FILES", "NOTES_LAYOUT", "NOTES_MAX_TOKENS",
    "NOTES_MAX_VOCAB", "NOTES_MIN_COUNT", "PHENOTYPES", "PHENO_OPTIONS", "RESOURCES",
    "SECTION_HEADER", "SPLITS", "SPLIT_FILE", "STAYS_COLUMNS", "TAB_COLUMNS", "TAB_WINDOW_HOURS",
    "TASK_DIRS", "TASK_NAMES", "apply_normalizer", "augment_cxr", "build_findings", "build_ihm",
    "build_mimic", "build_pheno", "check_image_leakage", "default_cache_dir", "default_discretizer",
    "default_resize", "encode_tokens", "extract_hpi", "first_values", "fit_normalizer",
    "fit_vocab", "load_cxr_image", "load_discretizer_config", "notes_file", "pair_images",
    "read_all_stays", "read_chexpert", "read_cxr_metadata", "read_cxr_split",
    "read_discharge_notes", "read_listfiles", "read_stay_columns", "save_normalizer",
    "tab_features", "tokenize",
]
