"""Studies: what the notebooks run over seeds and methods, above the method layer.

The layers below know no notebook and no study: :mod:`mindkit.distill` holds the losses and the
methods, :mod:`mindkit.evaluate` the metrics and paired statistics, :mod:`mindkit.sweep` the
grid runner. A study decides which methods it compares, over which seeds, where its models are
saved and reused, and which claims it tests; that is this package:

* :mod:`~mindkit.studies.models`: reuse-or-train of each method's student and the teachers per
  seed (``models_for_seed``/``models_for_seeds``), with the stage folders searched for reuse
  (``STAGES``, ``DEFAULT_STAGE``);
* :mod:`~mindkit.studies.compare`: notebook 03's comparison of methods over seeds
  (``compare_methods``, ``CORE_DESIGN``/``FULL_DESIGN``, ``head_weight_table``);
* :mod:`~mindkit.studies.availability`: the availability study of notebooks 06 and 07
  (``availability_study``, ``ablation_table``, ``difference_table``, ``verdicts``, ``leaders``);
* :mod:`~mindkit.studies.scarcity`: the train-time scarcity curve of notebook 04;
* :mod:`~mindkit.studies.jobs`: a study turned into training jobs run in parallel into a model
  store before it runs (``pretrain``);
* :mod:`~mindkit.studies.claims`: the claim tables (``claim_table`` with MIND's comparisons,
  ``mind_comparisons``, by default).

They sit above ``distill`` and ``evaluate``, which import nothing from here (before this layer
they were ``mindkit.distill.suite``, ``.ablation``, ``.compare``, ``.jobs`` and
``mindkit.evaluate.aggregate.claim_table``).
"""

from mindkit.studies.availability import (
    ABLATION,
    StudyResult,
    ablation_table,
    availability_study,
    difference_table,
    leaders,
    verdicts,
)
from mindkit.studies.claims import Comparison, claim_table, mind_comparisons
from mindkit.studies.compare import CORE_DESIGN, FULL_DESIGN, compare_methods, head_weight_table
from mindkit.studies.jobs import pretrain
from mindkit.studies.models import (
    DEFAULT_STAGE,
    STAGES,
    ReuseWarning,
    SeedModels,
    find_teachers,
    load_or_train,
    models_for_seed,
    models_for_seeds,
)
from mindkit.studies.scarcity import ScarcityResult, scarcity_curve

__all__ = [
    "ABLATION",
    "CORE_DESIGN",
    "DEFAULT_STAGE",
    "FULL_DESIGN",
    "STAGES",
    "Comparison",
    "ReuseWarning",
    "ScarcityResult",
    "SeedModels",
    "StudyResult",
    "ablation_table",
    "availability_study",
    "claim_table",
    "compare_methods",
    "difference_table",
    "find_teachers",
    "head_weight_table",
    "leaders",
    "load_or_train",
    "mind_comparisons",
    "models_for_seed",
    "models_for_seeds",
    "pretrain",
    "scarcity_curve",
    "verdicts",
]
