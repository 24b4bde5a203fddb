"""Small helpers shared across mindkit: option checks, a progress bar, seeded random streams.

Importable without torch (numpy only; tqdm is imported when a bar is shown).

- :data:`TASKS`: the three prediction tasks a dataset may declare.
- :func:`check_choice`: refuse an option value outside its valid choices, naming them.
- :func:`check_share`: refuse a share (a fraction) outside ``[0, 1]``.
- :func:`check_number`: refuse a numeric option that is NaN, infinite, not an integer when one
  is needed, or outside its range, naming the option, the value and the valid range.
- :func:`progress`: a text tqdm bar on stdout (or the iterable itself when disabled).
- :func:`rng_stream`: an independent, reproducible numpy generator per seed and purpose.
- :class:`KitWarning`: the base of the kit's own warnings (a notebook shows them as one-line
  notices, :func:`mindkit.notebook.show_warnings_as_notices`).
- :func:`in_notebook`: whether the code runs in a Jupyter kernel.
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from typing import IO, Iterable, TypeVar

import numpy as np

T = TypeVar("T")

TASKS = ("binary", "multilabel", "multiclass")
SPLITS = ("train", "val", "test")  # the partitions of every dataset, in this order
# the notebook that trains the teachers (named in refusals that say how to rebuild them; the
# notebooks' chaining, mindkit.notebook.NOTEBOOK_INPUTS, starts from it)
TEACHERS_NOTEBOOK = "01_teachers"
"""``binary`` (y float ``[B, 1]``), ``multilabel`` (y float 0/1 ``[B, C]``) or ``multiclass``
(y class index ``[B]``)."""


def check_choice(name: str, value: T, allowed: Iterable) -> T:
    """``value`` if it is one of ``allowed``; else a ValueError naming the option ``name``, the bad
    value and the valid choices (``allowed`` may be any iterable, e.g. a dict's keys)."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; use one of {allowed}")
    return value


def check_share(name: str, value) -> float:
    """``value`` as a float if it lies in ``[0, 1]``; else a ValueError naming ``name``."""
    return check_number(name, value, 0.0, 1.0)


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    """``in [0, 1)``, ``>= 0``, ``< 5`` or ``""`` (no bound): the valid range in words."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_number(name: str, value, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, integer: bool = False,
                 hint: str = "") -> float | int:
    """``value`` as a float (or an int with ``integer``) if it is a finite number in the range;
    else a ValueError naming the option ``name``, the value and the valid range.

    The range is ``[low, high]``; ``low_open`` / ``high_open`` exclude an end, ``None`` leaves a
    side unbounded. NaN and infinities are always refused (a comparison with NaN is false, so a
    plain ``value < 0`` check lets NaN through), and so are booleans (``True`` is not a
    number of pixels). A number written as a string (``"0.5"``) is read as that number. With
    ``integer`` the value must be a whole number (``3.0`` gives ``3``; ``3.5`` is refused, not
    truncated). ``hint`` is appended to the message (e.g. where the limit comes from).
    Messages read e.g. ``noise_std must be a finite number >= 0, got nan`` or
    ``frame_mask must be in [0, 1], got 1.5``.
    """
    rng = _interval(low, high, low_open, high_open)
    what = "an integer" if integer else "a finite number"
    bounded = low is not None and high is not None and not integer
    # "in [0, 1]" already says finite; "an integer in [0, 28]"; "a finite number >= 0"
    want = rng if bounded else f"{what}{' ' + rng if rng else ''}"
    tail = f"; {hint}" if hint else ""
    num = None
    if not isinstance(value, (bool, np.bool_, bytes)):
        try:
            num = float(value)
        except (TypeError, ValueError):
            num = None
    ok = num is not None and math.isfinite(num)
    ok = ok and not (integer and not num.is_integer())
    ok = ok and not (low is not None and (num < low or (low_open and num == low)))
    ok = ok and not (high is not None and (num > high or (high_open and num == high)))
    if not ok:
        raise ValueError(f"{name} must be {want}, got {value!r}{tail}")
    if integer:  # an int stays exact (a float holds integers only up to 2**53)
        return int(value) if isinstance(value, (int, np.integer)) else int(num)
    return num


def progress(
    iterable: Iterable[T],
    desc: str,
    enabled: bool = True,
    total: int | None = None,
    *,
    leave: bool = True,
    file: IO[str] | None = None,
    mininterval: float = 0.0,
    ncols: int = 100,
    dynamic_ncols: bool = False,
) -> Iterable[T]:
    """``iterable`` wrapped in a text tqdm bar, or ``iterable`` itself when not ``enabled``.

    The defaults give a plain-text bar on stdout, redrawn at every step: one line that updates
    in place in JupyterLab, and a short readable log under papermill and CI (a widget bar would
    leave only its first state in an executed notebook). ``total`` is the length when
    ``iterable`` has none; ``leave``, ``file`` (default ``sys.stdout``), ``mininterval``,
    ``ncols`` and ``dynamic_ncols`` are passed to tqdm (a loop of many fast steps wants
    ``mininterval`` of about 0.5 s).
    """
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave,
                file=sys.stdout if file is None else file, mininterval=mininterval,
                ncols=ncols, dynamic_ncols=dynamic_ncols)


class KitWarning(UserWarning):
    """The base of mindkit's own warnings (:class:`mindkit.train.ConvergenceWarning`, the
    store's, the metrics', the data's). They are ordinary warnings: raised, filtered and caught
    (``pytest.warns``) as any ``UserWarning``; in a notebook, :func:`mindkit.notebook.setup`
    shows them as a one-line notice instead of a stderr box."""


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (JupyterLab, papermill), not a script or a plain
    IPython shell."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:  # IPython missing or misconfigured: behave as a script
        return False


def _stream_key(part: int | str) -> int:
    if isinstance(part, str):  # a stable 32-bit number (``hash`` changes between processes)
        return int.from_bytes(hashlib.sha256(part.encode()).digest()[:4], "little")
    if isinstance(part, (bool, np.bool_)) or int(part) != part or part < 0:
        raise ValueError(f"a stream name part is a string or an integer >= 0, got {part!r}")
    return int(part)


def rng_stream(seed: int, *name: int | str) -> np.random.Generator:
    """An independent generator for one purpose: ``np.random.default_rng([seed, *name])``.

    ``name`` is one or more parts naming the purpose (``rng_stream(seed, "split")``); strings
    are turned into stable 32-bit numbers, integers (>= 0) are used as they are, so
    ``rng_stream(seed, 7919, 2)`` is exactly ``np.random.default_rng([seed, 7919, 2])``. Streams
    of different names are independent (numpy's ``SeedSequence`` mixes the whole key), so drawing
    more from one (say, more noise) never moves another (the split). The same seed and name
    always give the same numbers.
    """
    if not name:
        raise ValueError("rng_stream needs a name for the stream (a string or integers)")
    return np.random.default_rng([int(seed), *(_stream_key(p) for p in name)])


__all__ = ["SPLITS", "TASKS", "TEACHERS_NOTEBOOK", "KitWarning", "check_choice", "check_number",
           "check_share", "in_notebook", "progress", "rng_stream"]


def with_ext(path: str | Path, ext: str,
             known: tuple[str, ...] = (".safetensors", ".pt", ".json")) -> Path:
    """``path`` with extension ``ext``: a ``known`` extension is replaced, anything else is kept
    as part of the name (method names such as ``mind@alpha=0.8`` contain dots, which
    ``Path.with_suffix`` would cut)."""
    p = Path(path)
    if p.suffix in known:
        p = p.with_suffix("")
    return p.with_name(p.name + ext)
