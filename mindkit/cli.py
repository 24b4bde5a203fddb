"""The ``mindkit`` command line: run the notebook series, print a run's results.

    python -m mindkit.cli run --run-dir runs/demo [--dataset avdigits] [--quick]
    python -m mindkit.cli results runs/demo
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SERIES = ("00_data_tour", "01_teachers", "02_mind_distillation")  # the demo
NOTEBOOKS = SERIES + ("03_baselines_and_ablations",)


def execute_notebook(name: str, run_dir: Path, parameters: dict, notebook_dir: Path = NOTEBOOK_DIR
                     ) -> Path:
    """Execute ``notebook_dir/name.ipynb`` with papermill into ``run_dir/notebooks/``."""
    import papermill as pm

    src = notebook_dir / f"{name}.ipynb"
    if not src.exists():
        raise FileNotFoundError(f"no notebook {src}; the notebooks are {', '.join(NOTEBOOKS)}")
    out = run_dir / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(src), str(out), parameters=parameters, cwd=str(notebook_dir),
                        progress_bar=False, log_output=True, kernel_name="python3")
    return out


def results_table(run_dir: Path):
    """Test-split records of the run's primary metrics: one row per method/model/head/group."""
    from mindkit.run import RunDir

    df = RunDir(run_dir).metrics_frame()
    if df.empty:
        raise FileNotFoundError(f"no metrics.json records in {run_dir}")
    d = df[(df["split"] == "test") & df["metric"].isin(["accuracy", "auroc", "macro_f1", "auprc"])]
    cols = [c for c in ("notebook", "dataset", "method", "model", "head", "group", "metric",
                        "value", "ci_low", "ci_high", "n", "params") if c in d]
    return d[cols].reset_index(drop=True)


def cmd_run(args) -> int:
    run_dir = Path(args.run_dir).resolve()
    params = {"dataset": args.dataset, "seed": args.seed, "quick": args.quick,
              "run_dir": str(run_dir)}
    t0 = time.perf_counter()
    for name in args.notebooks or SERIES:
        t = time.perf_counter()
        print(f"[mindkit] executing {name} ...", flush=True)
        out = execute_notebook(name, run_dir, params)
        print(f"[mindkit] {name} done in {time.perf_counter() - t:.0f} s -> {out}", flush=True)
    table = results_table(run_dir)
    table.to_csv(run_dir / "results.csv", index=False)
    _print_results(table)
    print(f"\n[mindkit] finished in {time.perf_counter() - t0:.0f} s")
    print(f"  executed notebooks: {run_dir / 'notebooks'}")
    print(f"  results table:      {run_dir / 'results.csv'}")
    print(f"  all records:        {run_dir / 'metrics.json'}")
    print(f"  figures:            {', '.join(sorted(p.name for p in run_dir.glob('*.png')))}")
    print(f"  checkpoints:        {run_dir / 'teachers'}, {run_dir / 'students'}")
    return 0


def _print_results(table) -> None:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_rows", 200,
                           "display.max_columns", 20):
        main = table[table["metric"].isin(["accuracy", "auroc"])]
        print(main.drop(columns=[c for c in ("notebook",) if c in main]).to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))


def cmd_results(args) -> int:
    _print_results(results_table(Path(args.run_dir)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mindkit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebook series with papermill")
    r.add_argument("--run-dir", default="runs/demo")
    r.add_argument("--dataset", default="avdigits")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quick", action="store_true", help="tiny subsample and few epochs")
    r.add_argument("--notebooks", nargs="*", choices=NOTEBOOKS,
                   help="notebooks to run (default: the demo series 00-02)")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("results", help="print a run folder's test results")
    s.add_argument("run_dir")
    s.set_defaults(fn=cmd_results)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
