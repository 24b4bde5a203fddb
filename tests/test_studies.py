"""The studies layer (issue 21, item 3): study code in mindkit.studies, the old import paths
re-export it, and the layers below it know no notebook number and no study's method names."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

OLD = ["mindkit.distill.suite", "mindkit.distill.ablation", "mindkit.distill.compare",
       "mindkit.distill.jobs"]


@pytest.mark.parametrize("old", OLD)
def test_study_code_left_the_method_layer(old):
    """distill holds losses and methods only: the study modules are gone from it (an import
    from them would be upward, which the layer contracts refuse)."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
    import mindkit.evaluate.aggregate as agg

    assert not hasattr(agg, "claim_table")


def test_the_sweep_reads_the_notebooks_chaining():
    from mindkit.notebook import NOTEBOOK_INPUTS
    from mindkit.sweep.runner import INPUTS

    assert INPUTS is NOTEBOOK_INPUTS


# a notebook number as a name or folder ("03", '04'), a notebook's file stem (01_teachers),
# or "notebook 06" in prose
NOTEBOOK_REF = re.compile(r"(?<![\w.])0\d(?![\w.])|\b0\d_[a-z]|[Nn]otebooks? 0\d")


@pytest.mark.parametrize("layer", ["evaluate", "sweep", "distill"])
def test_lower_layers_name_no_notebook(layer):
    hits = []
    for path in sorted((ROOT / "mindkit" / layer).rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if NOTEBOOK_REF.search(line) or "01_teachers" in line:
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "notebook numbers below the studies layer:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", ["evaluate/aggregate.py", "sweep/analysis.py",
                                  "sweep/effects.py", "sweep/factors.py", "sweep/figures.py",
                                  "sweep/runner.py", "sweep/jobs.py", "sweep/worker.py",
                                  "sweep/folders.py"])
def test_claims_and_sweeps_hard_code_no_method_name(path):
    text = (ROOT / "mindkit" / path).read_text()
    assert not re.search(r"""["'](mind|no_kd)["']|mind - no_kd""", text)


def _recs():
    out = []
    for seed, (a, b, c) in enumerate([(0.8, 0.7, 0.6), (0.9, 0.85, 0.7), (0.7, 0.75, 0.65)]):
        for method, v in (("x", a), ("y", b), ("z", c)):
            out.append({"dataset": "d", "method": method, "model": "s", "head": "routed",
                        "group": "all", "metric": "accuracy", "value": v, "ci_low": v - 0.1,
                        "ci_high": v + 0.1, "seed": seed, "split": "test", "n": 10})
    return out


def test_claim_table_takes_the_study_comparisons():
    from mindkit.studies.claims import Comparison, claim_table, mind_comparisons

    recs = _recs()
    assert claim_table(recs, "accuracy", []).empty  # MIND's claims: none of its methods ran
    table = claim_table(recs, "accuracy", [], comparisons=[
        Comparison("x beats y", "x", "y"), ("x beats z", "x", "z", "routed", "all"),
        Comparison("not run", "x", "w")])
    assert list(table["claim"]) == ["x beats y", "x beats z"]
    assert table["diff_mean"].iloc[1] == pytest.approx((0.2 + 0.2 + 0.05) / 3)
    by_fn = claim_table(recs, "accuracy", [], comparisons=lambda mods, groups: [
        Comparison("x beats y", "x", "y")])
    assert list(by_fn["claim"]) == ["x beats y"]
    claims = {c.claim for c in mind_comparisons(["image", "audio"], ["only_image"])}
    assert {"a: KD helps", "b: multi-head beats single-head",
            "c: KD helps with late fusion"} <= claims


def test_sweep_effect_finds_the_paired_method_or_asks():
    import pandas as pd

    from mindkit.sweep.analysis import sweep_effect

    rows = []
    for seed in (0, 1):
        for alpha in (0.2, 0.8):
            for name in ("x - y", "x - z"):
                rows.append({"run": f"r{seed}{alpha}", "status": "ok", "seed": seed,
                             "alpha": alpha, "method": name, "statistic": "paired_difference",
                             "head": "routed", "group": "all", "metric": "accuracy",
                             "value": 0.1 if name == "x - y" else -0.1, "ci_low": 0.0,
                             "ci_high": 0.2})
    df = pd.DataFrame(rows)
    with pytest.raises(ValueError, match=r"several methods \('x - y', 'x - z'\).*pass method="):
        sweep_effect(df, "alpha")
    one = sweep_effect(df[df["method"] == "x - z"], "alpha")
    assert set(one["method"]) == {"x - z"} and one["mean_diff"].tolist() == [-0.1, -0.1]
    assert set(sweep_effect(df, "alpha", method="x - y")["method"]) == {"x - y"}


def test_plan_sweep_upstream_defaults_to_the_declared_teachers_notebook():
    from mindkit.notebook import NOTEBOOK_INPUTS
    from mindkit.sweep.analysis import plan_sweep

    (call,) = plan_sweep("students", {"alpha": [0.2]}, [0])
    assert call["notebooks"] == [NOTEBOOK_INPUTS["teacher_dir"][0], "students"]
    (call,) = plan_sweep("students", {"alpha": [0.2]}, [0], upstream="teach")
    assert call["notebooks"] == ["teach", "students"]


def _notebook(folder: Path, name: str, params: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


def test_sweep_finds_notebooks_through_the_setting_and_chains_through_inputs(tmp_path,
                                                                             monkeypatch):
    import mindkit.notebook as mnb
    from mindkit.sweep import plan
    from mindkit.sweep.runner import resolve_notebook

    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder, "10_make", 'seed = 0  # seed\nrun_dir = "."  # out\n')
    _notebook(folder, "11_use", 'seed = 0  # seed\nmade = ""  # from 10\nrun_dir = "."  # out\n')
    monkeypatch.setattr(mnb, "NOTEBOOK_DIR", folder)
    assert resolve_notebook("11") == (folder / "11_use.ipynb").resolve()
    # a number names its own notebook beside a name that starts with it (as 01 beside 01b)
    _notebook(folder, "11b_aside", 'seed = 0  # seed\nrun_dir = "."  # out\n')
    assert resolve_notebook("11") == (folder / "11_use.ipynb").resolve()
    assert resolve_notebook("11b") == (folder / "11b_aside.ipynb").resolve()
    assert resolve_notebook("11b_aside") == (folder / "11b_aside.ipynb").resolve()
    with pytest.raises(FileNotFoundError, match="names several"):
        resolve_notebook("1")
    (job,) = plan(["10_make", "11_use"], [{"seed": 1}], tmp_path / "out",
                  inputs={"made": ("10_make", "things")})
    assert job.params["made"] == str(job.upstream.folder / "things")
    (job,) = plan(["10_make", "11_use"], [{"seed": 1}], tmp_path / "out")  # default inputs
    assert "made" not in job.params


def test_notebook_dir_setting_reads_the_environment(tmp_path):
    code = "import mindkit.notebook as m; print(m.NOTEBOOK_DIR)"
    env_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT,
                             env={**_env(), "MINDKIT_NOTEBOOKS": str(tmp_path)}).stdout
    assert Path(env_out.strip()) == tmp_path.resolve()
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=ROOT, env=_env()).stdout
    assert Path(plain.strip()) == ROOT / "notebooks"


def _env() -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MINDKIT_NOTEBOOKS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_stored_notebooks_import_the_studies_layer():
    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        src = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        assert not re.search(r"mindkit\.distill\.(suite|ablation|compare|jobs)\b", src), path.name
