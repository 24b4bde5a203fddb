"""Turning a plan and its arrays into the :class:`~mindkit.data.base.MultimodalDataset`: the
standardisation applied, one :class:`~mindkit.data.base.Split` per split, the modality specs
(``ts``, ``cxr``, and the optional ``tab`` and ``notes``) and the card (source, licence, counts,
everything dropped, pairing, preprocessing, caveats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split
from mindkit.data.mimic.discretizer import apply_normalizer
from mindkit.data.mimic.layout import FAKE_MARKER, FINDINGS, META_FILE, PHENOTYPES, SPLITS
from mindkit.data.mimic.plan import Plan


def _is_fake(*roots: Path | None) -> bool:
    return any(r is not None and (r / FAKE_MARKER).is_file() for r in roots)


def assemble_dataset(task, name, mode, plan: Plan, x_ts, ts_len, imgs, norm, disc, image_size,
              max_hours, ts_counts, ehr, cxr, added: dict | None = None,
              notes_root: Path | None = None) -> MultimodalDataset:
    has_img = plan.cxr_index >= 0
    img_pos = np.cumsum(has_img) - 1
    uses_ts = x_ts is not None
    if np.any(np.diff(plan.split) < 0):
        raise AssertionError("samples must be grouped by split")
    if uses_ts and norm is not None:
        apply_normalizer(x_ts, ts_len, norm)  # in place: the cache already holds the raw copy
    added = added or {}
    fake = _is_fake(ehr, cxr, notes_root)
    splits: dict[str, Split] = {}
    items: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, dict] = {}
    for s, sname in enumerate(SPLITS):
        a, b = np.searchsorted(plan.split, [s, s + 1])
        sel = np.arange(a, b)
        k = len(sel)
        inputs, present, lengths = {}, {}, {}
        if mode != "image":
            inputs["ts"] = torch.from_numpy(x_ts[a:b])  # a view: no copy
            present["ts"] = torch.ones(k, dtype=torch.bool)
            if task == "pheno":
                lengths["ts"] = torch.from_numpy(ts_len[sel].astype(np.int64))
        cx = np.zeros((k, 1, image_size, image_size), dtype=np.float32)
        h = has_img[sel]
        if h.any():
            cx[h, 0] = imgs[img_pos[sel[h]]].astype(np.float32) / 255.0
        inputs["cxr"] = torch.from_numpy(cx)
        present["cxr"] = torch.from_numpy(h.copy())
        for m, ad in added.items():
            inputs[m] = torch.from_numpy(np.ascontiguousarray(ad["x"][sel]))
            present[m] = torch.from_numpy(ad["present"][sel].copy())
            if "lengths" in ad:
                lengths[m] = torch.from_numpy(ad["lengths"][sel].copy())
        sample_ids = plan.ids[sel].astype(np.int64)
        item_ids = {m: torch.from_numpy(np.where(present[m].numpy(), sample_ids, -1))
                    for m in [*(["ts"] if mode != "image" else []), *added]}
        item_ids["cxr"] = torch.from_numpy(np.where(h, plan.cxr_index[sel], -1).astype(np.int64))
        splits[sname] = Split(inputs, present, torch.from_numpy(plan.y[sel].copy()),
                              torch.from_numpy(plan.ids[sel].copy()), lengths, sname, item_ids)
        items[sname] = {}
        if mode != "image":
            items[sname]["ts"] = [int(i) for i in plan.ids[sel]]
        items[sname]["cxr"] = [int(i) for i in plan.cxr_index[sel][h]]
        counts[sname] = {"samples": int(k), "with_cxr": int(h.sum()),
                         "positives": [int(v) for v in plan.y[sel].sum(0)]}
        if mode != "image":
            counts[sname]["ts_only"] = int(k - h.sum())
        for m, ad in added.items():
            items[sname][m] = [int(i) for i in plan.ids[sel][ad["present"][sel]]]
            counts[sname][f"with_{m}"] = int(ad["present"][sel].sum())

    modalities = {
        "cxr": ModalitySpec(
            "cxr", "image", (1, image_size, image_size),
            description=f"{'FAKE ' if fake else ''}chest X-ray (MIMIC-CXR-JPG), greyscale "
                        f"{image_size} x {image_size}, values in [0, 1], not augmented",
        ),
    }
    if mode != "image":
        t = x_ts.shape[1]
        modalities["ts"] = ModalitySpec(
            "ts", "timeseries", (t, disc.n_features), variable_length=task == "pheno",
            description=f"{'FAKE ' if fake else ''}MIMIC-IV ICU time series: {t} hourly steps "
                        f"x {disc.n_features} features (mimic3-benchmarks discretiser; "
                        "card['features']['ts'])",
        )
    if "tab" in added:
        tab = added["tab"]
        modalities["tab"] = ModalitySpec(
            "tab", "tabular", (len(tab["names"]),),
            description=f"{'FAKE ' if fake else ''}stay-table columns "
                        f"({', '.join(tab['prep']['columns']) or 'none'}) and the first value of "
                        f"{len(tab['prep']['channels'])} time-series channels in the first "
                        f"{tab['prep']['window_hours']} h: train-median imputation with "
                        "missingness flags, one-hot categories, train standardisation "
                        "(card['features']['tab'])",
        )
    if "notes" in added:
        nt = added["notes"]
        modalities["notes"] = ModalitySpec(
            "notes", "tokens", (nt["prep"]["max_tokens"],), variable_length=True,
            vocab_size=len(nt["vocab"]),
            description=f"{'FAKE ' if fake else ''}history of present illness of the "
                        "MIMIC-IV-Note discharge note (written at discharge), token ids "
                        f"(0 = padding, 1 = unknown; vocabulary of {len(nt['vocab'])} fitted on "
                        "train, card['vocab'])",
        )
    class_names = {"ihm": ["in-hospital mortality"], "pheno": list(PHENOTYPES),
                   "findings": list(FINDINGS)}[task]
    dropped = dict(plan.dropped)
    dropped["events_before_time_zero"] = int(ts_counts.get("before_time_zero", 0))
    dropped["bad_values_dropped"] = int(ts_counts.get("bad_values", 0))
    used_idx = plan.cxr_index[has_img]
    card = {
        "source": (
            ("FAKE data written by mindkit.data.mimic_fake (no real patient data); " if fake
             else "")
            + "MIMIC-IV v1.0 ICU time series and MIMIC-CXR-JPG 2.0.0 in the MedFuse / "
            "mimic3-benchmarks layout, read from the user's copy "
            f"(ehr_root={ehr}, cxr_root={cxr})"
        ),
        "licence": ("PhysioNet Credentialed Health Data License 1.5.0 (MIMIC-IV, MIMIC-CXR-JPG); "
                    "never shipped with mindkit" if not fake else "FAKE generated data"),
        "synthetic": fake,
        "task": {"ihm": "in-hospital mortality from the first 48 h",
                 "pheno": "25 acute-care phenotypes (discharge diagnoses) of the ICU stay",
                 "findings": "14 CheXpert findings per image (image teacher pre-training)"}[task],
        "mode": mode,
        "counts": {"per_split": counts},
        "dropped": dropped,
        "events": ts_counts,
        "pairing": plan.info,
        "features": {"ts": list(disc.feature_names)} if uses_ts else {},
        "preprocessing": {
            "ts_standardization": norm,
            "image": {"size": image_size, "read": "greyscale, shorter side resized, centre "
                      "crop, /255", "augmentation": "none stored; see augment_cxr"},
        },
        "cxr_index": f"0-based row of {META_FILE} (header excluded)",
        "cxr_dicoms": {int(i): d for i, d in zip(used_idx, np.asarray(plan.dicoms)[has_img])},
        "caveats": [
            "Having a chest X-ray during the stay is itself informative (sicker patients are "
            "imaged more); paired and time-series-only stays differ in case mix.",
            "Image indices are metadata row numbers: they change if the metadata file changes.",
        ],
    }
    if task == "pheno":
        card["caveats"].append(
            f"Time series keep the first {max_hours} h of each stay (max_hours); the labels "
            "describe the whole stay." if max_hours is not None else
            "Time series keep whole stays (max_hours=None).")
    if task != "findings":
        card["pairs"] = {int(s): int(i) for s, i in zip(plan.ids[has_img], used_idx)}
    if added:
        card["modalities"] = ["ts", "cxr", *added]
    if "tab" in added:
        card["features"]["tab"] = list(added["tab"]["names"])
        card["preprocessing"]["tab"] = added["tab"]["prep"]
        card["caveats"].append(
            "tab: demographics are the stay table's columns as the extraction wrote them "
            "(MedFuse on MIMIC-IV v1.0: age is anchor_age, the age in the patient's anchor "
            "year, and ethnicity is the admissions table's field); first values are the "
            "first hourly bin with a measurement in the first 48 h (the last value within "
            "that hour), taken from the same discretised series as ts, so tab repeats "
            "information that ts holds.")
    if "notes" in added:
        nt = added["notes"]
        card["vocab"] = list(nt["vocab"])
        card["preprocessing"]["notes"] = nt["prep"]
        card["notes"] = {"counts": nt["counts"], "note_ids": nt["note_ids"],
                         "notes_root": str(notes_root)}
        card["source"] += (f"; MIMIC-IV-Note discharge notes ({nt['prep']['source']})")
        card["caveats"].append(
            "notes: discharge notes are written at discharge, after the outcome, so using "
            "them to predict in-hospital mortality (or anything else about the stay) leaks "
            "future information. Only the history of present illness is kept because it "
            "describes the presentation at admission, but it is still written later, by "
            "someone who knows how the stay ended, and patients who died may have shorter "
            "or differently worded notes. Treat results with notes as optimistic.")
        if not fake:
            card["licence"] += "; MIMIC-IV-Note: PhysioNet Credentialed Health Data License 1.5.0"
    ds = MultimodalDataset(
        name=name,
        task="binary" if task == "ihm" else "multilabel",
        class_names=class_names,
        modalities=modalities,
        splits=splits,
        synthetic=fake,
        description=(f"{'FAKE tree (synthetic): ' if fake else ''}{card['task']}; "
                     f"mode {mode!r}"
                     + (f"; modalities {', '.join(card['modalities'])}" if added else "")),
        card=card,
        items=items,
    )
    ds.check_disjoint()
    return ds
