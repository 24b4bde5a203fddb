"""Pairing a stay with its chest X-ray (MedFuse's rule: the latest eligible image in the stay
window) and the leakage guard (no validation / test patient's image in image training data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from mindkit.data.mimic.layout import IHM_HOURS, SPLIT_FILE

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def pair_images(stays: "pd.DataFrame", meta: "pd.DataFrame", window: str,
                views: Iterable[str] | None = ("AP",)) -> "pd.DataFrame":
    """Every eligible image per stay, latest first (MedFuse's rule; :mod:`mindkit.data.mimic`).

    ``stays``: ``stay_id, subject_id, intime, outtime``; ``meta``: from
    :func:`read_cxr_metadata`; ``window``: ``"ihm"`` (``[intime, intime + 48 h]``) or
    ``"stay"`` (``[intime, outtime]``). Returns ``stay_id, index, dicom_id, subject_id,
    study_id, when, rank`` (rank 0 = the latest; ties broken by the later metadata row).
    """
    import pandas as pd

    m = meta if views is None else meta[meta["view"].isin(list(views))]
    j = m.merge(stays[["stay_id", "subject_id", "intime", "outtime"]], on="subject_id",
                how="inner")
    end = j["intime"] + pd.Timedelta(hours=IHM_HOURS) if window == "ihm" else j["outtime"]
    j = j[(j["when"] >= j["intime"]) & (j["when"] <= end)]
    j = j.sort_values(["stay_id", "when", "index"], ascending=[True, False, False],
                      kind="stable")
    j = j.assign(rank=j.groupby("stay_id").cumcount())
    return j[["stay_id", "index", "dicom_id", "subject_id", "study_id", "when", "rank"]]


# --------------------------------------------------------------------------------------------
# leakage guard


def check_image_leakage(train_images: "pd.DataFrame", eval_subjects: Iterable[int],
                        what: str) -> "pd.DataFrame":
    """Rows of ``train_images`` (``subject_id``, ``dicom_id``, ``source``) whose patient is in
    ``eval_subjects`` (a validation or test patient); empty when there is no leakage."""
    ev = set(int(s) for s in eval_subjects)
    return train_images[train_images["subject_id"].isin(ev)]


def leak_error(bad: "pd.DataFrame", what: str) -> ValueError:
    subj = sorted(set(int(s) for s in bad["subject_id"]))
    ex = ", ".join(f"{r.dicom_id} (subject {r.subject_id}, {r.source})"
                   for r in bad.head(3).itertuples())
    return ValueError(
        f"{what}: refusing a split that leaks: {len(bad)} image(s) of {len(subj)} validation/"
        f"test patient(s) (e.g. subjects {subj[:5]}) are in image training data: {ex}. "
        f"{SPLIT_FILE} must put every image of a patient in the time-series val/test listfiles "
        "into validate/test, and image training must not use val/test patients. Fix the split "
        "file, or pass leakage='drop' to remove those images (counted in the card)."
    )
