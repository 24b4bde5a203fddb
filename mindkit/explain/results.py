"""What the explainers return: per-modality attributions and within-modality attribution maps.

Both are plain containers of tensors aligned row by row with the explained samples (``rows``
are their positions in the split, ``ids`` their sample ids), so a figure, a widget or a test can
read them without knowing how they were computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor


@dataclass
class ModalityAttribution:
    """Shapley-style attribution of one output per sample to each whole modality.

    ``values[i, j]`` is modality ``names[j]``'s share of sample ``i``'s output ``target[i]``;
    a modality the sample does not have gets exactly 0. For Shapley values (exact or sampled)
    ``values[i].sum() == full[i] - none[i]`` (efficiency); for leave-one-out ablation it need
    not. ``baseline`` says what removing a modality means: ``"absent"`` (the model's own
    missing-modality path; with nothing left, the training-set prior) or ``"zero"`` (the
    modality's input replaced by zeros while the model is told it is present).
    """

    values: Tensor  # [N, M] float
    names: list[str]  # modalities, in the model's (sorted) order
    rows: Tensor  # long[N] positions in the split
    ids: Tensor  # long[N] sample ids
    y: Tensor  # targets of the explained samples, as in the split
    target: Tensor  # long[N] index of the explained output (class or label) per sample
    full: Tensor  # [N] output with every modality the sample has
    none: Tensor  # [N] output with every modality removed (the baseline's output)
    present: Tensor  # bool[N, M] which modalities each sample has
    served: list[str]  # the head (or modalities) that served each sample's full prediction
    pred: Tensor  # long[N] the predicted class (multiclass) or most probable label
    baseline: str  # "absent" | "zero"
    method: str  # the Captum class that computed the values
    output: str  # "prob" (probability of the target) or "logit"
    task: str

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def gap(self) -> Tensor:
        """``values.sum(1) - (full - none)``: 0 up to rounding for Shapley values."""
        return self.values.sum(1) - (self.full - self.none)

    def frame(self, **fields) -> pd.DataFrame:
        """One row per sample and modality: ``id, row, modality, value, abs_value, present,
        target, pred, y`` (multiclass), ``served``, ``baseline``, ``output`` and ``algorithm``
        (the Captum class); ``fields`` are added as columns."""
        n, m = self.values.shape
        y = self.y if self.y.dim() == 1 else torch.full((n,), -1, device=self.y.device)
        df = pd.DataFrame({
            "id": self.ids.repeat_interleave(m).tolist(),
            "row": self.rows.repeat_interleave(m).tolist(),
            "modality": self.names * n,
            "value": self.values.flatten().tolist(),
            "present": self.present.flatten().tolist(),
            "target": self.target.repeat_interleave(m).tolist(),
            "pred": self.pred.repeat_interleave(m).tolist(),
            "y": y.repeat_interleave(m).tolist(),
            "served": [s for s in self.served for _ in range(m)],
        })
        df["abs_value"] = df["value"].abs()
        df["baseline"], df["output"], df["algorithm"] = self.baseline, self.output, self.method
        for k, v in fields.items():
            df[k] = v
        return df


@dataclass
class InputAttribution:
    """Integrated-gradients attribution of one output to the input values of one modality.

    ``attributions`` has each sample's input shape (image ``[C, H, W]``, time series
    ``[T, F]``); for a token modality it is ``[T]``, the attribution of each token's embedding
    summed over the embedding dimensions. ``delta`` is Captum's convergence delta per sample
    (the completeness gap: attributions' sum minus ``output(input) - output(baseline)``).
    """

    modality: str
    kind: str  # the modality's kind: image, sequence, tabular, tokens
    attributions: Tensor  # [n, *shape] (tokens: [n, T])
    inputs: Tensor  # [n, *shape] the explained inputs
    lengths: Tensor | None  # long[n] true lengths of variable-length inputs
    delta: Tensor  # [n]
    rows: Tensor  # long[n] positions in the split
    ids: Tensor  # long[n]
    y: Tensor
    target: Tensor  # long[n] explained output index
    pred: Tensor  # long[n] the explained model's (head's) predicted class / most probable label
    head: str  # the student head explained ("teachers" for a teacher ensemble)
    output: str  # "prob" or "logit"
    n_steps: int

    def task_is_multiclass(self) -> bool:
        """Whether ``y`` holds class indices (multiclass) rather than 0/1 label rows."""
        return self.y.dim() == 1

    def __len__(self) -> int:
        return int(self.attributions.shape[0])

    def relative_delta(self) -> Tensor:
        """``|delta|`` over the total absolute attribution of each sample (scale-free)."""
        tot = self.attributions.flatten(1).abs().sum(1).clamp_min(1e-12)
        return self.delta.abs() / tot

    def by_row(self) -> dict[int, int]:
        """Position in ``attributions`` of each explained split row."""
        return {int(r): i for i, r in enumerate(self.rows.tolist())}


__all__ = ["InputAttribution", "ModalityAttribution"]
