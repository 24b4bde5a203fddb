"""A strict command line (issue 19, item 4): ``mindkit run --param`` and ``mindkit sweep`` check
parameter names and types against each notebook's ``parameters`` cell with one checker and
refuse with one line (exit code 2); quick mode never overrides a parameter set explicitly;
``setup`` keys a run's records by the notebook's parameters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import mindkit.cli as cli
import mindkit.notebook as mnb
from mindkit.cli import NOTEBOOKS, SERIES, main
from mindkit.notebook import (
    NOTEBOOK_DIR,
    ParameterError,
    declared_parameters,
    parameter_specs,
    quick_values,
    run_params,
)

ROOT = Path(__file__).resolve().parents[1]


def write_notebook(folder: Path, name: str, params: str, body: str = "pass") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def executed(monkeypatch, tmp_path):
    """``mindkit run`` with its notebook execution and results table replaced: the parameters
    each notebook would receive, by name (nothing runs)."""
    calls: dict[str, dict] = {}

    def fake_execute(name, run_dir, parameters, notebook_dir=NOTEBOOK_DIR):
        calls[name] = dict(parameters)
        (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)  # as papermill's output does
        return run_dir / "notebooks" / f"{name}.ipynb"

    monkeypatch.setattr(cli, "execute_notebook", fake_execute)
    monkeypatch.setattr(cli, "results_table", lambda run_dir: pd.DataFrame())
    return calls


def run_cli(tmp_path, *args) -> int:
    return main(["run", "--quick", "--run-dir", str(tmp_path / "run"), *args])


def refusal(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mindkit: ") and "\n" not in err, err
    return err


# ------------------------------------------------------------------ mindkit run --param


def test_unknown_param_is_refused_with_the_close_match(executed, tmp_path, capsys):
    rc = run_cli(tmp_path, "--notebooks", "00_data_tour", "--param", "n_example=3")
    err = refusal(capsys)
    assert rc == 2 and not executed
    assert "'n_example'" in err and "00_data_tour" in err and "did you mean 'n_examples'" in err
    # over the demo series: every notebook run is named, and the close match of any of them
    assert run_cli(tmp_path, "--param", "epoch=5") == 2
    err = refusal(capsys)
    assert all(n in err for n in SERIES) and "did you mean 'epochs'" in err
    assert not (tmp_path / "run").exists()  # refused before anything ran or was written


def test_a_value_of_the_wrong_type_is_refused(executed, tmp_path, capsys):
    assert run_cli(tmp_path, "--notebooks", "01_teachers", "--param", "epochs=abc") == 2
    err = refusal(capsys)
    assert "'epochs' of 01_teachers takes an int (default 8), not a str 'abc'" in err
    for bad, words in [("epochs=2.5", "not a float 2.5"), ("n_boot=True", "not a bool True"),
                       ("sizes=xs", "takes a list"), ("archs=[]", "takes a dict"),
                       ("lr=fast", "takes a float")]:
        assert run_cli(tmp_path, "--notebooks", "01_teachers", "--param", bad) == 2, bad
        assert words in refusal(capsys), bad
    assert run_cli(tmp_path, "--notebooks", "05_explain", "--param", "include_teachers=1") == 2
    assert "takes a bool" in refusal(capsys)
    assert run_cli(tmp_path, "--notebooks", "00_data_tour", "--param", "nope") == 2
    assert "NAME=VALUE" in refusal(capsys)
    assert not executed


def test_values_are_typed_and_go_only_to_the_notebooks_that_declare_them(executed, tmp_path):
    assert run_cli(tmp_path, "--param", "T=4", "--param", "epochs=5",
                   "--param", "01.n_boot=20", "--param", 'sizes=["xs"]') == 0
    assert list(executed) == list(SERIES)
    nb00, nb01, nb01b, nb02 = (executed[n] for n in SERIES)
    assert nb02["T"] == 4.0 and isinstance(nb02["T"], float)  # an int is taken for a float
    assert nb01b["T"] == 4.0 and isinstance(nb01b["T"], float)
    assert "T" not in nb00 and "T" not in nb01  # papermill never sees a name it would ignore
    assert nb01["epochs"] == nb01b["epochs"] == nb02["epochs"] == 5 and "epochs" not in nb00
    assert nb01["n_boot"] == 20 and "n_boot" not in nb02  # NOTEBOOK.NAME: that notebook only
    assert "n_boot" not in nb01b  # "01." names 01_teachers, not 01b_kd_in_ten_minutes
    assert nb01["sizes"] == ["xs"] and "sizes" not in nb02
    for p in (nb00, nb01, nb01b, nb02):  # the flags reach every notebook
        assert p["quick"] is True and p["seed"] == 0 and p["dataset"] == "avdigits"
        assert p["run_dir"] == str((tmp_path / "run").resolve())
    executed.clear()
    # a parameter whose cell names several types: notebook 05's target is a name or a class index
    assert run_cli(tmp_path, "--notebooks", "05_explain", "--param", "target=3",
                   "--param", "ig_target=pred") == 0
    assert executed["05_explain"]["target"] == 3 and executed["05_explain"]["ig_target"] == "pred"


@pytest.mark.parametrize("name,flag", [("run_dir", "--run-dir"), ("dataset", "--dataset"),
                                       ("seed", "--seed"), ("quick", "--quick")])
def test_names_with_their_own_flag_are_refused(executed, tmp_path, capsys, name, flag):
    assert run_cli(tmp_path, "--notebooks", "00_data_tour", "--param",
                   f"{name}={tmp_path / 'elsewhere'}") == 2
    err = refusal(capsys)
    assert f"'{name}'" in err and f"use {flag}" in err
    assert not executed and not (tmp_path / "elsewhere").exists()


def test_explicit_value_reaches_the_notebook_with_quick(executed, tmp_path):
    assert run_cli(tmp_path, "--notebooks", "02_mind_distillation", "--param", "epochs=5") == 0
    assert executed["02_mind_distillation"]["epochs"] == 5
    assert executed["02_mind_distillation"]["quick"] is True


# ------------------------------------------------------------------ quick mode


@pytest.fixture
def fake_dir(monkeypatch, tmp_path) -> Path:
    """A notebook folder holding ``fake.ipynb`` (epochs 12, n_boot 1000, seeds [0, 1, 2], T 2.0)
    that quick_values reads."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder, "fake", 'epochs = 12  # max epochs\nn_boot = 1000  # resamples\n'
                   'seeds = [0, 1, 2]  # seeds\nT = 2.0  # temperature\nquick = False  # smoke\n')
    monkeypatch.setattr(mnb, "NOTEBOOK_DIR", folder)
    return folder


def test_quick_changes_defaults_and_keeps_explicit_values(fake_dir, capsys):
    assert quick_values("fake", True, epochs=(12, 2), n_boot=(1000, 50)) == (2, 50)
    assert capsys.readouterr().out.strip() == "quick: epochs 12 -> 2, n_boot 1000 -> 50"
    # epochs set explicitly (papermill, --param, a sweep): kept; the others still shrink
    assert quick_values("fake", True, epochs=(5, 2), n_boot=(1000, 50), seeds=([0, 1, 2], [7])) \
        == (5, 50, [7])
    assert capsys.readouterr().out.strip() == \
        "quick: n_boot 1000 -> 50, seeds [0, 1, 2] -> [7]; kept epochs=5 (set explicitly)"
    assert quick_values("fake", True, T=(2, 1.0)) == 1.0  # 2 == 2.0: still the default
    assert quick_values("fake", True, epochs=(3, 2)) == 3  # one pair: the value itself
    assert "quick: nothing to change; kept epochs=3" in capsys.readouterr().out
    # without quick: the values as they are, nothing printed
    assert quick_values("fake", False, epochs=(12, 2), n_boot=(1000, 50)) == (12, 1000)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="fake declares no parameter 'epoch'"):
        quick_values("fake", True, epochs=(12, 2), epoch=(1, 2))
    with pytest.raises(TypeError, match="takes a pair"):
        quick_values("fake", True, epochs=12)


def test_quick_without_the_stored_notebook_applies_every_quick_value(fake_dir, capsys):
    assert quick_values("missing", True, epochs=(5, 2), n_boot=(1000, 50)) == (2, 50)
    out = capsys.readouterr().out.strip()
    assert out.startswith("quick: epochs 5 -> 2, n_boot 1000 -> 50 (every quick value applies: "
                          "no notebook ") and "missing.ipynb" in out


def test_explicit_epochs_win_over_quick_end_to_end(monkeypatch, tmp_path):
    """``mindkit run --quick --param epochs=5`` through papermill into a real kernel: the
    notebook runs 5 epochs and says so; an unset n_boot still shrinks."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    body = (f"import json, pathlib\nimport mindkit.notebook as mn\n"
            f"mn.NOTEBOOK_DIR = pathlib.Path({str(folder)!r})\n"
            "epochs, n_boot = mn.quick_values('00_fake', quick, epochs=(epochs, 2), "
            "n_boot=(n_boot, 50))\n"
            "pathlib.Path(run_dir, 'ran.json').write_text(json.dumps([epochs, n_boot]))\n"
            "from mindkit.run import RunDir\n"
            "RunDir(run_dir).write_metrics([{'dataset': dataset, 'method': 'm', 'model': 'm', "
            "'head': 'routed', 'metric': 'accuracy', 'value': 1.0, 'ci_low': None, "
            "'ci_high': None, 'seed': seed, 'split': 'test'}], '00_fake')\n")
    write_notebook(folder, "00_fake", "dataset = 'x'  # data\nseed = 0  # seed\n"
                   "quick = False  # smoke test\nrun_dir = '.'  # output\n"
                   "epochs = 12  # max epochs\nn_boot = 1000  # resamples\n", body)
    monkeypatch.setattr(cli, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(cli, "NOTEBOOKS", ("00_fake",))
    monkeypatch.setattr(cli, "SERIES", ("00_fake",))
    run = tmp_path / "run"
    assert main(["run", "--quick", "--run-dir", str(run), "--param", "epochs=5"]) == 0
    assert json.loads((run / "ran.json").read_text()) == [5, 50]
    nb = nbformat.read(str(run / "notebooks" / "00_fake.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "quick: n_boot 1000 -> 50; kept epochs=5 (set explicitly)" in printed


# ------------------------------------------------------------------ mindkit sweep refusals


def test_sweep_unknown_param_is_one_line_and_exit_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "mindkit.cli", "sweep", "02_mind_distillation",
                        "--out", str(tmp_path / "sw"), "-p", "alfa", "0.2,0.8", "--dry-run"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mindkit: unknown parameter 'alfa'")
    assert "did you mean 'alpha'" in lines[0]
    assert not (tmp_path / "sw").exists()


def test_sweep_wrong_type_and_bad_grid_file_are_refused(tmp_path, capsys):
    out = str(tmp_path / "sw")
    assert main(["sweep", "02_mind_distillation", "--out", out, "-p", "epochs", "abc",
                 "--dry-run"]) == 2
    assert "'epochs' of 02_mind_distillation takes an int (default 12)" in refusal(capsys)
    grid = tmp_path / "g.yaml"
    grid.write_text("grid:\n  alpha: [0.2, 0.8\n")
    assert main(["sweep", "02_mind_distillation", "--out", out, "--grid", str(grid),
                 "--dry-run"]) == 2
    assert "not valid YAML" in refusal(capsys)
    assert main(["sweep", "02_mind_distillation", "--out", out, "--grid",
                 str(tmp_path / "none.yaml"), "--dry-run"]) == 2
    assert "no grid file" in refusal(capsys)
    grid.write_text("grids:\n  alpha: [1]\n")
    assert main(["sweep", "02_mind_distillation", "--out", out, "--grid", str(grid)]) == 2
    assert "keys 'grid'" in refusal(capsys)
    assert main(["sweep", "02_mind_distillation", "--out", out, "-p", "run_dir", "x"]) == 2
    assert "the sweep sets it" in refusal(capsys)
    assert main(["sweep", "99_nothing", "--out", out, "-p", "alpha", "1"]) == 2
    assert "names no notebook" in refusal(capsys)
    assert main(["sweep", "02_mind_distillation", "--out", out, "-p", "teacher_sizes",
                 '["xs",', "--dry-run"]) == 2
    assert "unbalanced" in refusal(capsys)
    assert not Path(out).exists()


# ------------------------------------------------------------------ what notebooks declare


def _cell_names(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return [n.targets[0].id for n in ast.parse(cell.source).body]


def test_declared_parameters_reads_every_notebooks_cell():
    from papermill import inspect_notebook

    assert set(NOTEBOOKS) == {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")}
    for name in NOTEBOOKS:
        declared = declared_parameters(name)
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        assert list(declared) == _cell_names(path), name  # every line, in the cell's order
        assert {"dataset", "seed", "quick", "run_dir"} <= set(declared)
        assert declared["quick"] is False and isinstance(declared["seed"], int)
        # papermill reads the same names (its line parser would skip a line with two '=')
        assert set(inspect_notebook(str(path))) == set(declared), name
        assert all(p.types is not None for p in parameter_specs(path).values()), name
    assert declared_parameters("02_mind_distillation")["epochs"] == 12
    assert declared_parameters("02_mind_distillation")["T"] == 2.0
    assert declared_parameters("03_baselines_and_ablations")["full_design"] is False
    d = declared_parameters("01_teachers")
    d["sizes"].append("xl")  # a fresh copy each call: the cache is not changed
    assert declared_parameters("01_teachers")["sizes"] == ["xs", "s", "m"]
    specs = parameter_specs(NOTEBOOK_DIR / "05_explain.ipynb")
    assert specs["target"].types == ("str", "int") and specs["n_ig"].types == ("int",)


def test_every_notebook_uses_quick_values_and_passes_its_globals():
    for name in NOTEBOOKS:
        nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "if quick:" not in code, name  # no override block left
        assert f'"{name}", dataset_options, params=globals())' in code, name
        if name != "00_data_tour":  # 00 has nothing that quick shrinks
            assert f'quick_values(\n    "{name}", quick,' in code or \
                f'quick_values("{name}", quick,' in code, name


def test_parameter_cells_with_several_or_no_parameters_cells_are_refused(tmp_path):
    path = write_notebook(tmp_path, "two", "x = 1  # a\n")
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(path))
    with pytest.raises(ParameterError, match="2 cells tagged 'parameters'"):
        parameter_specs(path)
    with pytest.raises(FileNotFoundError, match="no notebook"):
        parameter_specs(tmp_path / "absent.ipynb")


# ------------------------------------------------------------------ setup keys the run


def test_run_params_keep_only_declared_names_json_ready():
    ns = {"dataset": "pbc", "seed": 1, "quick": True, "run_dir": "/somewhere", "epochs": 5,
          "teacher_dir": Path("/t"), "pd": pd, "ds": object(), "alpha": 0.5}
    got = run_params("02_mind_distillation", ns)
    assert got == {"dataset": "pbc", "seed": 1, "quick": True, "teacher_dir": "/t",
                   "alpha": 0.5, "epochs": 5}
    assert list(got) == [n for n in declared_parameters("02_mind_distillation") if n in got]


def test_setup_sets_params_and_checks_records_first(tmp_path):
    from mindkit.notebook import setup
    from mindkit.run import RecordsError

    ns = {**declared_parameters("01_teachers"), "epochs": 3, "run_dir": str(tmp_path / "a"),
          "dataset": "pbc", "torch": object()}
    _, run = setup("pbc", 0, True, str(tmp_path / "a"), "01_teachers", params=ns)
    assert run.params["epochs"] == 3 and run.params["dataset"] == "pbc"
    assert "run_dir" not in run.params and "torch" not in run.params
    _, run = setup("pbc", 0, True, str(tmp_path / "a"), "01_teachers")
    assert run.params is None  # without params: as before
    damaged = tmp_path / "b"
    damaged.mkdir()
    (damaged / "metrics.json").write_text("[{broken")
    with pytest.raises(RecordsError):
        setup("pbc", 0, True, str(damaged), "01_teachers", params=ns)
    assert not (damaged / "dataset.json").exists()  # refused before any work was written


def test_a_notebook_number_names_one_notebook_beside_01b():
    from mindkit.sweep.runner import resolve_notebook

    assert resolve_notebook("01") == NOTEBOOK_DIR.resolve() / "01_teachers.ipynb"
    assert resolve_notebook("01b") == NOTEBOOK_DIR.resolve() / "01b_kd_in_ten_minutes.ipynb"
    assert list(NOTEBOOKS).index("01b_kd_in_ten_minutes") == NOTEBOOKS.index("01_teachers") + 1
