"""Moved to :mod:`mindkit.studies.models` (the studies layer, issue 21); this module re-exports it
so that ``from mindkit.distill.suite import ...`` keeps working."""

from mindkit.studies.models import *  # noqa: F401,F403
from mindkit.studies.models import __all__  # noqa: F401
from mindkit.studies.scarcity import ScarcityResult, scarcity_curve  # noqa: F401

__all__ = [*__all__, "ScarcityResult", "scarcity_curve"]
