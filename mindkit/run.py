"""A run folder: where a notebook writes ``metrics.json``, figures and checkpoints.

Several notebooks share one ``run_dir``; each one's metric records carry its ``notebook`` name,
and rewriting a notebook's records replaces only that notebook's earlier ones, so rerunning
notebook 02 never erases notebook 01's results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

REQUIRED_FIELDS = ("dataset", "method", "model", "head", "metric", "value", "ci_low", "ci_high",
                   "seed", "split")


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return json.loads(self.metrics_path.read_text())

    def write_metrics(self, records: list[dict], notebook: str) -> Path:
        """Store ``records`` as ``notebook``'s results, replacing that notebook's older ones."""
        clean = []
        for i, r in enumerate(records):
            missing = [f for f in REQUIRED_FIELDS if f not in r]
            if missing:
                raise ValueError(f"metric record {i} lacks fields {missing}; every record needs "
                                 f"{list(REQUIRED_FIELDS)}")
            clean.append({**{k: _jsonable(v) for k, v in r.items()}, "notebook": notebook})
        kept = [r for r in self.read_metrics() if r.get("notebook") != notebook]
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(kept + clean, indent=1))
        tmp.replace(self.metrics_path)
        return self.metrics_path

    def metrics_frame(self):
        import pandas as pd

        return pd.DataFrame(self.read_metrics())

    def savefig(self, fig, name: str, dpi: int = 110) -> Path:
        path = self.path / (name if name.endswith(".png") else f"{name}.png")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return path

    def write_json(self, name: str, payload) -> Path:
        path = self.path / name
        path.write_text(json.dumps(payload, indent=1, default=_jsonable))
        return path

    def require(self, relpath: str, notebook: str) -> Path:
        """``run_dir/relpath``, or a clear error naming the notebook that makes it."""
        p = self.path / relpath
        if not p.exists():
            raise FileNotFoundError(
                f"{p} does not exist: run notebooks/{notebook}.ipynb first with "
                f"run_dir={str(self.path)!r} (and the same dataset)")
        return p


def _jsonable(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)
