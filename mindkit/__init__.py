"""mindkit: a notebook-first research kit for multimodal knowledge distillation.

Subpackages: ``data`` (datasets and the batch contract), ``encoders``, ``fusion``, ``models``
(teachers, ensembles, the multi-head student), ``distill`` (KD losses, MIND, recipes),
``train`` (Trainer, checkpoints), ``evaluate`` (metrics with bootstrap CIs), ``viz``.
"""

__version__ = "0.1.0"
