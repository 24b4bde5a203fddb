"""The reference figures of the synthetic data card (``card["measured"]``), measured by
:mod:`mindkit.data.synthetic.measure`. They live in this module of their own so that the builder
(which writes them into the card) and the measurement (which builds data sets) do not import
each other (docs/architecture.md, "Layers")."""

MEASURED = {
    "how": "mindkit.data.synthetic.measure_separability(name, n_samples=..., seeds=...): "
           "logistic regression on simple summaries per modality, C picked on val; late fusion "
           "= sum of the unimodal logits, concat = one model on all summaries trained on the "
           "paired train samples (ceiling: measure_ceiling)",
    "setting": "all four modalities, other options at their defaults; AUROC (pheno: macro over "
               "25 labels) on the paired test samples",
    "synthetic_ihm": {
        "n_samples=3000, mean of seeds 0-2": {"ts": 0.70, "cxr": 0.61, "demo": 0.65,
                                               "notes": 0.58, "late": 0.72, "concat": 0.75},
        "n_samples=20000, seed 0": {"ts": 0.70, "cxr": 0.68, "demo": 0.70, "notes": 0.70,
                                    "late": 0.82, "concat": 0.84},
    },
    "synthetic_pheno": {
        "n_samples=3000, mean of seeds 0-2": {"ts": 0.67, "cxr": 0.59, "demo": 0.61,
                                               "notes": 0.61, "late": 0.71, "concat": 0.70},
        "n_samples=20000, seed 0": {"ts": 0.69, "cxr": 0.62, "demo": 0.64, "notes": 0.64,
                                    "late": 0.75, "concat": 0.76},
    },
}
"""The reference AUROCs of the card (``card["measured"]``), as :func:`measure_separability`
returns them (rounded to 2 decimals)."""


__all__ = ["MEASURED"]
