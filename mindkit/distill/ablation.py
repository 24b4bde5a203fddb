"""Moved to :mod:`mindkit.studies.availability` (the studies layer, issue 21); this module
re-exports it so that ``from mindkit.distill.ablation import ...`` keeps working."""

from mindkit.studies.availability import *  # noqa: F401,F403
from mindkit.studies.availability import __all__  # noqa: F401
