"""Small helpers that keep the numbered notebooks thin and consistent.

``setup`` seeds everything, loads the dataset (shrunk when ``quick``), opens the run folder
and records which dataset a run used, so a later notebook pointed at the same ``run_dir`` with a
different dataset fails with a clear message instead of mixing results.
"""

from __future__ import annotations

import json

from mindkit.data import MultimodalDataset, load
from mindkit.run import RunDir
from mindkit.train.trainer import seed_everything

QUICK_MAX_PER_SPLIT = 240  # samples per split kept when quick=True


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
          dataset_options: dict | None = None) -> tuple[MultimodalDataset, RunDir]:
    configure_threads()
    seed_everything(seed)
    ds = load(dataset, seed=seed, **(dataset_options or {}))
    if quick:
        ds = ds.subsample(QUICK_MAX_PER_SPLIT, seed)
    run = RunDir(run_dir)
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
    marker.write_text(json.dumps(ident, indent=1))
    ds.save_splits(run / "splits.json")
    return ds, run


def base_record(ds: MultimodalDataset, seed: int, **fields) -> dict:
    """The fields every metric record of a notebook shares (evaluators add ``split``)."""
    return {"dataset": ds.display_name, "seed": seed, **fields}
