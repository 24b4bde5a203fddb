"""Small helpers that keep the numbered notebooks thin and consistent, and the one place that
knows what a notebook's parameters are.

``setup`` seeds everything, loads the dataset (shrunk when ``quick``), opens the run folder
and records which dataset a run used, so a later notebook pointed at the same ``run_dir`` with a
different dataset fails with a clear message instead of mixing results.

``declared_parameters`` reads a stored notebook's ``parameters`` cell; ``check_parameters`` is
the one checker that ``mindkit run --param`` and ``mindkit sweep`` share (unknown names and
values of the wrong type are refused with a :class:`ParameterError`, before anything runs);
``quick_values`` is how a notebook's ``quick`` mode shrinks its parameters without overriding
a value the user set explicitly.

In a notebook, ``setup`` also installs :func:`show_warnings_as_notices`: the kit's warnings
(a model still improving at its last epoch, a store entry retrained, ...) appear once each as
one plain line in the cell's output, not as a stderr box quoting the kit's source. They are
still ordinary warnings everywhere else (scripts, pytest), and what they report stays in the
records (e.g. ``still_improving``).

This module imports no torch or dataset code at import time (``setup`` does, when called), so
the command line can check parameters without paying for them.
"""

from __future__ import annotations

import ast
import difflib
import functools
import json
import numbers
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mindkit.common import (
    TEACHERS_NOTEBOOK as TEACHERS_NOTEBOOK,  # the notebook that trains the teachers
)
from mindkit.lab import (  # noqa: F401  (re-exported: the kernel's notices, lab settings)
    KIT_DIR,
    LAB_SETTINGS,
    WarningNotices,
    install_lab_settings,
    is_kit_warning,
    lab_settings_dir,
    show_warnings_as_notices,
)

if TYPE_CHECKING:
    from mindkit.data import MultimodalDataset
    from mindkit.run import RunDir

NOTEBOOKS_ENV = "MINDKIT_NOTEBOOKS"
"""Environment variable naming the folder of the stored notebooks (read once, at import)."""


def default_notebook_dir() -> Path:
    """Where the stored notebooks are: the folder ``$MINDKIT_NOTEBOOKS`` names when it is set,
    else the repository's ``notebooks/`` (next to the ``mindkit`` package of a source checkout).
    :data:`NOTEBOOK_DIR` holds it; ``mindkit run``, ``mindkit sweep`` and
    :func:`mindkit.sweep.run_sweep` find notebooks there (``notebook_dir=`` overrides it per
    call)."""
    env = os.environ.get(NOTEBOOKS_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[1] / "notebooks"


NOTEBOOK_DIR = default_notebook_dir()  # the stored notebooks
NOTEBOOK_INPUTS: dict[str, tuple[str, str]] = {"teacher_dir": (TEACHERS_NOTEBOOK, "teachers")}
"""How the notebooks chain: parameter -> (the notebook that makes it, the sub-folder of that
notebook's ``run_dir`` it points at). A chained sweep (:func:`mindkit.sweep.run_sweep` with
several notebooks) sets such a parameter of a notebook to its upstream run's sub-folder; this is
the one place the series declares it (``run_sweep(..., inputs=...)`` replaces it per call)."""
QUICK_MAX_PER_SPLIT = 240  # samples per split kept when quick=True
NOT_IDENTITY = ("run_dir", "device")
"""Parameters that say where a run writes and computes, not what it is: left out of its key."""


class ParameterError(ValueError):
    """A notebook parameter (or a sweep grid) that is refused before anything runs: an unknown
    name, a value of the wrong type, a reserved name, a grid file that does not parse. The
    command line prints its one-line message as ``mindkit: <message>`` and exits with code 2."""


# --------------------------------------------------------------------------------------------
# what a notebook declares

# the value types a parameter can be checked against; any other annotation accepts any value
TYPES = ("bool", "int", "float", "str", "list", "dict", "None")
_TYPE_ALIASES = {"List": "list", "Dict": "dict", "tuple": "list", "Tuple": "list",
                 "NoneType": "None"}
_ARTICLE = {"int": "an int", "float": "a float", "bool": "a bool", "str": "a str",
            "list": "a list", "dict": "a dict", "None": "None"}


@dataclass(frozen=True)
class Parameter:
    """One assignment of a notebook's ``parameters`` cell.

    ``types`` are the value types the notebook accepts: from the line's annotation or ``# type:``
    comment when it has one (``target = "pred"  # type: str|int ...``: a name or a class index),
    else the type of the default; ``None`` accepts any value (a ``None`` default, or an
    annotation this module cannot check).
    """

    name: str
    default: Any
    types: tuple[str, ...] | None

    def describe(self) -> str:
        """``an int``, ``a str or an int``, ``any value``."""
        if self.types is None:
            return "any value"
        return " or ".join(_ARTICLE[t] for t in self.types)

    def coerce(self, value: Any, notebook: str) -> Any:
        """``value`` as the notebook receives it (an int for a float parameter becomes a float, a
        tuple for a list one a list); :class:`ParameterError` when its type is not accepted."""
        if self.types is None:
            return value
        kind = value_type(value)
        if kind in self.types:
            return value
        if kind == "int" and "float" in self.types:
            return float(value)
        if kind == "tuple" and "list" in self.types:
            return list(value)
        hint = ""
        if "str" in self.types and kind != "str":
            hint = f"; to give it as text, write it as a JSON string ('\"{value}\"' in a shell)"
        raise ParameterError(
            f"parameter {self.name!r} of {notebook} takes {self.describe()} (default "
            f"{self.default!r}), not {_ARTICLE.get(kind, 'a ' + kind)} {value!r}{hint}")


def value_type(value: Any) -> str:
    """The type name :class:`Parameter` checks a value by (bools are not ints here)."""
    if value is None:
        return "None"
    for t, cls in (("bool", bool), ("int", numbers.Integral), ("float", numbers.Real),
                   ("str", str), ("list", list), ("dict", dict), ("tuple", tuple)):
        if isinstance(value, cls):
            return t
    return type(value).__name__


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets (``Union[list[str],int]`` -> 2 parts)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def parse_type(text: str) -> tuple[str, ...] | None:
    """An annotation or ``# type:`` comment as the value types it accepts: ``int`` -> ``("int",)``,
    ``str|int`` and ``Union[str, int]`` -> ``("str", "int")``, ``Optional[list[str]]`` ->
    ``("list", "None")``; ``None`` (any value) for ``Any`` or a type it cannot check."""
    t = text.strip().strip("'\"").replace(" ", "")
    m = re.fullmatch(r"(Optional|Union)\[(.*)\]", t)
    parts = _split_top(m.group(2), ",") + (["None"] if m.group(1) == "Optional" else []) \
        if m else _split_top(t, "|")
    out = []
    for p in parts:
        base = p.split("[", 1)[0]
        base = _TYPE_ALIASES.get(base, base)
        if base not in TYPES:
            return None
        out.append(base)
    return tuple(dict.fromkeys(out)) or None


def _default_types(default: Any) -> tuple[str, ...] | None:
    kind = value_type(default)
    return None if kind == "None" else ("list",) if kind == "tuple" else \
        (kind,) if kind in TYPES else None


def parameter_specs(path: str | Path) -> dict[str, Parameter]:
    """The parameters of the notebook at ``path``, in the order of its ``parameters`` cell.

    The cell is parsed with :mod:`ast` (each ``name = <literal>`` line, ``name: T = <literal>``
    too), not with papermill's line parser, which skips a line with more than one ``=`` (notebook
    03's ``methods`` list holds names like ``"mind@alpha=0.2,T=1"``). Cached per file version.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}; the stored notebooks are "
                                f"{', '.join(p.stem for p in sorted(NOTEBOOK_DIR.glob('*.ipynb')))}"
                                f" in {NOTEBOOK_DIR}")
    st = path.stat()
    return dict(_read_specs(str(path), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=64)
def _read_specs(path: str, mtime_ns: int, size: int) -> dict[str, Parameter]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{Path(path).name} has {len(cells)} cells tagged 'parameters'; tag "
                             "exactly one cell, the one that assigns the notebook's parameters")
    src = cells[0].source
    try:
        body = ast.parse(src).body
    except SyntaxError as e:
        raise ParameterError(f"{Path(path).name}: its parameters cell does not parse "
                             f"(line {e.lineno}: {e.msg}); it must hold 'name = value' lines"
                             ) from None
    lines = src.splitlines()
    out: dict[str, Parameter] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, annotation = node.targets[0], None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, annotation = node.target, node.annotation
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        try:
            default, literal = ast.literal_eval(node.value), True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default, literal = None, False
        text = None
        if annotation is not None:
            text = annotation.value if isinstance(annotation, ast.Constant) else \
                ast.unparse(annotation)
        else:
            m = re.match(r"\s*#\s*type:\s*(\S+)", lines[node.end_lineno - 1][node.end_col_offset:])
            text = m.group(1) if m else None
        types = parse_type(str(text)) if text is not None else \
            _default_types(default) if literal else None
        out[target.id] = Parameter(target.id, default, types)
    return out


def declared_parameters(notebook: str) -> dict[str, object]:
    """The defaults of ``NOTEBOOK_DIR/<notebook>.ipynb``'s ``parameters`` cell, literal-evaluated,
    in the cell's order (a line whose value is not a literal gives ``None``). Cached per file
    version; each call returns fresh copies, so callers may change them."""
    import copy

    specs = parameter_specs(NOTEBOOK_DIR / f"{notebook}.ipynb")
    return {n: copy.deepcopy(p.default) for n, p in specs.items()}


def _matches(notebook: str, prefix: str) -> bool:
    return prefix in (notebook, notebook.split("_")[0])


def _suggest(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"; the parameters are {', '.join(dict.fromkeys(candidates))}"


def check_parameters(values: Mapping[str, Any],
                     notebooks: Sequence[tuple[str, Mapping[str, Parameter]]],
                     reserved: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Give each notebook the ``values`` it declares, type-checked: the one checker behind
    ``mindkit run --param`` and ``mindkit sweep``.

    ``notebooks`` are ``(name, parameter_specs(...))`` in the order they run. A plain name goes
    to every notebook whose ``parameters`` cell declares it (and only to those, so papermill
    never sees a name it would merely warn about); ``NOTEBOOK.name`` (the notebook's name or its
    number: ``01_teachers.epochs``, ``01.epochs``) to that notebook only, and wins over the plain
    name. Each value must have a type the parameter takes (:meth:`Parameter.coerce`). ``reserved``
    maps names that are refused whatever the notebooks declare to the reason (which says what to
    use instead). Returns one dict per notebook, in order. Raises :class:`ParameterError` with a
    one-line message: a name no notebook declares (with the close matches), a value of the wrong
    type (with the notebook, the expected type and the default), a reserved name.
    """
    names = ", ".join(n for n, _ in notebooks)
    per: list[dict[str, Any]] = [{} for _ in notebooks]
    prefixed: list[set[str]] = [set() for _ in notebooks]
    for key, value in values.items():
        prefix, _, name = key.rpartition(".")
        if name in (reserved or {}):
            raise ParameterError(f"parameter {key!r} is refused: {reserved[name]}")
        if prefix:
            hit = [i for i, (nb, _) in enumerate(notebooks) if _matches(nb, prefix)]
            if not hit:
                raise ParameterError(f"parameter {key!r}: no notebook {prefix!r} among {names}; "
                                     "write NOTEBOOK.NAME with one of them")
        else:
            hit = [i for i, (_, specs) in enumerate(notebooks) if name in specs]
            if not hit:
                who = f"{names} does not declare it" if len(notebooks) == 1 else \
                    f"none of {names} declares it"
                raise ParameterError(
                    f"unknown parameter {name!r}: {who}"
                    + _suggest(name, [p for _, specs in notebooks for p in specs]))
        for i in hit:
            nb, specs = notebooks[i]
            if name not in specs:
                raise ParameterError(f"unknown parameter {key!r}: {nb} does not declare {name!r}"
                                     + _suggest(name, list(specs)))
            typed = specs[name].coerce(value, nb)
            if prefix:
                per[i][name] = typed
                prefixed[i].add(name)
            elif name not in prefixed[i]:
                per[i][name] = typed
    return per


# --------------------------------------------------------------------------------------------
# inside a notebook


def _same(a: Any, b: Any) -> bool:
    """Equal as notebook values (``2 == 2.0``), but a bool is not a number."""
    try:
        return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)
    except Exception:  # noqa: BLE001 - values that do not compare (arrays): not the same
        return False


def quick_values(notebook: str, quick: bool, /, **pairs: tuple[Any, Any]) -> Any:
    """The values a notebook runs with under ``quick``: ``name=(current value, quick value)``.

    Quick mode never overrides a parameter the user set explicitly: when ``quick``, each value
    that still equals the default declared in ``NOTEBOOK_DIR/<notebook>.ipynb`` becomes its quick
    value, and a value that differs from it (given through papermill, ``mindkit run --param``, a
    sweep, or edited in the cell) is kept. Prints one line saying what quick changed and what it
    kept, e.g. ``quick: epochs 12 -> 2, n_boot 1000 -> 50; kept epochs=5 (set explicitly)``. When
    the stored notebook cannot be read, every pair takes its quick value and the line says why.
    (A value given explicitly but equal to the default cannot be told from the default.)

    Returns the values in the order given (the single value when one pair is given); without
    ``quick`` they are the current values, unchanged, and nothing is printed.

        epochs, n_boot = quick_values("02_mind_distillation", quick, epochs=(epochs, 2),
                                      n_boot=(n_boot, 50))
    """
    if not pairs:
        raise TypeError("quick_values needs at least one name=(value, quick value) pair")
    for name, pair in pairs.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"quick_values: {name}= takes a pair (current value, quick value), "
                            f"not {pair!r}")
    if not quick:
        out = [v for v, _ in pairs.values()]
        return out[0] if len(out) == 1 else tuple(out)
    why = ""
    try:
        declared: dict[str, object] | None = declared_parameters(notebook)
    except (FileNotFoundError, ParameterError) as e:
        declared, why = None, f" (every quick value applies: {e})"
    out, changed, kept = [], [], []
    for name, (value, quick_value) in pairs.items():
        if declared is not None:
            if name not in declared:
                raise ValueError(f"quick_values: {notebook} declares no parameter {name!r}; name "
                                 "only parameters of its parameters cell")
            if not _same(value, declared[name]):
                kept.append(f"{name}={value!r}")
                out.append(value)
                continue
        if not _same(value, quick_value):
            changed.append(f"{name} {value!r} -> {quick_value!r}")
        out.append(quick_value)
    line = "quick: " + (", ".join(changed) or "nothing to change")
    print(line + (f"; kept {', '.join(kept)} (set explicitly)" if kept else "") + why)
    return out[0] if len(out) == 1 else tuple(out)


def run_params(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameters as they stand in ``namespace`` (a notebook's ``globals()``):
    only the names its stored ``parameters`` cell declares, :data:`NOT_IDENTITY` left out (the
    folder and the device are not part of a run's identity: a rerun on a GPU replaces the CPU
    run's records), each made JSON-able (``default=str``)."""
    keep = [n for n in declared_parameters(notebook) if n not in NOT_IDENTITY and n in namespace]
    return json.loads(json.dumps({n: namespace[n] for n in keep}, default=str))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: ``threads``, else ``$MINDKIT_THREADS``, else 1.

    The kit's models are small (recurrent steps, tiny convolutions), where each operator is too
    short to pay for a thread hand-off; and when other processes share the cores, OpenMP's
    busy-waiting threads slowed a GRU's backward pass by two orders of magnitude in our
    measurements. One thread is the robust default; raise it for larger models.
    """
    import os

    import torch

    n = threads or int(os.environ.get("MINDKIT_THREADS", "1"))
    torch.set_num_threads(n)
    return n


def setup(dataset: str, seed: int, quick: bool, run_dir: str, notebook: str,
          dataset_options: dict | None = None, params: Mapping[str, Any] | None = None
          ) -> tuple[MultimodalDataset, RunDir]:
    """Seed, load ``dataset`` (subsampled when ``quick``), open ``run_dir`` and check that it
    holds this dataset's run; returns ``(dataset, run)``.

    ``params`` is the notebook's namespace (notebooks pass ``params=globals()``): the values of
    the parameters its stored cell declares (``run_dir`` and ``device`` left out) become
    ``run.params``, which
    keys the notebook's records in ``run_dir``. The run's record files are checked
    (``run.check_records()``) before the notebook does any work, and so is its ``device``
    parameter (:func:`mindkit.device.resolve_device`: a device this machine lacks is
    refused here, at the first cell; the device it resolves to is printed). In a notebook it
    installs :func:`show_warnings_as_notices`.
    """
    from mindkit.atomic import write_text
    from mindkit.data import load
    from mindkit.run import RunDir, run_dir_for
    from mindkit.train.trainer import seed_everything

    configure_threads()
    show_warnings_as_notices()  # in a notebook only: the kit's warnings as one-line notices
    if params is not None and "device" in params:
        from mindkit.device import resolve_device

        print(f"device: {resolve_device(params['device'])} (device={params['device']!r})")
    seed_everything(seed)
    ds = load(dataset, seed=seed, **(dataset_options or {}))
    if quick:
        ds = ds.subsample(QUICK_MAX_PER_SPLIT, seed)
    if run_dir_for(run_dir, quick) != Path(run_dir):
        print(f"quick mode: {run_dir} holds a full run, so this quick run writes to "
              f"{run_dir_for(run_dir, quick)} (its own teachers, students and records)")
    run = RunDir(run_dir_for(run_dir, quick))
    run.check_records()
    if params is not None:
        try:
            run.params = run_params(notebook, params)
        except FileNotFoundError as e:
            print(f"note: this run's records are not keyed by its parameters ({e})")
    ident = {"dataset": ds.name, "seed": seed, "quick": bool(quick),
             "options": json.loads(json.dumps(ds.options, default=str))}
    marker = run / "dataset.json"
    prev = json.loads(marker.read_text()) if marker.exists() else None
    if prev is not None and prev != ident:
        if notebook != "00_data_tour":
            raise ValueError(
                f"{run.path} holds a run made with {prev}, but this notebook was asked for "
                f"{ident}; use another run_dir or the same dataset parameters")
        return ds, run  # touring another dataset leaves the run's records alone
    write_text(marker, json.dumps(ident, indent=1))
    ds.save_splits(run / "splits.json")
    return ds, run


def base_record(ds: MultimodalDataset, seed: int, **fields) -> dict:
    """The fields every metric record of a notebook shares (evaluators add ``split``)."""
    return {"dataset": ds.display_name, "seed": seed, **fields}


def method_pair(methods: Sequence[str]) -> tuple[str, str]:
    """The two method names a comparing notebook trains, the first compared with the second
    (each checked: a registered name, optionally ``name@key=value,...``)."""
    # imported here, not at the top: the CLI imports this module and starts without torch
    from mindkit.distill.methods import parse_method

    if isinstance(methods, str) or len(methods) != 2 or len(set(methods)) != 2:
        raise ValueError(f"methods must name two different methods, the first compared with "
                         f"the second (e.g. ['mind', 'no_kd']); got {methods!r}")
    for m in methods:
        parse_method(m)
    return methods[0], methods[1]


def execute_notebook(name: str, run_dir: Path, parameters: dict,
                     notebook_dir: Path | None = None) -> Path:
    """Execute ``notebook_dir/name.ipynb`` (default: :data:`NOTEBOOK_DIR`) with papermill into
    ``run_dir/notebooks/``."""
    import papermill as pm

    notebook_dir = Path(notebook_dir or NOTEBOOK_DIR)
    src = notebook_dir / f"{name}.ipynb"
    if not src.exists():
        have = ", ".join(sorted(p.stem for p in notebook_dir.glob("*.ipynb")))
        raise FileNotFoundError(f"no notebook {src}; the notebooks are {have}")
    out = Path(run_dir) / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(src), str(out), parameters=parameters, cwd=str(notebook_dir),
                        progress_bar=False, log_output=True, kernel_name="python3")
    return out


def teacher_folder(run, quick: bool, params: Mapping[str, Any]) -> Path:
    """``run/teachers`` (notebook :data:`TEACHERS_NOTEBOOK`'s teachers). In quick mode, when
    this run folder has none yet, that notebook is first run here in quick mode, with this
    notebook's dataset parameters, in a separate process (seconds), so a quick notebook finds
    or trains its own teachers; otherwise a missing folder is refused naming the notebook."""
    import subprocess

    path = Path(run.path) / "teachers"
    if quick and not path.exists():
        declared = declared_parameters(TEACHERS_NOTEBOOK)
        given = {k: v for k, v in params.items() if k in declared and k not in ("run_dir",)}
        given.update(quick=True, run_dir=str(Path(run.path).resolve()))
        print(f"quick mode: no teachers in {run.path} yet; running {TEACHERS_NOTEBOOK} "
              f"(quick) there first", flush=True)
        code = ("import json, sys; from pathlib import Path; "
                "from mindkit.notebook import execute_notebook; "
                "execute_notebook(sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]))")
        proc = subprocess.run(
            [sys.executable, "-c", code, TEACHERS_NOTEBOOK, str(Path(run.path).resolve()),
             json.dumps(given, default=str)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{TEACHERS_NOTEBOOK} (quick) failed in {run.path}: "
                               f"{proc.stderr.strip()[-2000:]}")
    return run.require("teachers", TEACHERS_NOTEBOOK)
