"""Parameter sweeps: any notebook (or chain of notebooks) over a grid, in parallel on Dask
distributed, resumable, failures isolated; ``collect`` gathers the results into pandas.

    from mindkit.sweep import run_sweep, collect
    run_sweep("mind_distillation.ipynb", {"alpha": [0.2, 0.8], "seed": [0, 1]}, "runs/sweeps/a",
              fixed={"quick": True, "teacher_dir": "/abs/runs/demo/teachers"}, workers=2)
    df = collect("runs/sweeps/a")

From the shell: ``mindkit sweep NOTEBOOK --out DIR -p NAME V1,V2 ...`` and
``mindkit sweep-collect DIR`` (see ``mindkit.cli``). Parameters are checked against each
notebook's ``parameters`` cell by :func:`mindkit.notebook.check_parameters` (the checker
``mindkit run --param`` uses too); a refusal is a :class:`ParameterError`.
"""

from mindkit.notebook import ParameterError
from mindkit.sweep.collect import collect, run_folders, write_results
from mindkit.sweep.folders import read_status
from mindkit.sweep.grid import (
                                expand,
                                load_grid_file,
                                params_key,
                                parse_cli_grid,
                                parse_value,
                                run_name,
                                split_values,
)
from mindkit.sweep.jobs import notebook_parameters, plan
from mindkit.sweep.runner import SweepSummary, run_sweep

__all__ = ["ParameterError", "run_sweep", "collect", "run_folders", "write_results",
           "SweepSummary", "plan", "read_status", "notebook_parameters", "expand",
           "load_grid_file", "params_key", "parse_cli_grid", "parse_value", "run_name",
           "split_values"]
