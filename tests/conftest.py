import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)  # small models: see mindkit.notebook.configure_threads

from mindkit.data.base import ModalitySpec, MultimodalDataset, Split  # noqa: E402


def make_split(n: int, seed: int, name: str, missing_audio: float = 0.3) -> Split:
    """A tiny two-modality split for unit tests (random, synthetic): the label is readable from
    the image's mean brightness and from the sequence's first feature."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    img = torch.rand(n, 1, 8, 8, generator=g) * 0.5 + y.view(-1, 1, 1, 1) * 0.3
    lengths = torch.randint(3, 7, (n,), generator=g)
    seq = torch.randn(n, 6, 4, generator=g) * 0.3
    seq[:, :, 0] += y.view(-1, 1).float()
    steps = torch.arange(6)[None, :] < lengths[:, None]
    seq = seq * steps.unsqueeze(-1)
    has_audio = torch.rand(n, generator=g) >= missing_audio
    seq[~has_audio] = 0
    return Split(
        inputs={"image": img, "audio": seq},
        present={"image": torch.ones(n, dtype=torch.bool), "audio": has_audio},
        y=y,
        ids=torch.arange(n) + seed * 10_000,
        lengths={"audio": torch.where(has_audio, lengths, torch.ones_like(lengths))},
        name=name,
    )


@pytest.fixture
def toy_dataset() -> MultimodalDataset:
    specs = {
        "image": ModalitySpec("image", "image", (1, 8, 8)),
        "audio": ModalitySpec("audio", "sequence", (6, 4), variable_length=True),
    }
    splits = {s: make_split(n, i, s) for i, (s, n) in
              enumerate([("train", 96), ("val", 48), ("test", 48)])}
    return MultimodalDataset("toy", "multiclass", ["a", "b", "c"], specs, splits, synthetic=True)
