"""Moved to :mod:`mindkit.studies.jobs` (the studies layer, issue 21); this module re-exports it
so that ``from mindkit.distill.jobs import ...`` keeps working."""

from mindkit.studies.jobs import *  # noqa: F401,F403
from mindkit.studies.jobs import __all__  # noqa: F401
