"""Moved to :mod:`mindkit.studies.compare` (the studies layer, issue 21); this module re-exports it
so that ``from mindkit.distill.compare import ...`` keeps working."""

from mindkit.studies.compare import *  # noqa: F401,F403
from mindkit.studies.compare import __all__  # noqa: F401
