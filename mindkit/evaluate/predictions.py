"""Test-set predictions as tables: kept beside the metrics so anything can be recomputed.

A prediction frame has one row per sample of a split, in split order:

* ``id``: the sample id (``Split.ids``); ``y`` (multiclass class index) or ``y:<j>`` (0/1 per
  label for binary/multilabel); ``present:<m>``: whether modality ``m`` was present;
* per head ``h`` (each modality's head, ``mm``, and the student's one ``routed`` prediction):
  ``served:<h>`` (the rows that head scored) and ``p:<h>:<j>``, its probability of class/label
  ``j`` (NaN where the head did not serve the row); ``served_by``: which head the routed
  prediction came from.

:func:`write_predictions` stores a frame as Parquet, :func:`read_predictions` reads it back, and
:func:`records_from_predictions` turns it into the same tidy metric records that
:func:`mindkit.evaluate.heads.evaluate_student` writes, so a metric, its CI, a paired comparison
(:func:`compare_predictions`) or a robustness curve can be recomputed without retraining.

Sample groups (:func:`sample_groups`): ``all``; ``paired`` (every modality present);
``only_<m>`` (modality ``m`` alone); ``has_<m>`` (modality ``m`` present, whatever else is). Every
record names the group it scored in ``group`` and its size in ``n``: a unimodal head ``m`` is
scored on ``has_<m>``, the multimodal head ``mm`` on ``paired`` (a single-head student's ``mm``
too, although it also serves incomplete samples: those are scored through ``routed``), and the
routed prediction on ``all``, ``paired`` and each ``only_<m>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mindkit.atomic import atomic_path
from mindkit.common import with_ext
from mindkit.data.base import Split
from mindkit.device import move_model
from mindkit.evaluate.metrics import metric_records, paired_records
from mindkit.models.predict import predict_student, predict_unimodal
from mindkit.models.student import MM
from mindkit.models.unimodal import to_probs
from mindkit.provenance import option_differences

ROUTED = "routed"


def sample_groups(present: dict[str, Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    """Boolean masks ``all``, ``paired``, ``only_<m>`` and ``has_<m>`` from presence masks."""
    mods = sorted(present)
    pres = np.stack([np.asarray(present[m], dtype=bool) for m in mods], 1)
    out = {"all": np.ones(pres.shape[0], dtype=bool), "paired": pres.all(1)}
    for j, m in enumerate(mods):
        out[f"only_{m}"] = pres[:, j] & (pres.sum(1) == 1)
    for j, m in enumerate(mods):
        out[f"has_{m}"] = pres[:, j].copy()
    return out


def head_groups(head: str, modalities: list[str]) -> list[str]:
    """The groups a head is scored on (see the module docstring)."""
    if head == ROUTED:
        return ["all", "paired", *[f"only_{m}" for m in modalities]]
    if head == MM:
        return ["paired"]
    return [f"has_{head}"]


def _base_columns(split: Split, task: str) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {"id": split.ids.cpu().numpy()}
    y = split.y.cpu().numpy()
    if task == "multiclass":
        cols["y"] = y.astype(np.int64)
    else:
        y = y.reshape(len(split), -1)
        for j in range(y.shape[1]):
            cols[f"y:{j}"] = y[:, j].astype(np.float32)
    for m in split.modalities:
        cols[f"present:{m}"] = split.present[m].cpu().numpy()
    return cols


def _head_columns(head: str, probs: Tensor, served: Tensor) -> dict[str, np.ndarray]:
    p = probs.detach().cpu().double().numpy().copy()
    s = served.cpu().numpy().astype(bool)
    p[~s] = np.nan
    return {f"served:{head}": s, **{f"p:{head}:{j}": p[:, j] for j in range(p.shape[1])}}


def student_predictions(student, split: Split, task: str, device=None):
    """The prediction frame of a (multi- or single-head) student on ``split``. The student
    predicts where it is, or on ``device`` (a device option; it is moved there in place); the
    frame is built from CPU copies of its outputs."""
    import pandas as pd

    move_model(student, device)
    out = predict_student(student, split)
    cols = _base_columns(split, task)
    for h in student.head_names:
        cols.update(_head_columns(h, to_probs(out.logits[h], task), out.mask[h]))
    probs, served = student.route(out, task)
    cols.update(_head_columns(ROUTED, probs, torch.ones(len(split), dtype=torch.bool,
                                                        device=probs.device)))
    cols["served_by"] = np.asarray(served, dtype=object)
    return pd.DataFrame(cols)


def unimodal_predictions(model, split: Split, task: str, device=None):
    """The prediction frame of a teacher or ensemble: head = its modality, served on the rows
    that have it (the frame still lists every row of ``split``, so ids align with students').
    ``device`` as in :func:`student_predictions`."""
    import pandas as pd

    move_model(model, device)
    m = model.modality
    has = split.present[m]
    probs = torch.zeros(len(split), _num_outputs(model), device=has.device)
    sub = split.only_modalities([m])
    if len(sub):
        probs[has] = predict_unimodal(model, sub, task).to(probs)
    return pd.DataFrame({**_base_columns(split, task), **_head_columns(m, probs, has)})


def _num_outputs(model) -> int:
    return model.members[0].num_outputs if hasattr(model, "members") else model.num_outputs


def frame_heads(frame) -> list[str]:
    return [c.split(":", 1)[1] for c in frame.columns if c.startswith("served:")]


def frame_modalities(frame) -> list[str]:
    return sorted(c.split(":", 1)[1] for c in frame.columns if c.startswith("present:"))


def frame_y(frame, task: str) -> np.ndarray:
    if task == "multiclass":
        return frame["y"].to_numpy(np.int64)
    cols = sorted((c for c in frame.columns if c.startswith("y:")), key=lambda c: int(c[2:]))
    return frame[cols].to_numpy(np.float64)


def frame_probs(frame, head: str) -> np.ndarray:
    cols = sorted((c for c in frame.columns if c.startswith(f"p:{head}:")),
                  key=lambda c: int(c.rsplit(":", 1)[1]))
    if not cols:
        raise KeyError(f"no predictions for head {head!r}; the frame has heads "
                       f"{frame_heads(frame)}")
    return frame[cols].to_numpy(np.float64)


def frame_groups(frame) -> dict[str, np.ndarray]:
    return sample_groups({m: frame[f"present:{m}"].to_numpy(bool)
                          for m in frame_modalities(frame)})


def scored_rows(frame, head: str, group: str, groups: dict) -> np.ndarray:
    rows = groups[group]
    served = frame[f"served:{head}"].to_numpy(bool)
    if not served[rows].all():
        raise ValueError(f"head {head!r} did not serve every sample of group {group!r}")
    return rows


def records_from_predictions(frame, task: str, *, n_boot: int = 1000, boot_seed: int = 0,
                             heads: list[str] | None = None, **fields) -> list[dict]:
    """Tidy metric records (with bootstrap CIs) per head and group; see the module docstring
    for which groups each head is scored on. Empty groups give no record."""
    mods = frame_modalities(frame)
    groups = frame_groups(frame)
    y = frame_y(frame, task)
    recs = []
    for h in heads or frame_heads(frame):
        probs = frame_probs(frame, h)
        for g in head_groups(h, mods):
            rows = scored_rows(frame, h, g, groups)
            recs += metric_records(task, y[rows], probs[rows], n_boot=n_boot,
                                   boot_seed=boot_seed, from_probs=True, head=h, group=g,
                                   **fields)
    return recs


def compare_predictions(frame_a, frame_b, task: str, method_a: str, method_b: str, *,
                        heads: list[str] | None = None, n_boot: int = 1000, boot_seed: int = 0,
                        **fields) -> list[dict]:
    """Paired bootstrap records of ``a - b`` for every head and group both frames score: the
    difference of the metric on the same resampled samples, its 95% CI and the share of
    resamples where ``a`` is better. The frames must cover the same samples (same ids)."""
    ida, idb = frame_a["id"].to_numpy(), frame_b["id"].to_numpy()
    if ida.shape != idb.shape or not (ida == idb).all():
        raise ValueError(f"{method_a!r} and {method_b!r} were scored on different samples "
                         f"({len(ida)} vs {len(idb)} ids, or another order): a paired "
                         "comparison needs the same test split")
    fa = frame_a.attrs.get("provenance", {}).get("fingerprint")
    fb = frame_b.attrs.get("provenance", {}).get("fingerprint")
    if fa and fb and fa != fb:
        diff = option_differences(frame_a.attrs["provenance"].get("options", {}),
                                  frame_b.attrs["provenance"].get("options", {}))
        raise ValueError(f"{method_a!r} and {method_b!r} were scored on different data (dataset "
                         f"fingerprints {fa} and {fb}{': ' + '; '.join(diff) if diff else ''}); "
                         "a paired comparison needs predictions made on the same data: rerun "
                         "the notebook that wrote the older prediction file")
    mods = frame_modalities(frame_a)
    groups = frame_groups(frame_a)
    y = frame_y(frame_a, task)
    common = [h for h in frame_heads(frame_a) if h in set(frame_heads(frame_b))]
    recs = []
    for h in heads or common:
        pa, pb = frame_probs(frame_a, h), frame_probs(frame_b, h)
        for g in head_groups(h, mods):
            rows = scored_rows(frame_a, h, g, groups)
            scored_rows(frame_b, h, g, groups)
            recs += paired_records(task, y[rows], pa[rows], pb[rows], method_a=method_a,
                                   method_b=method_b, n_boot=n_boot, boot_seed=boot_seed,
                                   from_probs=True, head=h, group=g, **fields)
    return recs


def write_predictions(frame, path: str | Path, provenance: dict | None = None) -> Path:
    """Store a prediction frame as Parquet (with ``provenance``, the dataset's fingerprint among
    it, in its metadata), atomically: a reader sees the old file or the new one."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = with_ext(path, ".parquet", (".parquet",))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"mindkit"] = json.dumps({"provenance": provenance or {}}, default=str).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)
    return path


def read_predictions(path: str | Path):
    """A prediction frame written by :func:`write_predictions`; its provenance in
    ``frame.attrs["provenance"]``."""
    import json

    import pyarrow.parquet as pq

    path = with_ext(path, ".parquet", (".parquet",))
    if not path.exists():
        raise FileNotFoundError(f"no prediction file {path}")
    table = pq.read_table(path)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(b"mindkit")
    frame.attrs["provenance"] = json.loads(raw)["provenance"] if raw else {}
    return frame
