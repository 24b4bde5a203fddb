"""Run a notebook (or a chain of notebooks) over a parameter grid, on Dask distributed.

Layout of a sweep folder ``out``::

    out/sweep.json                   what was asked: notebooks, grid, include, fixed parameters
    out/<run name>/                  one finished run (ok or failed) of the last notebook
        params.json  status.json  <notebook>.ipynb  metrics.json  *.png  predictions/ ...
    out/_stages/<notebook>/<name>/   a finished run of an upstream notebook of a chain (teachers),
                                     shared by every run whose upstream parameters are the same
    out/.tmp/                        runs in progress; renamed into place when they end

A run is written into ``out/.tmp/`` and renamed into place when it ends, so an interrupted sweep
never leaves a half-written run that counts as finished; ``status.json`` is written last.

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

**Execution** goes through Dask distributed: ``workers=N`` starts a ``LocalCluster`` of N
single-threaded worker processes, ``scheduler="tcp://host:8786"`` submits to a running cluster
(the sweep folder must then be on a filesystem every worker sees). Each run gets a fresh kernel
in its own process session with one torch/BLAS thread, a staggered start (kernels started at the
same instant race for ports), a wall-clock ``timeout`` after which the whole process group is
killed, and ``retries`` further attempts when the kernel died, timed out or failed to start; an
exception raised by the notebook's own code is not retried (it would fail again). ``workers=0``
runs everything in this process, one run after another, without Dask (for debugging).

**GPUs.** ``gpus=N`` gives each run one GPU through Dask worker resources: the local cluster is
N single-threaded workers (in place of ``workers``), each declaring the resource ``GPU=1`` and
started with ``CUDA_VISIBLE_DEVICES`` set to one GPU of this machine (the N first it shows), and
every run is submitted asking for ``GPU=1``, so at most one run per GPU at a time; a run's kernel
inherits the variable, so the notebooks' ``device="auto"`` finds exactly its GPU (as
``cuda:0``). With ``scheduler=``, the user's workers declare the resource themselves
(``dask worker ADDRESS --resources GPU=1``, one worker per GPU, each with its own
``CUDA_VISIBLE_DEVICES``); a scheduler whose connected workers declare no GPU is refused rather
than left waiting forever.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import mindkit.notebook
from mindkit import __version__
from mindkit.notebook import (
    NOTEBOOK_INPUTS,
    Parameter,
    ParameterError,
    check_parameters,
    parameter_specs,
)
from mindkit.parallel import THREAD_ENV
from mindkit.sweep.grid import canonical, expand, params_key, run_name

STAGES_DIR = "_stages"
TMP_DIR = ".tmp"
# parameters through which a notebook consumes an earlier notebook's output: declared with the
# notebooks (mindkit.notebook.NOTEBOOK_INPUTS), kept here under its old name
INPUTS = NOTEBOOK_INPUTS
RESERVED = {"run_dir": "the sweep sets it (one folder per run under --out)"}
GPU = "GPU"  # the Dask worker resource a run asks one of with gpus > 0


# --------------------------------------------------------------------------------------------
# notebooks and their parameters


def resolve_notebook(ref: str | Path, notebook_dir: Path | None = None) -> Path:
    """A notebook path from a path, a name or its number (the name's prefix before ``_``), found
    in ``notebook_dir`` (default :data:`mindkit.notebook.NOTEBOOK_DIR`)."""
    notebook_dir = Path(notebook_dir or mindkit.notebook.NOTEBOOK_DIR)
    p = Path(ref)
    if p.suffix == ".ipynb" and p.exists():
        return p.resolve()
    if p.suffix == ".ipynb":
        raise FileNotFoundError(f"no notebook {p}")
    hits = sorted(notebook_dir.glob(f"{ref}*.ipynb"))
    exact = [h for h in hits if h.stem == str(ref)]
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


@dataclass
class SweepSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    runs: list[dict] = field(default_factory=list)  # one status per run of the last notebook
    out: Path | None = None

    def __str__(self) -> str:
        return (f"sweep {self.out}: {self.ok} ok, {self.failed} failed, {self.skipped} skipped "
                f"(finished earlier)")


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


# --------------------------------------------------------------------------------------------
# one execution (runs on a Dask worker, or in this process with workers=0)


def read_status(folder: Path) -> dict | None:
    p = Path(folder) / "status.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _mindkit_version() -> str:
    return __version__


def _stagger(stagger: float, lock_name: str) -> None:
    """Keep kernel starts at least ``stagger`` seconds apart across the whole cluster: under a
    cluster-wide Dask ``Lock``, wait until ``stagger`` seconds after the last start (kept in a
    Dask ``Variable``), then record this start. A start long after the last one waits not."""
    if stagger <= 0:
        return
    try:
        from distributed import Lock, Variable, get_worker

        get_worker()
    except (ImportError, ValueError):
        return  # not on a Dask worker: runs start one after another anyway
    last = Variable(lock_name + "-last")
    with Lock(lock_name):
        prev = float(last.get(timeout=30))  # set to 0.0 by the driver before any run starts
        wait = prev + stagger - time.time()
        if wait > 0:
            time.sleep(wait)
        last.set(time.time())


def _failing_cell(nb_path: Path) -> dict | None:
    """The cell papermill marked as running or failed in a partly executed notebook."""
    import nbformat

    if not nb_path.exists():
        return None
    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception:  # noqa: BLE001 - a notebook cut off mid-write says nothing more
        return None
    for i, c in enumerate(nb.cells):
        st = c.get("metadata", {}).get("papermill", {}).get("status")
        if st in ("running", "failed"):
            return {"cell_index": i, "cell_source": c.source[:2000]}
    return None


def _attempt(src: Path, dst_nb: Path, params: dict, cwd: Path, timeout: float) -> dict:
    """Execute the notebook in a child process (its own session, one thread); the outcome."""
    err_file = dst_nb.parent / ".error.json"
    err_file.unlink(missing_ok=True)
    # one compute thread per run, and no worker processes of its own: the sweep is the parallelism
    env = {**os.environ, **{k: "1" for k in THREAD_ENV}, "MINDKIT_WORKERS": "0"}
    cmd = [sys.executable, "-m", "mindkit.sweep.execute", str(src), str(dst_nb), str(cwd),
           json.dumps(params), str(err_file), str(int(timeout))]
    log = dst_nb.parent / "run.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, preexec_fn=_die_with_parent)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            cell = _failing_cell(dst_nb) or {}
            return {"status": "failed", "retryable": True,
                    "error": {"ename": "Timeout", "evalue": f"the run took longer than "
                              f"{timeout:g} s and was killed", **cell}}
        except BaseException:
            _kill_group(proc)
            raise
    if rc == 0:
        return {"status": "ok"}
    if err_file.exists():
        err = json.loads(err_file.read_text())
        err_file.unlink()
        return {"status": "failed", "retryable": not err.pop("in_notebook", False),
                "error": err}
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return {"status": "failed", "retryable": True,
            "error": {"ename": "ProcessDied", "evalue": f"the executing process ended with exit "
                      f"code {rc} (killed, out of memory?)", "traceback": tail,
                      **(_failing_cell(dst_nb) or {})}}


def _die_with_parent() -> None:
    """In the child: be killed when the worker that started it dies (Linux), so a lost worker
    leaves no orphan run behind; elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def execute_job(spec: dict, upstream_status: dict | None = None) -> dict:
    """Run one job (a dict from :func:`_job_spec`) into a temporary folder, write its
    ``status.json`` and rename it into place. Returns the status. Never raises for a failure of
    the notebook: that is recorded; a run whose upstream run failed is recorded as failed."""
    folder = Path(spec["folder"])
    tmp_root = Path(spec["tmp_root"])
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name[:40] + "-", dir=tmp_root))
    params = dict(spec["params"])
    status = {"status": "failed", "notebook": spec["notebook"], "params": spec["point"],
              "notebook_params": params, "key": spec["key"], "start": _now(),
              "host": socket.gethostname(), "pid": os.getpid(),
              "mindkit_version": _mindkit_version(), "attempts": 0}
    if spec.get("gpu"):  # the GPU this run's worker sees
        status["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    (tmp / "params.json").write_text(json.dumps(spec["point"], indent=1, default=str))
    t0 = time.perf_counter()
    try:
        if upstream_status is not None and upstream_status.get("status") != "ok":
            status["error"] = {"ename": "UpstreamFailed", "evalue": (
                f"the {upstream_status.get('notebook')} run this run needs failed: see "
                f"{upstream_status.get('folder')}/status.json")}
        else:
            src, dst = Path(spec["src"]), tmp / Path(spec["src"]).name
            for attempt in range(1 + int(spec["retries"])):
                _stagger(spec["stagger"], spec["lock"])
                status["attempts"] = attempt + 1
                outcome = _attempt(src, dst, {**params, "run_dir": str(tmp)},
                                   Path(spec["cwd"]), spec["timeout"])
                status["status"] = outcome["status"]
                status.pop("error", None)
                if outcome["status"] == "ok":
                    break
                status["error"] = outcome["error"]
                if not outcome["retryable"]:
                    break
    except Exception as e:  # noqa: BLE001 - recorded in status.json, the sweep goes on
        status["status"] = "failed"
        status["error"] = {"ename": type(e).__name__, "evalue": str(e),
                           "traceback": traceback.format_exc()}
    status["duration_s"] = round(time.perf_counter() - t0, 2)
    status["end"] = _now()
    status["folder"] = str(folder)
    (tmp / "status.json").write_text(json.dumps(status, indent=1, default=str))
    _place(tmp, folder)
    return status


def _place(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing an earlier (failed) run there."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        old = folder.with_name(folder.name + f".old-{uuid.uuid4().hex[:6]}")
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(folder)


# --------------------------------------------------------------------------------------------
# the driver


def _job_spec(job: Job, out: Path, timeout: float, retries: int, stagger: float,
              lock: str, gpu: bool = False) -> dict:
    return {"folder": str(job.folder), "tmp_root": str(out / TMP_DIR), "src": str(job.stage.path),
            "cwd": str(job.stage.path.parent), "notebook": job.stage.name, "params": job.params,
            "point": job.point, "key": job.key, "timeout": float(timeout),
            "retries": int(retries), "stagger": float(stagger), "lock": lock, "gpu": bool(gpu)}


def _is_done(job: Job, retry_failed: bool) -> tuple[bool, dict | None]:
    st = read_status(job.folder)
    if st is None:
        return False, None
    if st.get("notebook") != job.stage.name or st.get("key") != job.key:
        raise ParameterError(f"{job.folder} holds a run of {st.get('notebook')} with other "
                             "parameters than this sweep asks for; use another out folder or "
                             "remove it")
    if st.get("status") == "ok":
        return True, st
    return (not retry_failed), st


def _lock_out(out: Path):
    """One sweep at a time per folder: a lock file naming the driver; a stale one is taken over."""
    lock = out / ".sweep.lock"
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
        except json.JSONDecodeError:
            info = {}
        alive = info.get("host") == socket.gethostname() and _pid_alive(info.get("pid", -1))
        if alive:
            raise RuntimeError(f"another sweep (pid {info['pid']}) is running into {out}; wait "
                               f"for it or remove {lock} if it is gone")
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                "start": _now()}))
    return lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    return True


def run_sweep(notebooks: str | Sequence[str], grid: Mapping[str, list] | None = None,
              out: str | Path = "runs/sweep", *, include: Sequence[Mapping] = (),
              fixed: Mapping[str, Any] | None = None, workers: int = 2,
              scheduler: str | None = None, timeout: float = 1800, retries: int = 1,
              retry_failed: bool = False, stagger: float = 2.0, progress: bool = True,
              dry_run: bool = False, notebook_dir: Path | None = None,
              gpus: int = 0, inputs: Mapping[str, tuple[str, str]] | None = None
              ) -> SweepSummary:
    """Run ``notebooks`` over ``grid`` (Cartesian product) plus the ``include`` points, each run
    in its own folder under ``out``; runs that finished ok earlier are skipped (failed ones too,
    unless ``retry_failed``). ``gpus=N`` runs them on N local workers with one GPU each (with
    ``scheduler``: on its workers that declare a ``GPU`` resource). Returns the counts and every
    run's status; see the module doc (``notebook_dir`` and ``inputs``: there)."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ParameterError(f"gpus must be a whole number >= 0 (GPUs, one per run), got "
                             f"{gpus!r}")
    if gpus and workers == 0 and scheduler is None:
        raise ParameterError("gpus needs Dask workers (one per GPU), but workers=0 runs "
                             "everything in this process; drop workers=0 (or --workers 0)")
    gpu_ids = _gpu_ids(gpus) if gpus and scheduler is None and not dry_run else []
    out = Path(out).resolve()
    points = expand(grid, include, fixed)
    finals = plan(notebooks, points, out, notebook_dir, inputs)
    summary = SweepSummary(out=out)
    todo_final, done_status = [], {}
    for job in finals:
        done, st = _is_done(job, retry_failed)
        if done:
            summary.skipped += 1
            done_status[job.folder.name] = st
        else:
            todo_final.append(job)
    if dry_run:
        _print_plan(finals, todo_final, out)
        summary.runs = [{"status": "planned", "folder": str(j.folder), "params": j.point}
                        for j in todo_final]
        return summary
    out.mkdir(parents=True, exist_ok=True)
    lock_file = _lock_out(out)
    try:
        shutil.rmtree(out / TMP_DIR, ignore_errors=True)  # runs cut off by an interrupted sweep
        _write_manifest(out, notebooks, grid, include, fixed)
        statuses = _execute(todo_final, out, workers=workers, scheduler=scheduler,
                            timeout=timeout, retries=retries, retry_failed=retry_failed,
                            stagger=stagger, progress=progress, gpus=gpus, gpu_ids=gpu_ids)
    finally:
        lock_file.unlink(missing_ok=True)
        try:
            (out / TMP_DIR).rmdir()  # gone when empty; runs cut off mid-way stay until next start
        except OSError:
            pass
    for job in finals:
        st = statuses.get(job.folder.name) or done_status.get(job.folder.name)
        summary.runs.append(st)
        if job.folder.name in statuses:
            if st["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
    return summary


def _write_manifest(out, notebooks, grid, include, fixed) -> None:
    refs = [notebooks] if isinstance(notebooks, (str, Path)) else list(notebooks)
    doc = {"notebooks": [str(r) for r in refs], "grid": dict(grid or {}),
           "include": list(include), "fixed": dict(fixed or {}), "written": _now()}
    (out / "sweep.json").write_text(json.dumps(doc, indent=1, default=str))


def _print_plan(finals: list[Job], todo: list[Job], out: Path) -> None:
    ups = {}
    for j in todo:
        u = j.upstream
        while u is not None:
            ups[str(u.folder)] = u
            u = u.upstream
    print(f"{len(finals)} runs in {out}: {len(todo)} to run, {len(finals) - len(todo)} "
          f"finished earlier")
    for u in ups.values():
        state = (read_status(u.folder) or {}).get("status", "to run")
        print(f"  [{u.stage.name}: {state}] {u.folder.relative_to(out)}  {canonical(u.params)}")
    for j in todo:
        print(f"  {j.folder.name}  {canonical(j.params)}")


def _gpu_ids(gpus: int) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each of ``gpus`` local workers: the first ``gpus``
    GPUs this process sees (its own ``CUDA_VISIBLE_DEVICES`` list when set, else 0, 1, ...); a
    :class:`ParameterError` when it sees fewer."""
    import torch

    seen = torch.cuda.device_count()
    env = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    ids = [i.strip() for i in env.split(",") if i.strip()][:seen] if env else \
        [str(i) for i in range(seen)]
    if len(ids) < gpus:
        raise ParameterError(
            f"gpus={gpus}: this machine shows {len(ids)} GPU(s) to torch "
            f"(CUDA_VISIBLE_DEVICES={env or 'unset'}); ask for at most {len(ids)}, or run on "
            "the CPU with --workers instead of --gpus")
    return ids[:gpus]


def gpu_worker_specs(gpu_ids: Sequence[str]) -> dict[str, dict]:
    """The Dask ``SpecCluster`` worker specs of a local GPU cluster: one single-threaded worker
    process (a ``Nanny``) per GPU in ``gpu_ids``, declaring the resource ``GPU=1``, with
    ``CUDA_VISIBLE_DEVICES`` set to that GPU (and one BLAS/torch thread) in its environment,
    which the notebook processes it starts inherit."""
    import logging

    from distributed import Nanny

    return {f"gpu-{gid}": {"cls": Nanny, "options": {
        "nthreads": 1, "resources": {GPU: 1}, "memory_limit": 0, "silence_logs": logging.WARN,
        "env": {**{k: "1" for k in THREAD_ENV}, "CUDA_VISIBLE_DEVICES": str(gid)}}}
        for gid in gpu_ids}


def gpu_cluster(gpu_ids: Sequence[str]):
    """A local Dask cluster with one worker per GPU (:func:`gpu_worker_specs`)."""
    import logging

    from distributed import Scheduler, SpecCluster

    return SpecCluster(workers=gpu_worker_specs(gpu_ids), scheduler={
        "cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}},
        name="mindkit-gpus", silence_logs=logging.WARN)


def _check_gpu_workers(client, scheduler: str) -> None:
    """Refuse a scheduler whose connected workers declare no ``GPU`` resource (runs asking for
    one would wait forever); with no worker connected yet (a batch system still starting them)
    there is nothing to check."""
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(w.get("resources", {}).get(GPU) for w in workers.values()):
        raise ParameterError(
            f"gpus: none of the {len(workers)} workers of {scheduler} declares a {GPU} resource, "
            "so runs asking for one would never start; start one worker per GPU with "
            f"'CUDA_VISIBLE_DEVICES=<gpu> dask worker {scheduler} --nthreads 1 --resources "
            f"{GPU}=1', or drop --gpus")


def _execute(jobs: list[Job], out: Path, *, workers: int, scheduler: str | None, timeout: float,
             retries: int, retry_failed: bool, stagger: float, progress: bool, gpus: int = 0,
             gpu_ids: Sequence[str] = ()) -> dict:
    """Submit the jobs (and the upstream jobs they need) and wait; name -> status."""
    lock = f"mindkit-sweep-{params_key({'out': str(out)})}-{uuid.uuid4().hex[:6]}"

    def spec(j):
        return _job_spec(j, out, timeout, retries, stagger, lock, gpu=gpus > 0)

    results: dict[str, dict] = {}
    bar = _Bar(len(jobs), progress)
    if not jobs:
        bar.close()
        return results
    if workers == 0 and scheduler is None:  # in this process, one after another
        up_done: dict[str, dict] = {}
        for j in jobs:
            up = _upstream(j.upstream, lambda u, parent: execute_job(spec(u), parent),
                           retry_failed, up_done)
            st = execute_job(spec(j), up)
            results[j.folder.name] = st
            bar.update(st)
        bar.close()
        return results

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None and gpus:
        cluster = gpu_cluster(gpu_ids)
    elif scheduler is None:
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=0,
                               env={k: "1" for k in THREAD_ENV})
    client = Client(scheduler or cluster)
    resources = {GPU: 1} if gpus else None
    try:
        if gpus and scheduler is not None:
            _check_gpu_workers(client, scheduler)
        from distributed import Variable

        Variable(f"{lock}-last", client=client).set(0.0)  # no start yet (see _stagger)
        ups: dict[str, Any] = {}

        def submit(u: Job, parent):
            return client.submit(execute_job, spec(u), parent, pure=False,
                                 key=f"{u.stage.name}-{u.key}-{lock}", resources=resources)

        futures, by_key = [], {}
        for j in jobs:
            f = submit(j, _upstream(j.upstream, submit, retry_failed, ups))
            futures.append(f)
            by_key[f.key] = j
        for f in as_completed(futures):
            j = by_key[f.key]
            try:
                st = f.result()
            except Exception as e:  # noqa: BLE001 - a worker lost for good: recorded, go on
                st = {"status": "failed", "notebook": j.stage.name, "params": j.point,
                      "folder": str(j.folder), "error": {
                          "ename": type(e).__name__, "evalue": f"the Dask task failed: {e}"}}
            results[j.folder.name] = st
            bar.update(st)
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def _upstream(u: Job | None, run, retry_failed: bool, cache: dict):
    """The status (or Dask future) of upstream job ``u`` for its dependants: its earlier ok
    status when it finished, else ``run(u, parent)`` once (after its own upstream), cached."""
    if u is None:
        return None
    if str(u.folder) not in cache:
        done, st = _is_done(u, retry_failed)
        if not (done and st.get("status") == "ok"):
            st = run(u, _upstream(u.upstream, run, retry_failed, cache))
        cache[str(u.folder)] = st
    return cache[str(u.folder)]


class _Bar:
    """A text bar over runs with ok/failed counts (tqdm, readable in a terminal and under
    papermill)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.ok = self.failed = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="sweep", ncols=100, file=sys.stdout,
                            mininterval=0.0)

    def update(self, st: dict) -> None:
        if st.get("status") == "ok":
            self.ok += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"ok={self.ok} failed={self.failed}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
