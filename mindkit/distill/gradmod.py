"""Gradient modulation (OGM-GE and the pooled-bottleneck variant), re-exported: it is a hook
of the training loop (:meth:`mindkit.train.method.Method.use_gradmod`), so it lives in
:mod:`mindkit.train.gradmod`, below distillation (docs/architecture.md, "Layers"). This path
stays for the notebooks and user code that import it from here."""

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

__all__ = ["GM_MODES", "GM_PARAMS", "GradModConfig", "GradModulator", "coefficient",
           "modality_scores", "modulate_gradients", "ogm_coefficients", "ogm_rhos",
           "pb_coefficients"]
