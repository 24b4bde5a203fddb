"""Synthetic ICU data laid out like MIMIC-IV + MIMIC-CXR in the MedFuse setup. SYNTHETIC.

Two datasets share one generator: ``synthetic_ihm`` (binary in-hospital mortality) and
``synthetic_pheno`` (25 phenotype labels named after :data:`mindkit.data.mimic.PHENOTYPES`).
Every sample is one synthetic patient. Nothing here is real patient data and no figure computed
on it says anything about medicine; the datasets are flagged ``synthetic``.

**Modalities** (``modalities`` option; default ``("ts", "cxr")``):

- ``ts`` (``timeseries``, ``(48, 76)``): the real MIMIC layout (``mimic.FEATURE_NAMES``).
  Per patient, hourly *raw* charted events are simulated for the 17 channels
  (values in clinical units; categorical channels take values from the discretiser
  configuration's possible values, GCS in both the numbered and the text spelling, one spelling
  per patient): vital signs (heart rate, blood pressures, respiratory rate, SpO2) in most hours
  and sometimes twice in an hour, temperature, neuro checks (GCS, capillary refill) and labs
  (glucose, pH) every few hours, FiO2 now and then, height and weight once or twice. Then the
  discretiser's semantics apply exactly (1 h bins; the last value in a bin wins; forward fill,
  with the channel's normal value before its first measurement; one-hot categoricals; mask = 1
  where the bin held a measurement): :func:`raw_events` returns a patient's events in
  :class:`mindkit.data.mimic.Discretizer` input form and the tests check that the discretiser
  gives the same 76 columns. The 12 continuous columns are standardised with the mean / std of
  the train patients' hours (:func:`mindkit.data.mimic.fit_normalizer`; saved in
  ``card["preprocessing"]["ts_standardization"]``); one-hot and mask columns stay 0/1.
  Measurement schedules do not depend on the patient (missingness is uninformative) unless
  ``informative_missingness > 0`` (sicker patients then get more neuro checks, labs and
  temperatures).
- ``cxr`` (``image``, ``(1, S, S)``, ``S = image_size``, default 32, values in [0, 1]): a
  chest-like background (body, spine, two lung fields above domed diaphragms, faint ribs, a heart
  silhouette) with per-image position/scale/exposure/contrast jitter and smooth texture, plus
  lesion-like findings: 0-5 irregular, textured opacities in the lungs (count, size and
  intensity grow with a consolidation factor), a sharp-edged lobulated nodule (probability and
  size from a mass factor), pleural effusions with a lateral meniscus (height from an effusion
  factor), a perihilar haze and the heart width (the two shared factors).
- ``demo`` (``tabular``, 12 features, :data:`DEMO_FEATURES`): age, sex, BMI, comorbidity count,
  admissions in the prior year (these four standardised with train statistics, saved in
  ``card["preprocessing"]["demo_standardization"]``), and one-hot admission type and first care
  unit (0/1).
- ``notes`` (``tokens``, ``(64,)`` long ids, 0 = padding, ``variable_length``: true lengths in
  ``Split.lengths["notes"]``, 0 where absent): a short pseudo-clinical note from a template
  grammar (reason for admission, history, haemodynamics, respiratory support, code status,
  social situation, plan, filler) whose phrase choices depend on the factors. The vocabulary
  (id -> word, id 0 = ``"<pad>"``) is ``card["vocab"]`` (:data:`NOTE_VOCAB`).

**Generative model.** Each patient has 13 latent factors drawn i.i.d. N(0, 1) (:data:`FACTORS`):
2 *shared* (circulatory, respiratory; visible in every modality), 3 visible only in ``ts``
(neurological: GCS; metabolic: glucose level and rise, pH; deterioration: 48-h trends of heart
rate, blood pressure, respiratory rate, SpO2 and the rate of SpO2 dips), 3 only in ``cxr``
(consolidation, mass, effusion), 2 only in ``demo`` (frailty: age; chronic burden: BMI,
comorbidities, prior admissions), 2 only in ``notes`` (goals of care, chronic history) and 1 never
observed. Labels follow a logistic model of all 13 factors (mortality intercept set for
``prevalence``; each phenotype loads on a hand-picked, loosely clinical set of factors, intercepts
set for prevalences near the MIMIC benchmark's), so each modality carries signal the others lack
and fusion should beat any one alone. The labels do not depend on which modalities are
requested: with the default two, the demo- and notes-only factors act as label noise. The label
weights and loadings are constants, so ``seed`` redraws only the patients, the presence
pattern, the noise and the split. ``informative_<m>`` scales the factor effects in modality
``m`` (0: none) and ``noise`` the nuisance variation in all of them.

Missingness is completely at random (also unlike real ICU data): ``unpaired_<m>`` of the patients
have modality ``m`` alone; the rest have every requested modality. Splits are patient-level
(each patient is one sample) and stratified by presence pattern (and by label for mortality).

**Measured** (:func:`measure_separability`, not a benchmark of mindkit's models; the figures
are :data:`MEASURED` and ``card["measured"]``): logistic regression on simple summaries per
modality (:func:`~mindkit.data.synthetic.measure.summaries`; ``ts``: per-column mean, last-6-h
mean, std and slope of the 59 value columns, and mask means; ``cxr``: means, stds and maxima of
a 4 x 4 grid of blocks, row means and intensity quantiles; ``demo``: the 12 features;
``notes``: bag of words), each trained on the train samples that have the modality, ``C``
picked on val; *late* fusion = the sum of the four unimodal logits; *concat* fusion = one
logistic regression on the four summaries concatenated, trained on the paired train samples
only. AUROC (macro over the 25 labels for pheno) on the *paired* test samples,
``modalities=("ts", "cxr", "demo", "notes")``, other options at their defaults. Reproduce a row
with ``measure_separability("synthetic_ihm", n_samples=3000, seeds=(0, 1, 2))``::

    n_samples=3000, mean over seeds 0-2 (225 paired test samples, ~25 deaths)
                       ts    cxr   demo  notes   late  concat
    synthetic_ihm     0.70  0.61  0.65  0.58    0.72  0.75
    synthetic_pheno   0.67  0.59  0.61  0.61    0.71  0.70
    n_samples=20000, seed 0 (1,500 paired test samples)
    synthetic_ihm     0.70  0.68  0.70  0.70    0.82  0.84
    synthetic_pheno   0.69  0.62  0.64  0.64    0.75  0.76

At n_samples=3000 the test sets are small and the figures move between seeds (pass one seed at a
time to see how much). The ceiling (:func:`measure_ceiling`: the true logit restricted to the
factors a modality shows) is about 0.73-0.78 per modality and 0.93-0.96 for all four for ihm
(pheno: 0.69-0.73 and 0.83-0.85), so better encoders than these summaries have headroom.

Generation takes about 1 s for 3000 patients with all four modalities (``image_size=64`` about
3 s); ``tests/test_data_synthetic.py::test_generation_is_fast`` times it.

**Where things are** (every public name is importable from here):
:mod:`~mindkit.data.synthetic.world` (sizes, factors, label model, random streams),
:mod:`~mindkit.data.synthetic.timeseries` (``ts``: :class:`RawTS`, :func:`raw_events`),
:mod:`~mindkit.data.synthetic.images` (``cxr``), :mod:`~mindkit.data.synthetic.demo`
(``demo``), :mod:`~mindkit.data.synthetic.notes` (``notes``, :func:`decode_note`),
:mod:`~mindkit.data.synthetic.build` (:func:`build_synthetic` and the registered
:func:`build_ihm`, :func:`build_pheno`), :mod:`~mindkit.data.synthetic.measure`
(:func:`measure_separability`, :func:`measure_ceiling`: the figures above).
"""

from __future__ import annotations

from mindkit.data.synthetic.build import (
    IHM_OPTIONS,
    PHENO_OPTIONS,
    build_ihm,
    build_pheno,
    build_synthetic,
)
from mindkit.data.synthetic.demo import DEMO_CONTINUOUS, DEMO_FEATURES
from mindkit.data.synthetic.measure import (
    MEASURED,
    measure_ceiling,
    measure_separability,
    summaries,
)
from mindkit.data.synthetic.notes import NOTE_VOCAB, NOTES_MAX_LEN, decode_note
from mindkit.data.synthetic.timeseries import RawTS, raw_events
from mindkit.data.synthetic.world import (
    C0,
    C1,
    C2,
    D0,
    D1,
    FACTOR_GROUPS,
    FACTORS,
    IHM_WEIGHTS,
    IMG,
    MODALITIES,
    N0,
    N1,
    N_FACTORS,
    N_FEATURES,
    PHENO_INTERCEPTS,
    PHENO_PREVALENCE,
    PHENO_WEIGHTS,
    S0,
    S1,
    SPLITS,
    STREAMS,
    T0,
    T1,
    T2,
    T_STEPS,
    WORLD_SEED,
    H,
)

__all__ = [
    "C0", "C1", "C2", "D0", "D1", "DEMO_CONTINUOUS", "DEMO_FEATURES", "FACTORS",
    "FACTOR_GROUPS", "H", "IHM_OPTIONS", "IHM_WEIGHTS", "IMG", "MEASURED", "MODALITIES", "N0",
    "N1", "NOTES_MAX_LEN", "NOTE_VOCAB", "N_FACTORS", "N_FEATURES", "PHENO_INTERCEPTS",
    "PHENO_OPTIONS", "PHENO_PREVALENCE", "PHENO_WEIGHTS", "RawTS", "S0", "S1", "SPLITS",
    "STREAMS", "T0", "T1", "T2", "T_STEPS", "WORLD_SEED", "build_ihm", "build_pheno",
    "build_synthetic", "decode_note", "measure_ceiling", "measure_separability", "raw_events",
    "summaries",
]
