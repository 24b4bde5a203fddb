"""A new method is one file and one registration line (docs/architecture.md, "A new method").

``tests/plugins/toy_method.py`` defines ``toy_smooth`` (label smoothing on every head of the
multi-head student) and registers it with one line; no other file of the kit names it. It
trains through ``run_method``, takes ``name@key=value`` overrides typed from its settings
dataclass, and, made known through ``MINDKIT_PLUGINS``, runs in notebook 02 through papermill
in a two-point sweep (its ``methods`` parameter, grid syntax as for any method).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mindkit.train import TrainConfig

PLUGIN = Path(__file__).resolve().parent / "plugins" / "toy_method.py"
ROOT = PLUGIN.parents[2]


@pytest.fixture(scope="module")
def methods():
    from mindkit.distill import methods

    methods.load_plugins(str(PLUGIN))
    methods.load_plugins(str(PLUGIN))  # a second load is a no-op, not a duplicate
    return methods


def test_the_toy_method_trains_with_typed_overrides(methods, toy_dataset):
    assert "toy_smooth" in methods.METHODS and not methods.needs_teachers("toy_smooth")
    assert methods.parse_method("toy_smooth@smoothing=0.2,mm_weight=2") == (
        "toy_smooth", {"smoothing": 0.2, "mm_weight": 2.0})
    with pytest.raises(ValueError, match="smoothing='lots'.*takes a float"):
        methods.parse_method("toy_smooth@smoothing=lots")
    with pytest.raises(ValueError, match=r"'toy_smooth' declares: \['mm_weight', 'smoothing', "
                                         r"'student_size'\]"):
        methods.parse_method("toy_smooth@alpha=0.5")  # MIND's setting, not this method's
    # a context-level setting (as a notebook passes its parameters) reaches the method that
    # declares it; the override in the name wins over it
    ctx = methods.MethodContext(toy_dataset, config=TrainConfig(epochs=2, batch_size=32),
                                smoothing=0.3)
    model, info = methods.run_method("toy_smooth@mm_weight=2", ctx)
    assert info.settings == {"smoothing": 0.3, "mm_weight": 2.0} and info.epochs_run == 2
    assert info.source == "trained" and "train/task/mm" in info.history.records[0]
    plain, _ = methods.run_method("toy_smooth@mm_weight=2,smoothing=0", ctx)
    assert any(not torch.equal(p, q) for p, q in zip(model.state_dict().values(),
                                                     plain.state_dict().values()))
    with pytest.raises(ValueError, match="unknown method settings \\['smoothness'\\]"):
        methods.MethodContext(toy_dataset, smoothness=0.3)


def test_a_plugin_that_is_not_a_file_is_named(methods):
    with pytest.raises(FileNotFoundError, match="MINDKIT_PLUGINS names 'nope.py'"):
        methods.load_plugins("nope.py")


SWEEP = """
import json, sys
from mindkit.sweep import collect, run_sweep
out, grid = sys.argv[1], json.loads(sys.argv[2])
s = run_sweep(["01_teachers", "02_mind_distillation"], grid, out, workers=0, stagger=0,
              progress=False, fixed={"dataset": "avdigits", "seed": 0, "quick": True})
print(json.dumps({"ok": s.ok, "failed": s.failed, "errors": [r.get("error") for r in s.runs]}))
df = collect(out)
df.to_csv(sys.argv[3], index=False)
"""


def test_the_toy_method_runs_in_notebook_02_in_a_two_point_sweep(tmp_path):
    # a fresh process, as a user's would be: only MINDKIT_PLUGINS tells it about the method
    env = {**__import__("os").environ, "MINDKIT_PLUGINS": str(PLUGIN)}
    grid = {"methods": [["toy_smooth@smoothing=0.2", "no_kd"],
                        ["toy_smooth@smoothing=0", "no_kd"]]}
    out, table = tmp_path / "sweep", tmp_path / "results.csv"
    proc = subprocess.run([sys.executable, "-c", SWEEP, str(out), json.dumps(grid), str(table)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["ok"], summary["failed"]) == (2, 0), summary["errors"]
    import pandas as pd

    df = pd.read_csv(table)
    paired = df[df["statistic"].eq("paired_difference")]
    assert set(paired["method"]) == {"toy_smooth@smoothing=0.2 - no_kd",
                                     "toy_smooth@smoothing=0 - no_kd"}
    toy = df[df["method"].eq("toy_smooth@smoothing=0.2") & df["head"].eq("routed")
             & df["group"].eq("all") & df["metric"].eq("accuracy")]
    assert len(toy) == 1 and toy["smoothing"].iloc[0] == 0.2
    assert 0.0 <= toy["value"].iloc[0] <= 1.0  # quick mode: two epochs, scored, not judged
    assert set(df.loc[df["head"].eq("routed"), "method"]) >= {
        "toy_smooth@smoothing=0.2", "toy_smooth@smoothing=0", "no_kd"}
