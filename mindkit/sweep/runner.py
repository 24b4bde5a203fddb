"""Run a notebook (or a chain of notebooks) over a parameter grid, on Dask distributed.

:func:`run_sweep` plans the jobs (:mod:`mindkit.sweep.jobs`: notebooks, parameters, chains),
skips the runs a sweep folder already holds (:mod:`mindkit.sweep.folders`: its layout and lock)
and executes the rest (:mod:`mindkit.sweep.worker`: one run, its timeout and retries). The names
of those modules stay importable from here.

**Execution** goes through Dask distributed: ``workers=N`` starts a ``LocalCluster`` of N
single-threaded worker processes, ``scheduler="tcp://host:8786"`` submits to a running cluster
(the sweep folder must then be on a filesystem every worker sees). ``workers=0`` runs everything
in this process, one run after another, without Dask (for debugging).

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

import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from mindkit.notebook import ParameterError
from mindkit.parallel import THREAD_ENV
from mindkit.sweep.folders import (
    STAGES_DIR,
    TMP_DIR,
    lock_sweep_folder,
    read_status,
    write_manifest,
)
from mindkit.sweep.grid import canonical, expand, params_key
from mindkit.sweep.jobs import (
    INPUTS,
    RESERVED,
    Job,
    Stage,
    notebook_parameters,
    plan,
    resolve_notebook,
)
from mindkit.sweep.worker import execute_job, job_spec

__all__ = ["GPU", "INPUTS", "RESERVED", "STAGES_DIR", "TMP_DIR", "Job", "Stage", "SweepSummary",
           "execute_job", "gpu_cluster", "gpu_worker_specs", "notebook_parameters", "plan",
           "read_status", "resolve_notebook", "run_sweep"]

GPU = "GPU"  # the Dask worker resource a run asks one of with gpus > 0


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
    run's status; see the module doc (``notebook_dir`` and ``inputs``: that of
    :mod:`mindkit.sweep.jobs`)."""
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
    lock_file = lock_sweep_folder(out)
    try:
        shutil.rmtree(out / TMP_DIR, ignore_errors=True)  # runs cut off by an interrupted sweep
        write_manifest(out, notebooks, grid, include, fixed)
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
        return job_spec(j, out, timeout, retries, stagger, lock, gpu=gpus > 0)

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
