"""Independent jobs in parallel on Dask distributed: one process per core, one thread each.

:func:`run_tasks` runs a small graph of tasks (each a picklable function with its arguments, and
the names of the tasks it must wait for) on a Dask ``LocalCluster`` of ``workers`` single-threaded
worker processes, or one after another in this process when ``workers`` is 0 or 1. The cluster
is started once per process and kept for later calls (a notebook that trains teachers, then
students, pays the start-up once). Progress is printed as tasks finish, naming what finished,
how long it took, and what is running now.

``workers=-1`` means one worker per CPU core. Inside a sweep (its runs already fill the cores)
the runner sets ``MINDKIT_WORKERS=0`` in each run's environment, which :func:`resolve_workers`
honours, so parallel trainings never nest inside parallel runs.

This module sits at the bottom of the package (it imports nothing from mindkit but this), so
the training, study and sweep layers can all use it.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

THREAD_ENV = ("MINDKIT_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Environment variables that set one compute thread per worker process."""

_CLUSTERS: dict[int, Any] = {}


def resolve_workers(workers: int) -> int:
    """``workers`` as a count: ``-1`` is one per CPU core (``os.cpu_count()``), unless the
    environment says ``MINDKIT_WORKERS`` (a sweep's runs set it to 0: no nesting)."""
    env = os.environ.get("MINDKIT_WORKERS")
    if env is not None and workers != 0:
        try:
            return max(0, int(env))
        except ValueError:
            raise ValueError(f"MINDKIT_WORKERS must be an integer, got {env!r}") from None
    if workers < -1 or int(workers) != workers:
        raise ValueError(f"workers must be -1 (one per core), 0 (in this process) or a positive "
                         f"count, got {workers!r}")
    return (os.cpu_count() or 1) if workers == -1 else int(workers)


def get_client(workers: int):
    """A Dask client of a ``LocalCluster`` with ``workers`` single-threaded worker processes,
    started once per process and count, and closed when the process exits."""
    from distributed import Client, LocalCluster

    if workers not in _CLUSTERS:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=0,
                               env={**{k: "1" for k in THREAD_ENV}, "MINDKIT_WORKERS": "0"})
        _CLUSTERS[workers] = (cluster, Client(cluster))
        atexit.register(_close, workers)
    return _CLUSTERS[workers][1]


def _close(workers: int) -> None:
    cluster, client = _CLUSTERS.pop(workers, (None, None))
    if client is not None:
        client.close()
        cluster.close()


@dataclass
class Task:
    """One job: ``fn(*args)``, run after the tasks named in ``after`` (their results are not
    passed: tasks communicate through files, e.g. a model store). ``name`` is unique and says
    what the task does (it is printed)."""

    name: str
    fn: Callable
    args: tuple = ()
    after: Sequence[str] = field(default_factory=tuple)


def _run_one(fn: Callable, args: tuple, *_after) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def run_tasks(tasks: Sequence[Task], workers: int = -1, progress: bool = True,
              label: str = "parallel") -> dict[str, Any]:
    """Run ``tasks`` (dependencies first) on ``workers`` processes; ``{name: result}``.

    With 0 or 1 worker they run here, in the given order (which must list dependencies first).
    A task that raises stops the run: the error is raised here, naming the task.
    """
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError("task names must be unique")
    n = resolve_workers(workers)
    results: dict[str, Any] = {}
    say = print if progress else (lambda *a, **k: None)
    if n <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks, 1):
            missing = [a for a in t.after if a not in results]
            if missing:
                raise ValueError(f"task {t.name!r} comes before {missing}: list dependencies "
                                 "first")
            try:
                results[t.name], secs = _run_one(t.fn, t.args)
            except Exception as err:
                raise RuntimeError(f"{label}: {t.name} failed: {type(err).__name__}: "
                                   f"{err}") from err
            say(f"[{label}] {i}/{len(tasks)} {t.name} ({secs:.0f} s)", flush=True)
        return results

    from distributed import as_completed

    client = get_client(n)
    futures = {}
    for t in tasks:
        deps = [futures[a] for a in t.after]
        futures[t.name] = client.submit(_run_one, t.fn, t.args, *deps, pure=False,
                                        key=f"{t.name}-{time.time_ns()}")
    by_key = {f.key: name for name, f in futures.items()}
    say(f"[{label}] {len(tasks)} jobs on {n} workers", flush=True)
    done = 0
    for fut in as_completed(list(futures.values())):
        name = by_key[fut.key]
        try:
            results[name], secs = fut.result()
        except Exception as err:
            for f in futures.values():
                f.cancel()
            raise RuntimeError(f"{label}: {name} failed: {type(err).__name__}: {err}") from err
        done += 1
        running = sorted(by_key[k] for keys in client.processing().values() for k in keys
                         if k in by_key)
        say(f"[{label}] {done}/{len(tasks)} {name} ({secs:.0f} s)"
            + (f"; running: {', '.join(running)}" if running else ""), flush=True)
    return results


__all__ = ["THREAD_ENV", "Task", "get_client", "resolve_workers", "run_tasks"]
