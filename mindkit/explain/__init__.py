"""Explaining a multimodal model per modality with Captum.

- :mod:`~mindkit.explain.modality`: Shapley values (and leave-one-out ablation) over whole
  modalities, with absence (the model's own missing path) or zeros as the baseline.
- :mod:`~mindkit.explain.gradients`: integrated gradients within a modality (pixels, time x
  feature, tokens), for a student head or a teacher ensemble, with convergence deltas.
- :mod:`~mindkit.explain.summary`: dataset-level tables, agreement with the accuracy drop when
  a modality is removed, and teacher-student agreement of attribution maps.
"""

from mindkit.explain.gradients import input_attributions
from mindkit.explain.modality import class_prior, modality_attributions
from mindkit.explain.results import InputAttribution, ModalityAttribution
from mindkit.explain.summary import (
                                     agreement_difference,
                                     agreement_records,
                                     attribution_records,
                                     attribution_table,
                                     drop_agreement,
                                     map_agreement,
                                     mean_ci,
                                     removal_outcomes,
)

__all__ = ["InputAttribution", "ModalityAttribution", "agreement_difference",
           "agreement_records", "attribution_records", "attribution_table", "class_prior",
           "drop_agreement", "input_attributions", "map_agreement", "mean_ci",
           "modality_attributions", "removal_outcomes"]
