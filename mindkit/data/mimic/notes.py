"""The ``notes`` modality: the history-of-present-illness (HPI) section of a stay's MIMIC-IV-Note
discharge note, as token ids (see :mod:`mindkit.data.mimic`, **Notes**).

- :func:`extract_hpi`: the section from a ``History of Present Illness:`` header line to the next
  section header line (:data:`SECTION_HEADER`);
- :func:`tokenize`: lowercase, then runs of letters, or numbers with an optional decimal part;
- :func:`fit_vocab`: the vocabulary of the train notes (``<pad>`` = 0, ``<unk>`` = 1, then words by
  count, ties alphabetically), with a minimum count and a maximum size;
- :func:`encode_tokens`: token lists -> ids truncated / padded to ``max_tokens``, and lengths.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PAD, UNK = "<pad>", "<unk>"

HPI_HEADER = re.compile(
    r"^[ \t]*(?:history[ \t]+of[ \t]+(?:the[ \t]+)?present[ \t]+illness|hpi)[ \t]*:",
    re.IGNORECASE | re.MULTILINE)
"""The HPI header: at the start of a line (leading blanks allowed), ``History of Present
Illness`` (any case; ``History of the Present Illness`` and ``HPI`` too), then a colon."""

_CONNECTORS = "of|on|or|and|the|to|for|in|at|with|from|by|&|/"
SECTION_HEADER = re.compile(
    r"^[ \t]*[A-Z][A-Za-z/&()'-]*"
    rf"(?:[ \t]+(?:[A-Z][A-Za-z/&()'-]*|(?:{_CONNECTORS})(?![A-Za-z])))" r"{0,7}"
    r"[ \t]*:(?=[ \t]|\r?$)",
    re.MULTILINE)
"""A section header line: at the start of a line, one to eight words, each capitalised (``Past
Medical History:``, ``PHYSICAL EXAM:``) except short connectors (``of, on, or, and, the, to,
for, in, at, with, from, by, &, /``: ``Major Surgical or Invasive Procedure:``), then a colon
followed by a blank or the end of the line. Words hold letters and ``/ & ( ) ' -`` only, so a
sentence (``In the ED, initial vitals:``) or a numbered line (``1. CHF:``) is not a header."""

_TOKEN = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")


def extract_hpi(text: str | None) -> str | None:
    """The history of present illness of a discharge note, or None when it has none.

    The section starts after the first :data:`HPI_HEADER` (text on the header line itself is
    kept) and ends before the next :data:`SECTION_HEADER` line, or at the end of the note.
    Leading and trailing blanks are stripped; an empty section is None.
    """
    if not text:
        return None
    text = str(text)
    m = HPI_HEADER.search(text)
    if m is None:
        return None
    # ^ only matches after a newline here, so the rest of the header line belongs to the HPI
    nxt = SECTION_HEADER.search(text, m.end())
    body = text[m.end(): nxt.start() if nxt else len(text)].strip()
    return body or None


def tokenize(text: str) -> list[str]:
    """Lowercase ``text``, then keep runs of letters and numbers (``2.5`` is one token);
    everything else separates tokens (MIMIC's ``___`` de-identification marks vanish)."""
    return _TOKEN.findall(str(text).lower())


def fit_vocab(token_lists: Iterable[Sequence[str]], min_count: int = 1,
              max_size: int | None = None) -> list[str]:
    """Id -> word: ``<pad>`` (0), ``<unk>`` (1), then the words of ``token_lists`` seen at least
    ``min_count`` times, most frequent first (ties alphabetically), at most ``max_size`` words
    (None: no limit). Pass only the training notes."""
    counts: Counter[str] = Counter()
    for toks in token_lists:
        counts.update(toks)
    words = sorted((w for w, c in counts.items() if c >= min_count),
                   key=lambda w: (-counts[w], w))
    if max_size is not None:
        words = words[:max_size]
    return [PAD, UNK, *words]


def encode_tokens(token_lists: Sequence[Sequence[str]], vocab: Sequence[str],
           max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """``int64 [N, max_tokens]`` ids (the first ``max_tokens`` tokens; words not in ``vocab``
    -> 1, padding 0) and ``int64 [N]`` lengths (``min(tokens, max_tokens)``)."""
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(token_lists), max_tokens), dtype=np.int64)
    lengths = np.zeros(len(token_lists), dtype=np.int64)
    for i, toks in enumerate(token_lists):
        ids = [index.get(w, 1) for w in toks[:max_tokens]]
        out[i, : len(ids)] = ids
        lengths[i] = len(ids)
    return out, lengths


def stay_notes(stays: "pd.DataFrame", notes: "pd.DataFrame") -> tuple[list[str], list[str],
                                                                        dict[str, int]]:
    """Per stay (rows of ``stays``: ``subject_id``, ``hadm_id``, -1 where unknown): the HPI of
    its admission's discharge note (``""`` if none) and that note's ``note_id`` (``""``).

    An admission with several discharge notes uses the first in ``note_seq`` order (then file
    order) that has an HPI section. Counts: stays with a discharge note, of which with an HPI
    section; stays without a note; stays with no ``hadm_id`` (not in the stay table or empty);
    admissions with more than one discharge note."""
    hpi: dict[tuple[int, int], tuple[str, str]] = {}
    seen: set[tuple[int, int]] = set()
    several = 0
    if len(notes):
        ordered = notes.assign(_row=np.arange(len(notes))).sort_values(
            ["subject_id", "hadm_id", "note_seq", "_row"], na_position="last")
        for key, group in ordered.groupby(["subject_id", "hadm_id"], sort=False):
            k = (int(key[0]), int(key[1]))
            seen.add(k)
            several += int(len(group) > 1)
            for note_id, text in zip(group["note_id"], group["text"]):
                h = extract_hpi(text)
                if h is not None:
                    hpi[k] = (h, str(note_id))
                    break
    texts, ids = [], []
    counts = {"stays_with_discharge_note": 0, "stays_with_hpi": 0,
              "stays_note_without_hpi": 0, "stays_without_discharge_note": 0,
              "stays_without_hadm_id": 0, "admissions_with_several_notes": several}
    for s, h in zip(stays["subject_id"].tolist(), stays["hadm_id"].tolist()):
        k = (int(s), int(h))
        if h < 0:
            counts["stays_without_hadm_id"] += 1
        elif k not in seen:
            counts["stays_without_discharge_note"] += 1
        else:
            counts["stays_with_discharge_note"] += 1
            counts["stays_with_hpi" if k in hpi else "stays_note_without_hpi"] += 1
        t, n = hpi.get(k, ("", "")) if h >= 0 else ("", "")
        texts.append(t)
        ids.append(n)
    return texts, ids, counts
