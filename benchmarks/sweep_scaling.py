"""Sweep scaling: the same 8 quick runs of notebook 02 on 1 worker and on 2, and the cost of a
fresh kernel per run.

    python benchmarks/sweep_scaling.py [--workers 2] [--keep DIR]

Prints, from one invocation:
  * the wall time of 8 quick notebook-02 runs (alpha x T grid, shared quick teachers) on a
    LocalCluster of 1 worker and of N workers, and the speed-up (goal >= 1.7x on 2 cores);
  * the per-run overhead of a run itself (fresh kernel, papermill, imports): the mean duration
    of a notebook that does nothing, as a share of a quick notebook-02 run.
Run it on an otherwise idle machine: other load on the cores changes both figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from mindkit.sweep import run_sweep

GRID = {"alpha": [0.2, 0.4, 0.6, 0.8], "T": [1.0, 4.0]}  # 8 runs


def timed_sweep(out: Path, workers: int, fixed: dict, grid=GRID, notebook="02_mind_distillation"):
    t0 = time.perf_counter()
    s = run_sweep(notebook, grid, out, fixed=fixed, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    if s.failed:
        bad = [r for r in s.runs if r["status"] != "ok"][0]
        sys.exit(f"a benchmark run failed: {bad['folder']}: {bad['error']}")
    return wall, [r["duration_s"] for r in s.runs]


def empty_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('i = 0  # run index\nrun_dir = "."  # unused')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / "empty.ipynb"
    nbformat.write(nb, str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="keep the sweep folders here (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="mindkit-sweep-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}; folders under {root}")
    try:
        t_teach, _ = timed_sweep(root / "teachers", 1, {"quick": True}, grid={"seed": [0]},
                                 notebook="01_teachers")
        teacher_dir = next((root / "teachers").glob("*seed=0-*")) / "teachers"
        fixed = {"quick": True, "teacher_dir": str(teacher_dir)}
        print(f"quick teachers (notebook 01, once): {t_teach:.1f} s")
        w1, d1 = timed_sweep(root / "w1", 1, fixed)
        wn, dn = timed_sweep(root / f"w{args.workers}", args.workers, fixed)
        print(f"8 quick notebook-02 runs, 1 worker:  {w1:6.1f} s wall "
              f"(mean run {statistics.mean(d1):.1f} s)")
        print(f"8 quick notebook-02 runs, {args.workers} workers: {wn:6.1f} s wall "
              f"(mean run {statistics.mean(dn):.1f} s)")
        print(f"speed-up: {w1 / wn:.2f}x (goal >= 1.7x on 2 cores)")
        empty = empty_notebook(root)
        _, de = timed_sweep(root / "empty", 1, {}, grid={"i": [0, 1, 2, 3]}, notebook=str(empty))
        overhead = statistics.mean(de)
        print(f"per-run overhead (fresh kernel + papermill, a notebook that does nothing): "
              f"{overhead:.1f} s = {overhead / statistics.mean(d1):.0%} of a quick notebook-02 run")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
