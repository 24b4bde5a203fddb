"""Evaluate students per head and per sample group, and teachers on the same samples.

Records carry ``split`` = the evaluated split's name unless ``fields`` set it; ``boot_seed``
seeds the bootstrap, so ``fields`` may carry the run's own ``seed``.
"""

from __future__ import annotations

from torch import Tensor

from mindkit.data.base import Split
from mindkit.evaluate.metrics import metric_records
from mindkit.models.student import MM, MultiHeadStudent
from mindkit.models.unimodal import TeacherEnsemble, UnimodalNet, to_probs


def _records(task: str, y: Tensor, probs: Tensor, split: Split, n_boot: int, boot_seed: int,
             head: str, group: str, fields: dict) -> list[dict]:
    fields = {"split": split.name, **fields}
    return metric_records(task, y, probs, n_boot=n_boot, boot_seed=boot_seed, from_probs=True,
                          head=head, group=group, **fields)


def evaluate_student(student: MultiHeadStudent, split: Split, task: str, /, n_boot: int = 1000,
                     boot_seed: int = 0, **fields) -> list[dict]:
    """Tidy metric records (with bootstrap CIs) for the student on ``split``.

    ``head`` = each unimodal head on every sample that has its modality (group ``has_<m>``);
    ``mm`` on the complete samples (group ``paired``); ``routed`` (one prediction per sample,
    :meth:`MultiHeadStudent.route`) on all samples and on each group of :meth:`Split.groups`.
    """
    from mindkit.distill.recipes import predict_student

    out = predict_student(student, split)
    recs = []
    for h in student.head_names:
        rows = out.mask[h]
        group = "paired" if h == MM else f"has_{h}"
        recs += _records(task, split.y[rows], to_probs(out.logits[h][rows], task), split,
                         n_boot, boot_seed, h, group, fields)
    probs, _ = student.route(out, task)
    for g, rows in split.groups().items():
        if rows.any():
            recs += _records(task, split.y[rows], probs[rows], split, n_boot, boot_seed,
                             "routed", g, fields)
    return recs


def evaluate_unimodal(model: UnimodalNet | TeacherEnsemble, split: Split, task: str, /,
                      n_boot: int = 1000, boot_seed: int = 0, **fields) -> list[dict]:
    """Records for a teacher or ensemble on every sample of ``split`` that has its modality."""
    from mindkit.distill.recipes import predict_unimodal

    m = model.modality
    sub = split.only_modalities([m])
    probs = predict_unimodal(model, sub, task)
    return _records(task, sub.y, probs, split, n_boot, boot_seed, m, f"has_{m}", fields)
