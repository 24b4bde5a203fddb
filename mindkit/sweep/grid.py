"""Sweep grids: typed parameter values, the Cartesian product, YAML grid files, stable run names.

Values given on the command line are typed the way papermill types ``-p`` values: ``True`` /
``False`` become bools, ``None`` None, then int, then float, then JSON (lists, objects, quoted
strings), else the string itself. A comma splits a ``-p`` value into grid values except inside
brackets or quotes, so ``-p teacher_sizes '["xs"],["xs","s","m"]'`` gives two lists.

A value, grid or grid file that cannot be read raises :class:`mindkit.notebook.ParameterError`
(a ``ValueError``), which the command line prints as one line (exit code 2).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from mindkit.notebook import ParameterError

NAME_MAX = 150  # characters of a run folder's readable part (the hash keeps it unique)


def parse_value(text: str) -> Any:
    """One command-line value, typed like papermill's ``-p``: bool, None, int, float, JSON, str."""
    s = text.strip()
    if s in ("True", "true"):
        return True
    if s in ("False", "false"):
        return False
    if s in ("None", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    if s[:1] in '[{"':
        try:
            return json.loads(s)
        except json.JSONDecodeError as e:
            raise ParameterError(f"the value {s!r} looks like JSON but does not parse: {e}; quote "
                             "it for the shell, e.g. -p teacher_sizes '[\"xs\",\"s\"]'") from None
    return s


def split_values(text: str) -> list[str]:
    """Split ``a,b,[c,d],{"e": 1}`` at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    if depth != 0 or quote:
        raise ParameterError(f"unbalanced brackets or quotes in {text!r}")
    return [p for p in (p.strip() for p in parts) if p]


def parse_cli_grid(pairs: Iterable[tuple[str, str]]) -> dict[str, list]:
    """``[("alpha", "0.2,0.5"), ("T", "1,2")]`` -> ``{"alpha": [0.2, 0.5], "T": [1, 2]}``."""
    grid: dict[str, list] = {}
    for name, text in pairs:
        if name in grid:
            raise ParameterError(f"parameter {name!r} is given twice; list all its values in "
                                 "one -p")
        values = [parse_value(v) for v in split_values(text)]
        if not values:
            raise ParameterError(f"parameter {name!r} has no values; give at least one")
        grid[name] = values
    return grid


def load_grid_file(path: str | Path) -> tuple[dict[str, list], list[dict], dict[str, Any]]:
    """A YAML grid file: ``grid:`` (name -> list of values), optional ``include:`` (a list of
    explicit points, each a mapping of parameters) and optional ``fixed:`` (parameters every run
    gets, grid and include points alike, unless the point sets them). Returns
    ``(grid, include, fixed)``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"no grid file {path}; give the path of a YAML file with 'grid:'")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParameterError(f"{path}: not valid YAML{at} ({problem}); a grid file maps 'grid', "
                             "'include', 'fixed' to parameters") from None
    if not isinstance(doc, dict) or not set(doc) <= {"grid", "include", "fixed"}:
        raise ParameterError(
            f"{path}: a grid file is a mapping with keys 'grid', 'include', 'fixed' "
            f"(got {sorted(doc) if isinstance(doc, dict) else type(doc).__name__})")
    grid = doc.get("grid") or {}
    if not isinstance(grid, dict):
        raise ParameterError(f"{path}: 'grid' must map parameter names to lists of values")
    grid = {str(k): (v if isinstance(v, list) else [v]) for k, v in grid.items()}
    include = doc.get("include") or []
    if not isinstance(include, list) or not all(isinstance(p, dict) for p in include):
        raise ParameterError(f"{path}: 'include' must be a list of mappings, one per extra run")
    fixed = doc.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ParameterError(f"{path}: 'fixed' must map parameter names to one value each")
    return grid, [dict(p) for p in include], {str(k): v for k, v in fixed.items()}


def expand(grid: Mapping[str, list] | None, include: Iterable[Mapping] = (),
           fixed: Mapping[str, Any] | None = None) -> list[dict]:
    """The runs: the Cartesian product of ``grid`` (in its key order), then every ``include``
    point, each on top of ``fixed``; duplicates (same parameters) are dropped."""
    grid = dict(grid or {})
    for k, v in grid.items():
        if not isinstance(v, (list, tuple)) or len(v) == 0:
            raise ParameterError(f"grid parameter {k!r} needs a non-empty list of values, "
                                 f"not {v!r}")
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] if grid else []
    points += [dict(p) for p in include]
    if not points:
        points = [{}]
    runs, seen = [], set()
    for p in points:
        params = {**(fixed or {}), **p}
        key = params_key(params)
        if key not in seen:
            seen.add(key)
            runs.append(params)
    return runs


def canonical(params: Mapping[str, Any]) -> str:
    """The parameters as sorted, compact JSON: equal parameters give equal text (1 and 1.0 are
    the same value to a notebook, so floats that are whole numbers are written as ints)."""
    def norm(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in sorted(v.items())}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(dict(params)), sort_keys=True, separators=(",", ":"))


def params_key(params: Mapping[str, Any]) -> str:
    """A short, stable hash of the parameters (8 hex digits of SHA-1 of :func:`canonical`)."""
    return hashlib.sha1(canonical(params).encode()).hexdigest()[:8]


def _short(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return "+".join(f"{k}={_short(x)}" for k, x in sorted(v.items())) or "empty"
    if isinstance(v, (list, tuple)):
        return "+".join(_short(x) for x in v) or "empty"
    return str(v)


def _label(key: str) -> str:
    """``<prefix>_<name>.epochs`` (a notebook-scoped parameter) -> ``<prefix>.epochs``; other
    names as they are."""
    if "." in key:
        stage, name = key.rsplit(".", 1)
        return f"{stage.split('_')[0]}.{name}"
    return key


def run_name(params: Mapping[str, Any]) -> str:
    """A readable, stable folder name: ``T=1_alpha=0.2_seed=0-<hash>``: keys sorted (a notebook's
    own ``NB.name`` keys last), odd characters replaced, the readable part cut at
    :data:`NAME_MAX` characters (the hash keeps it unique)."""
    keys = sorted(params, key=lambda k: ("." in k, k.lower()))
    readable = "_".join(f"{_label(k)}={_short(params[k])}" for k in keys)
    readable = re.sub(r"[^A-Za-z0-9=+.,-]+", "_", readable).strip("_")[:NAME_MAX] or "run"
    return f"{readable}-{params_key(params)}"
