"""Gradient modulation as the methods declare it: the settings of the ``*_gm`` methods. The
modulation itself is a hook of the training loop (:meth:`mindkit.train.method.Method.use_gradmod`)
and lives in :mod:`mindkit.train.gradmod`, below distillation (docs/architecture.md,
"Layers"); its names are re-exported here for the notebooks and user code that import them
from this path."""

from __future__ import annotations

from dataclasses import dataclass

from mindkit.distill.base import Settings
from mindkit.train.gradmod import (
    GM_MODES,
    GM_PARAMS,
    GradModConfig,
    GradModulator,
    coefficient,
    modality_scores,
    modulate_gradients,
    ogm_coefficients,
    ogm_rhos,
    pb_coefficients,
)


@dataclass
class GradModSettings(Settings):
    """Gradient modulation's settings, for the methods that modulate (``*_gm``)."""

    gm_alpha: float = 0.5  # alpha in 1 - tanh(alpha * rho)
    gm_start: int = 0  # first epoch modulated
    gm_end: int = 4  # last epoch modulated (inclusive)
    gm_noise: bool = True  # OGM-GE's generalisation noise
    gm_params: str = "all"  # "all" modality parameters or "conv" (4-D only, OGM-GE's code)

    def gradmod(self, mode: str = "ogm") -> GradModConfig:
        """The modulation these settings describe, in ``mode`` (``"ogm"`` or ``"pb"``)."""
        return GradModConfig(mode=mode, alpha=self.gm_alpha, start=self.gm_start,
                             end=self.gm_end, noise=self.gm_noise, params=self.gm_params)


__all__ = ["GM_MODES", "GM_PARAMS", "GradModConfig", "GradModSettings", "GradModulator",
           "coefficient", "modality_scores", "modulate_gradients", "ogm_coefficients",
           "ogm_rhos", "pb_coefficients"]
