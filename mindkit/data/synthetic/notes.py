"""The ``notes`` modality: short pseudo-clinical notes from a template grammar whose phrase
choices depend on the factors, as token ids (:data:`NOTE_VOCAB`, 0 = padding)."""

from __future__ import annotations

import numpy as np

from mindkit.data.synthetic.demo import gumbel_choice
from mindkit.data.synthetic.world import N0, N1, N_FACTORS, S0, S1

NOTES_MAX_LEN = 64
# slots in note order: (inclusion: None = always, or (base, {factor: w})),
#                      options: [(phrase, base logit, {factor: w})]
# (_NOTE_AFTER: the "also ..." slot follows only a history slot that named a condition, and
# the second plan item differs from the first)
_NOTE_SLOTS = [
    (None, [("pt admitted with", 0, {}), ("patient presented with", 0, {}),
            ("admitted to icu for", 0, {}), ("transferred from ed with", 0, {})]),
    (None, [("sepsis .", -0.2, {S0: 1.1}), ("septic shock .", -1.2, {S0: 1.6}),
            ("hypotension .", -0.3, {S0: 1.0}), ("shortness of breath .", 0, {S1: 1.0}),
            ("respiratory distress .", -0.5, {S1: 1.4}), ("chest pain .", -0.2, {S1: 0.5}),
            ("gi bleed .", -0.2, {}), ("fall at home .", -0.2, {S0: -0.6}),
            ("overdose .", -0.8, {S0: -0.3}), ("post op monitoring .", 0.3, {S0: -0.8, S1: -0.4}),
            ("weakness .", -0.3, {})]),
    ((1.5, {}), [("no significant pmh .", 0.5, {N1: -1.4}), ("pmh htn .", 0.6, {N1: -0.4}),
                 ("pmh htn , hld .", 0.4, {N1: -0.2}), ("pmh dm2 .", 0, {N1: 0.4}),
                 ("pmh chf , ef 25 % .", -0.8, {N1: 1.1}),
                 ("pmh copd on home o2 .", -0.8, {N1: 1.1}), ("pmh cirrhosis .", -1.0, {N1: 1.3}),
                 ("pmh esrd on hd .", -1.2, {N1: 1.4}),
                 ("pmh metastatic cancer .", -1.2, {N1: 1.2, N0: 0.6}),
                 ("pmh cad s/p cabg .", -0.6, {N1: 0.8}),
                 ("pmh afib on coumadin .", -0.5, {N1: 0.7})]),
    ((-0.5, {N1: 1.2}), [("also ckd .", 0, {N1: 0.5}), ("also etoh abuse .", 0, {N1: 0.8}),
                         ("also dementia .", 0, {N0: 0.8}), ("also prior stroke .", 0, {}),
                         ("also osa .", 0, {}), ("also hypothyroidism .", 0, {})]),
    (None, [("hemodynamically stable .", 0.8, {S0: -1.2}), ("bp soft .", 0, {S0: 0.6}),
            ("remains hypotensive .", -0.8, {S0: 1.3}), ("on levophed .", -1.0, {S0: 1.6}),
            ("on pressors , lactate trending up .", -1.8, {S0: 1.9}),
            ("s/p fluid bolus .", -0.2, {S0: 0.7}), ("weaned off pressors .", -0.8, {S0: 0.6})]),
    (None, [("on room air .", 0.8, {S1: -1.3}), ("on 2l nc .", 0.5, {}),
            ("on high flow .", -0.7, {S1: 1.0}), ("on bipap .", -1.0, {S1: 1.2}),
            ("intubated , on vent .", -1.2, {S1: 1.7}), ("extubated today .", -1.0, {S1: 0.5})]),
    ((1.7, {}), [("full code .", 1.5, {N0: -1.3}),
                 ("full code , confirmed with family .", 0.3, {N0: -0.6}),
                 ("dnr .", -1.0, {N0: 1.0}), ("dnr / dni .", -1.4, {N0: 1.5}),
                 ("dnr / dni , cmo being discussed .", -2.4, {N0: 2.0}),
                 ("code status pending .", -0.6, {N0: 0.4})]),
    ((0.3, {}), [("lives with wife .", 0.5, {N0: -0.5}), ("lives with family .", 0.5, {N0: -0.3}),
                 ("lives alone .", 0, {N1: 0.2}), ("from nursing home .", -0.8, {N0: 1.0, N1: 0.4}),
                 ("from rehab .", -0.5, {N0: 0.3}), ("homeless .", -1.5, {N1: 0.6})]),
]
_PLAN = [("continue abx .", 0, {S0: 0.5}), ("f/u cultures .", 0, {S0: 0.3}),
         ("trend labs .", 0.3, {}), ("diuresis as tolerated .", -0.3, {S1: 0.4}),
         ("pt / ot .", 0, {N0: -0.3}), ("wean sedation .", -0.6, {S1: 0.7}),
         ("family meeting tomorrow .", -1.0, {N0: 1.3}),
         ("palliative care consult .", -1.5, {N0: 1.7}),
         ("dispo to floor when stable .", 0.2, {N0: -0.5, S0: -0.5})]
_NOTE_SLOTS += [
    (None, _PLAN),
    ((0.0, {}), _PLAN),
    ((-0.3, {}), [("will continue to monitor .", 0, {}), ("see flowsheet for details .", 0, {}),
                  ("discussed with attending .", 0, {}), ("nursing aware .", 0, {}),
                  ("labs pending .", 0, {})]),
]


# slot -> (earlier slot that must be included, its lowest allowed option, must differ from it)
_NOTE_AFTER = {3: (2, 1, False), 9: (8, 0, True)}


def _note_vocab() -> list[str]:
    vocab = ["<pad>"]
    for _, options in _NOTE_SLOTS:
        for phrase, _, _ in options:
            for w in phrase.split():
                if w not in vocab:
                    vocab.append(w)
    return vocab


NOTE_VOCAB: list[str] = _note_vocab()
"""Token id -> word for the ``notes`` modality (id 0 is ``"<pad>"``)."""
_WORD_ID = {w: i for i, w in enumerate(NOTE_VOCAB)}


def _loading_matrix(loads: list[dict]) -> np.ndarray:
    w = np.zeros((len(loads), N_FACTORS))
    for i, d in enumerate(loads):
        for f, v in d.items():
            w[i, f] = v
    return w


def make_notes(z: np.ndarray, info: float, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    n = z.shape[0]
    parts, picks, kept = [], [], []
    for j, (incl, options) in enumerate(_NOTE_SLOTS):
        words = [p.split() for p, _, _ in options]
        width = max(len(w) for w in words)
        table = np.zeros((len(options), width), dtype=np.int64)
        for i, ws in enumerate(words):
            table[i, : len(ws)] = [_WORD_ID[w] for w in ws]
        base = np.array([b for _, b, _ in options])
        logits = base[None] + info * z @ _loading_matrix([d for _, _, d in options]).T
        pick = gumbel_choice(logits, noise, rng)
        keep = np.ones(n, dtype=bool)
        if incl is not None:
            b, d = incl
            lin = b + info * z @ _loading_matrix([d])[0]
            uu = rng.random(n).clip(1e-12, 1 - 1e-12)
            keep = lin + noise * np.log(uu / (1 - uu)) > 0
        if j in _NOTE_AFTER:
            prev, min_option, distinct = _NOTE_AFTER[j]
            keep &= kept[prev] & (picks[prev] >= min_option)
            if distinct:
                keep &= pick != picks[prev]
        picks.append(pick)
        kept.append(keep)
        parts.append(table[pick] * keep[:, None])
    tok = np.concatenate(parts, axis=1)
    order = np.argsort(tok == 0, axis=1, kind="stable")  # real tokens first, in order
    tok = np.take_along_axis(tok, order, axis=1)[:, :NOTES_MAX_LEN]
    lengths = (tok != 0).sum(1).astype(np.int64)
    out = np.zeros((n, NOTES_MAX_LEN), dtype=np.int64)
    out[:, : tok.shape[1]] = tok
    return out, lengths


def decode_note(ids) -> str:
    """The words of a ``notes`` token sequence (padding dropped)."""
    return " ".join(NOTE_VOCAB[int(i)] for i in ids if int(i) != 0)
