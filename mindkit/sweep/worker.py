"""One job of a sweep, executed into its folder: on a Dask worker, or in this process.

:func:`job_spec` describes a job as a plain dict (what travels to a worker) and
:func:`execute_job` runs it. Each run gets a fresh kernel in a child process
(``python -m mindkit.sweep.execute``) in its own process session with one torch/BLAS thread and
no worker processes of its own (the sweep is the parallelism), a staggered start (kernels started
at the same instant race for ports), a wall-clock ``timeout`` after which the whole process group
is killed, and ``retries`` further attempts when the kernel died, timed out or failed to start;
an exception raised by the notebook's own code is not retried (it would fail again). The run is
written into the sweep's ``.tmp/`` folder, its ``status.json`` last, and renamed into place
(:mod:`mindkit.sweep.folders`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from mindkit import __version__
from mindkit.parallel import THREAD_ENV
from mindkit.sweep.folders import TMP_DIR, place_run, utc_now
from mindkit.sweep.jobs import Job


def job_spec(job: Job, out: Path, timeout: float, retries: int, stagger: float,
             lock: str, gpu: bool = False) -> dict:
    """The plain dict :func:`execute_job` runs ``job`` from: its notebook, parameters and
    folders under ``out``, and the execution knobs (``lock``: the name of the cluster-wide
    lock that staggers kernel starts)."""
    return {"folder": str(job.folder), "tmp_root": str(out / TMP_DIR), "src": str(job.stage.path),
            "cwd": str(job.stage.path.parent), "notebook": job.stage.name, "params": job.params,
            "point": job.point, "key": job.key, "timeout": float(timeout),
            "retries": int(retries), "stagger": float(stagger), "lock": lock, "gpu": bool(gpu)}


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
    """Run one job (a dict from :func:`job_spec`) into a temporary folder, write its
    ``status.json`` and rename it into place. Returns the status. Never raises for a failure of
    the notebook: that is recorded; a run whose upstream run failed is recorded as failed."""
    folder = Path(spec["folder"])
    tmp_root = Path(spec["tmp_root"])
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name[:40] + "-", dir=tmp_root))
    params = dict(spec["params"])
    status = {"status": "failed", "notebook": spec["notebook"], "params": spec["point"],
              "notebook_params": params, "key": spec["key"], "start": utc_now(),
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
    status["end"] = utc_now()
    status["folder"] = str(folder)
    (tmp / "status.json").write_text(json.dumps(status, indent=1, default=str))
    place_run(tmp, folder)
    return status
