"""The ``mindkit`` command line: run the notebook series, print a run's results.

    python -m mindkit.cli run --run-dir runs/demo [--dataset NAME|FOLDER] [--quick] [--param N=V]
                              [--device auto|cpu|cuda|mps]
    python -m mindkit.cli results runs/demo
    python -m mindkit.cli sweep NOTEBOOK [NOTEBOOK ...] --out DIR -p NAME V1,V2 ... [--grid F]
                                [--gpus N]
    python -m mindkit.cli sweep-collect DIR
    python -m mindkit.cli store ls RUN_DIR|STORE [--dataset NAME]
    python -m mindkit.cli store rm RUN_DIR|STORE KEY [KEY ...] | --dataset NAME
    python -m mindkit.cli copy-run SRC DST

``mindkit`` (the console script) is the same command. A refused request (an unknown notebook
parameter, a value of the wrong type, a grid file that does not parse) prints one line,
``mindkit: <what is wrong and what to do>``, on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mindkit.notebook import NOTEBOOK_DIR, ParameterError, execute_notebook

# the demo (01b, a hands-on introduction to KD, sorts between 01 and 02)
SERIES = ("00_data_tour", "01_teachers", "01b_kd_in_ten_minutes", "02_mind_distillation")
NOTEBOOKS = SERIES + ("03_baselines_and_ablations", "04_missing_modalities", "05_explain",
                      "06_bottleneck_gm", "07_mckd_and_comparison", "08_sweep_analysis",
                      "09_replication")
# parameters that ``mindkit run`` sets through its own flags (device: the notebooks that train
# or score models declare it)
RUN_FLAGS = {name: f"it has its own flag: use --{name.replace('_', '-')}"
             for name in ("run_dir", "dataset", "seed", "quick", "device")}


def check_device(device: str | None) -> str | None:
    """``--device``'s value in its normal form (``auto``, ``cpu``, ``cuda``, ``cuda:N``,
    ``mps``; ``None`` when the flag is not given). A value that is not a device option, or a
    device this machine does not have, is refused with a :class:`ParameterError` (one line,
    exit 2) before any notebook runs."""
    if device is None:
        return None
    from mindkit.device import DeviceError, parse_device, resolve_device

    try:
        device = parse_device(device)
        resolve_device(device)
    except DeviceError as e:
        raise ParameterError(f"--device {device}: {e}") from None
    return device


# records that are points of a curve, summaries or differences, not a model's plain test score:
# notebooks 04 and 06 write them (their own tables and figures show them); the results table
# leaves them out
CURVE_STATISTICS = ("robustness_curve", "scarcity_curve", "robustness_auc", "robustness_drop",
                    "effective_robustness", "auc_difference", "profile", "availability",
                    "availability_difference", "availability_difference_pooled")


def results_table(run_dir: Path):
    """Test-split records of the tasks' default metrics (``METRICS_BY_TASK``): one row per
    method/model/head/group (curve points and their summaries, :data:`CURVE_STATISTICS`, are
    left out)."""
    from mindkit.evaluate.metrics import METRICS_BY_TASK
    from mindkit.run import RunDir

    df = RunDir(run_dir).metrics_frame()
    if df.empty:
        raise FileNotFoundError(f"no metrics.json records in {run_dir}")
    defaults = sorted({m for names in METRICS_BY_TASK.values() for m in names})
    d = df[(df["split"] == "test") & df["metric"].isin(defaults)]
    if "statistic" in d:
        d = d[~d["statistic"].isin(CURVE_STATISTICS)]
    cols = [c for c in ("notebook", "dataset", "method", "model", "head", "group", "metric",
                        "value", "ci_low", "ci_high", "n", "params") if c in d]
    return d[cols].reset_index(drop=True)


def run_parameters(notebooks, base: dict, items: list[str]) -> dict[str, dict]:
    """What each notebook of ``mindkit run`` receives: ``base`` (the flags' dataset, seed, quick,
    run_dir and, when given, device) and the ``--param NAME=VALUE`` items, each only for the
    notebooks that declare it (``device`` reaches the notebooks that train or score models, not
    00), typed against its default (:func:`mindkit.notebook.check_parameters`, shared with
    ``mindkit sweep``). Everything is checked before any notebook runs; a refusal raises
    :class:`ParameterError`."""
    from mindkit.notebook import check_parameters, parameter_specs
    from mindkit.sweep import parse_value

    values: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"--param takes NAME=VALUE (e.g. --param epochs=5), not {item!r}")
        if name in values:
            raise ParameterError(f"--param {name} is given twice; give it once")
        values[name] = parse_value(text)
    specs = [(name, parameter_specs(NOTEBOOK_DIR / f"{name}.ipynb")) for name in notebooks]
    per = check_parameters(values, specs, reserved=RUN_FLAGS)
    return {name: {**{k: v for k, v in base.items() if k in declared}, **given}
            for (name, declared), given in zip(specs, per)}


def dataset_arg(name: str) -> str:
    """``--dataset`` as the notebooks receive it: a dataset folder (an existing folder holding
    ``dataset.json``, docs/your-data.md) as its absolute path, since the notebooks run in the
    notebooks folder; anything else (a registered name) as given."""
    path = Path(name).expanduser()
    if path.is_dir() and (path / "dataset.json").is_file():
        return str(path.resolve())
    return name


def cmd_run(args) -> int:
    from mindkit.run import run_dir_for

    run_dir = run_dir_for(Path(args.run_dir).resolve(), args.quick)
    if run_dir != Path(args.run_dir).resolve():
        print(f"[mindkit] quick mode: {args.run_dir} holds a full run; this quick run goes to "
              f"{run_dir}", flush=True)
    notebooks = NOTEBOOKS if args.all else args.notebooks or SERIES
    base = {"dataset": dataset_arg(args.dataset), "seed": args.seed, "quick": args.quick,
            "run_dir": str(run_dir)}
    device = check_device(args.device)
    if device is not None:  # else each notebook keeps its own default ("auto")
        base["device"] = device
    params = run_parameters(notebooks, base, args.param or [])
    t0 = time.perf_counter()
    for name in notebooks:
        t = time.perf_counter()
        print(f"[mindkit] executing {name} ...", flush=True)
        out = execute_notebook(name, run_dir, params[name], NOTEBOOK_DIR)
        print(f"[mindkit] {name} done in {time.perf_counter() - t:.0f} s -> {out}", flush=True)
    table = results_table(run_dir)
    from mindkit.run import RunDir

    RunDir(run_dir).write_csv(table, "results.csv")  # atomically: never a half-written table
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

    if table.empty:
        print("[mindkit] no plain test scores in this run: its curve, availability-pattern and "
              "difference records are in metrics.json and the notebooks' CSVs")
        return

    with pd.option_context("display.width", 160, "display.max_rows", 200,
                           "display.max_columns", 20):
        main = table[table["metric"].isin(["accuracy", "auroc"])]
        print(main.drop(columns=[c for c in ("notebook",) if c in main]).to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))


def cmd_copy_run(args) -> int:
    from mindkit.run import copy_run

    try:
        dst = copy_run(args.src, args.dst)
    except (FileNotFoundError, FileExistsError) as e:
        raise ParameterError(str(e)) from None
    print(f"[mindkit] copied {args.src} to {dst}: run the notebooks with run_dir={str(dst)!r}; "
          "they reuse every model the copied run trained")
    return 0


def cmd_results(args) -> int:
    _print_results(results_table(Path(args.run_dir)))
    return 0


def cmd_sweep(args) -> int:
    from mindkit.sweep import expand, load_grid_file, parse_cli_grid, run_sweep
    from mindkit.sweep.runner import resolve_notebook

    for ref in args.notebooks:
        try:
            resolve_notebook(ref)
        except FileNotFoundError as e:
            raise ParameterError(str(e)) from None
    grid, include, fixed = {}, [], {}
    if args.grid:
        grid, include, fixed = load_grid_file(args.grid)
    cli = parse_cli_grid(args.param or [])
    clash = sorted(set(grid) & set(cli))
    if clash:
        raise ParameterError(f"parameters {clash} are in both {args.grid} and -p; give them once")
    grid = {**grid, **cli}
    summary = run_sweep(args.notebooks, grid, args.out, include=include, fixed=fixed,
                        workers=args.workers, gpus=args.gpus,
                        scheduler=args.scheduler, timeout=args.timeout, retries=args.retries,
                        retry_failed=args.retry_failed, stagger=args.stagger,
                        dry_run=args.dry_run)
    if args.dry_run:
        print(f"[mindkit] dry run: {len(expand(grid, include, fixed))} runs, nothing executed")
        return 0
    print(f"[mindkit] {summary}")
    for st in summary.runs:
        if st and st.get("status") != "ok":
            e = st.get("error") or {}
            cell = f" in cell {e['cell_index']}" if e.get("cell_index") is not None else ""
            print(f"  failed: {Path(st['folder']).name}: {e.get('ename')}{cell}: "
                  f"{str(e.get('evalue'))[:200]}")
    if summary.ok + summary.skipped:
        from mindkit.sweep import collect

        df = collect(args.out)
        print(f"[mindkit] {len(df)} records -> {Path(args.out) / 'results.parquet'} and "
              f"results.csv")
    return 1 if summary.failed else 0


def cmd_sweep_collect(args) -> int:
    from mindkit.sweep import collect

    df = collect(args.out)
    n_ok = df.drop_duplicates("run")["status"].eq("ok").sum() if len(df) else 0
    print(f"[mindkit] {df['run'].nunique() if len(df) else 0} runs ({n_ok} ok), {len(df)} rows "
          f"-> {Path(args.out) / 'results.parquet'} and results.csv")
    return 0


def open_store(path: str):
    """The model store at ``path``: a store folder, or a run folder holding ``store/``. A path
    that is neither is refused (nothing is created)."""
    from mindkit.train.store import ModelStore

    p = Path(path)
    for cand in (p / "store", p):
        if (cand / "store.sqlite").exists():
            return ModelStore(cand)
    raise ParameterError(f"{path} is not a model store (no store.sqlite there or in {p / 'store'}):"
                         f" give a run folder or the store_dir the notebooks used")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def cmd_store(args) -> int:
    import pandas as pd

    if args.action == "ls" and args.keys:
        raise ParameterError(f"store ls takes no keys (got {args.keys}); to remove entries use "
                             f"`mindkit store rm {args.store} KEY ...`")
    store = open_store(args.store)
    rows = store.entries()
    if args.dataset:
        rows = [r for r in rows if r.get("dataset") == args.dataset]
    if args.action == "ls":
        if not rows:
            print(f"[mindkit] {store.root}: no entries" + (f" of {args.dataset}" if args.dataset
                                                          else ""))
            return 0
        uses = {}
        for e in store.events():
            uses.setdefault(e["key"], []).append(e["event"])
        df = pd.DataFrame(rows)
        df["key"] = df["key"].str[:12]
        df["reused"] = [uses.get(r["key"], []).count("reused") for r in rows]
        df["size"] = [_size(b or 0) for b in df.get("bytes", [0] * len(df))]
        cols = [c for c in ("key", "describe", "epochs_run", "val_score", "train_s", "reused",
                            "size", "created") if c in df]
        with pd.option_context("display.width", 200, "display.max_rows", 10_000):
            print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"[mindkit] {store.root}: {len(rows)} entries, "
              f"{_size(sum(r.get('bytes') or 0 for r in rows))}")
        return 0
    keys = list(args.keys) + ([r["key"] for r in rows] if args.dataset else [])
    if not keys:
        raise ParameterError("store rm: name the entries to remove (key prefixes, as `mindkit "
                             "store ls` prints them) or --dataset NAME")
    try:
        removed = store.remove(keys)
    except KeyError as e:
        raise ParameterError(f"store rm: {e.args[0]}") from None
    print(f"[mindkit] removed {len(removed)} entries from {store.root}: "
          + ", ".join(k[:12] for k in removed))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mindkit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebook series with papermill")
    r.add_argument("--run-dir", default="runs/demo")
    r.add_argument("--dataset", default="avdigits",
                   help="a registered dataset name or the path of a dataset folder "
                   "(docs/your-data.md)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quick", action="store_true",
                   help="tiny subsample and few epochs: each notebook prints what quick changed; "
                   "a parameter set with --param keeps its value (one equal to the default "
                   "counts as the default)")
    r.add_argument("--notebooks", nargs="*", choices=NOTEBOOKS,
                   help="notebooks to run (default: the demo series 00-02)")
    r.add_argument("--all", action="store_true",
                   help=f"the whole series: {', '.join(NOTEBOOKS)}")
    r.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a notebook parameter, typed like papermill's -p (int, float, bool, JSON "
                   "lists/objects, else text), given to the notebooks whose parameters cell "
                   "declares it (NOTEBOOK.NAME, e.g. 01_teachers.epochs, to one); refused (exit "
                   "2) when no notebook run declares it or its type differs from the default's "
                   "(an int is taken for a float); an explicit value wins over --quick; "
                   "run_dir, dataset, seed, quick and device are refused here: use --run-dir, "
                   "--dataset, --seed, --quick, --device")
    r.add_argument("--device", default=None, metavar="auto|cpu|cuda|mps",
                   help="where the notebooks train and score models, given to every notebook "
                   "that declares 'device' (01-08): auto (CUDA, else MPS, else CPU), cpu, cuda, "
                   "cuda:N or mps; a device this machine lacks is refused before anything runs "
                   "(default: the notebooks' own, auto)")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("results", help="print a run folder's test results")
    s.add_argument("run_dir")
    s.set_defaults(fn=cmd_results)
    w = sub.add_parser(
        "sweep", help="run a notebook (or a chain: 01_teachers 02_mind_distillation) over a grid",
        description="Run notebooks over a parameter grid, one folder per run, on Dask "
        "distributed; finished runs are skipped, failures recorded. A parameter goes to every "
        "notebook of the chain that declares it; 'NOTEBOOK.NAME' (e.g. 01_teachers.epochs) to "
        "one. Values are typed like papermill's -p (int, float, bool, JSON lists/objects) and "
        "checked against each notebook's parameters cell: a name no notebook declares, a value "
        "whose type differs from the default's (an int is taken for a float) or a grid file "
        "that does not parse is refused with one line (exit code 2). run_dir is set per run.")
    w.add_argument("notebooks", nargs="+", help="notebook names, numbers or paths, in order")
    w.add_argument("--out", required=True, help="sweep folder (one sub-folder per run)")
    w.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUES"),
                   help="a grid axis: comma-separated values (commas inside [] or {} are kept)")
    w.add_argument("--grid", help="YAML file with 'grid:' (name: [values]) and 'include:' points")
    w.add_argument("--workers", type=int, default=2,
                   help="LocalCluster worker processes (0: run here, one after another)")
    w.add_argument("--gpus", type=int, default=0, metavar="N",
                   help="one GPU per run: N local Dask workers (in place of --workers), each "
                   "declaring the resource GPU=1 and seeing one GPU (CUDA_VISIBLE_DEVICES); runs "
                   "ask for GPU=1, so at most N run at once. With --scheduler the workers must "
                   "declare it themselves (dask worker ... --resources GPU=1) and set their own "
                   "CUDA_VISIBLE_DEVICES")
    w.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    w.add_argument("--timeout", type=float, default=1800,
                   help="seconds per run before it is killed")
    w.add_argument("--retries", type=int, default=1,
                   help="further attempts after a kernel death, timeout or start failure")
    w.add_argument("--retry-failed", action="store_true", help="rerun runs that failed earlier")
    w.add_argument("--stagger", type=float, default=2.0, help="seconds between kernel starts")
    w.add_argument("--dry-run", action="store_true", help="print the runs and exit")
    w.set_defaults(fn=cmd_sweep)
    c = sub.add_parser("sweep-collect", help="gather a sweep's records into results.parquet/csv")
    c.add_argument("out")
    c.set_defaults(fn=cmd_sweep_collect)
    st = sub.add_parser("store", help="list or remove models in a model store",
                        description="The model store keeps each distinct trained model once "
                        "(keyed by its data, architecture, training settings and method). 'ls' "
                        "lists its entries; 'rm' removes entries (a later notebook that needs "
                        "one trains it again).")
    st.add_argument("action", choices=("ls", "rm"))
    st.add_argument("store", help="a run folder (its store/) or a store folder (store_dir)")
    st.add_argument("keys", nargs="*", help="rm: key prefixes of the entries to remove")
    st.add_argument("--dataset", help="only the entries of this dataset (rm: all of them)")
    st.set_defaults(fn=cmd_store)
    cp = sub.add_parser("copy-run", help="copy a run folder (models, store, records) for a "
                        "learner to continue from",
                        description="Copy a filled run folder (e.g. `make classroom`'s) to a new "
                        "folder: notebooks run there reuse every model the copied run trained.")
    cp.add_argument("src", help="the run folder to copy")
    cp.add_argument("dst", help="a new folder")
    cp.set_defaults(fn=cmd_copy_run)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except ParameterError as e:
        print(f"mindkit: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
