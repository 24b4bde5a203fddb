"""The jobs of a sweep: its notebooks, their parameters, and one job per notebook execution.

**Notebooks** are found by name or number in ``notebook_dir``, by default
:data:`mindkit.notebook.NOTEBOOK_DIR` (the repository's ``notebooks/``, or the folder the
environment variable ``MINDKIT_NOTEBOOKS`` names); a path to an ``.ipynb`` file works anywhere.

**Chains.** ``notebooks=[<teachers notebook>, <students notebook>]``: each run of the last
notebook needs a run of the first; the first is run once per distinct set of the parameters it
declares (so once per seed, say) and the second gets the parameters that ``inputs`` says the first
makes (default :data:`mindkit.notebook.NOTEBOOK_INPUTS`: ``teacher_dir`` pointing at the teachers
notebook's ``teachers/``). A parameter goes to every notebook of the chain that declares it;
``<notebook name>.epochs`` goes to that notebook only. A parameter no notebook declares, or a
value whose type differs from the default's, is refused before anything runs
(:func:`mindkit.notebook.check_parameters`, the checker ``mindkit run --param`` uses too); an
int given for a float parameter reaches the notebook as a float (the run's name and key are those
of the values given).

:func:`plan` turns the points of a grid into these jobs; where each one's folder lies is
:mod:`mindkit.sweep.folders`'s layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import mindkit.notebook
from mindkit.notebook import NOTEBOOK_INPUTS, Parameter, check_parameters, parameter_specs
from mindkit.sweep.folders import STAGES_DIR
from mindkit.sweep.grid import params_key, run_name

# parameters through which a notebook consumes an earlier notebook's output: declared with the
# notebooks (mindkit.notebook.NOTEBOOK_INPUTS), kept here under its old name
INPUTS = NOTEBOOK_INPUTS
RESERVED = {"run_dir": "the sweep sets it (one folder per run under --out)"}


def resolve_notebook(ref: str | Path, notebook_dir: Path | None = None) -> Path:
    """A notebook path from a path, a name or its number (the name's prefix before ``_``), found
    in ``notebook_dir`` (default :data:`mindkit.notebook.NOTEBOOK_DIR`). A number names the
    notebook whose prefix it is exactly, even where another name starts with it (``"1"`` names
    ``1_a`` beside ``1b_c``; ``"1b"`` names ``1b_c``)."""
    notebook_dir = Path(notebook_dir or mindkit.notebook.NOTEBOOK_DIR)
    p = Path(ref)
    if p.suffix == ".ipynb" and p.exists():
        return p.resolve()
    if p.suffix == ".ipynb":
        raise FileNotFoundError(f"no notebook {p}")
    hits = sorted(notebook_dir.glob(f"{ref}*.ipynb"))
    exact = [h for h in hits if h.stem == str(ref)] or \
        [h for h in hits if h.stem.split("_", 1)[0] == str(ref)]
    if exact or len(hits) == 1:
        return (exact or hits)[0].resolve()
    names = ", ".join(h.stem for h in sorted(notebook_dir.glob("*.ipynb")))
    raise FileNotFoundError(f"{ref!r} names {'several' if hits else 'no'} notebook(s) in "
                            f"{notebook_dir}; give a path or one of: {names}")


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell
    (:func:`mindkit.notebook.parameter_specs` reads it)."""
    return {n: p.default for n, p in parameter_specs(path).items()}


@dataclass
class Stage:
    path: Path
    specs: dict[str, Parameter]

    @property
    def declared(self) -> dict[str, Any]:
        """Parameter name -> default."""
        return {n: p.default for n, p in self.specs.items()}

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class Job:
    """One notebook execution into one folder."""

    stage: Stage
    params: dict[str, Any]  # what the notebook receives, run_dir excluded
    folder: Path  # its final place
    point: dict[str, Any]  # the sweep parameters it was made for (the last stage: the run's)
    upstream: "Job | None" = None
    key: str = ""

    def __post_init__(self):
        self.key = params_key({"_notebook": self.stage.name, **self.point})


def _split_stage_params(point: Mapping[str, Any], stages: Sequence[Stage]) -> list[dict]:
    """The parameters each stage receives for ``point``: checked, routed and typed by
    :func:`mindkit.notebook.check_parameters`, the checker ``mindkit run`` uses too."""
    return check_parameters(point, [(s.name, s.specs) for s in stages], reserved=RESERVED)


def plan(notebooks: str | Sequence[str], points: Sequence[Mapping[str, Any]], out: str | Path,
         notebook_dir: Path | None = None,
         inputs: Mapping[str, tuple[str, str]] | None = None) -> list[Job]:
    """The jobs of the last notebook, one per point, each linked to its upstream jobs (shared
    between points that give the upstream notebook the same parameters). ``inputs``: parameter
    -> (upstream notebook, sub-folder of its run), default
    :data:`mindkit.notebook.NOTEBOOK_INPUTS`."""
    inputs = mindkit.notebook.NOTEBOOK_INPUTS if inputs is None else inputs
    refs = [notebooks] if isinstance(notebooks, (str, Path)) else list(notebooks)
    if not refs:
        raise ValueError("a sweep needs at least one notebook")
    stages = [Stage(p, parameter_specs(p)) for p in (resolve_notebook(r, notebook_dir)
                                                     for r in refs)]
    out = Path(out).resolve()
    shared: dict[str, Job] = {}
    finals = []
    for point in points:
        per = _split_stage_params(point, stages)
        prev = None
        for i, stage in enumerate(stages):
            params = dict(per[i])
            if prev is not None:
                for pname, (maker, sub) in inputs.items():
                    if pname in stage.declared and pname not in params and \
                            prev.stage.name == maker:
                        params[pname] = str(prev.folder / sub)
            last = i == len(stages) - 1
            if last:
                job = Job(stage, params, out / run_name(point), dict(point), prev)
            else:
                ident = {**params, **({"_upstream": prev.key} if prev else {})}
                folder = out / STAGES_DIR / stage.name / run_name(ident)
                job = shared.setdefault(str(folder), Job(stage, params, folder, ident, prev))
            prev = job
        finals.append(prev)
    names = [j.folder.name for j in finals]
    if len(set(names)) != len(names):
        raise ValueError("two runs of this sweep have the same parameters")
    return finals
