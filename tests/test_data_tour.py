"""What notebook 00 and JupyterLab show: the datasets table (integer counts, whole reasons),
the data-tour figures' legends clear of the bars, and the JupyterLab setting that keeps the
widgets' state with a saved notebook."""

import html
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from mindkit.data import load
from mindkit.data.registry import COUNT_COLUMNS, REASON
from mindkit.viz import datasets_table, plot_availability, plot_class_balance

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_table_counts_are_integers_and_reasons_whole(monkeypatch):
    """A dataset that cannot be loaded (MIMIC without its files) leaves blank counts, not
    floats ("3500.0") in the others' rows, and its reason is there in full, lines kept."""
    monkeypatch.delenv("MINDKIT_MIMIC_EHR", raising=False)
    table = datasets_table(0, names=["pbc", "mimic_ihm"])
    df = table.data
    assert [str(df[c].dtype) for c in COUNT_COLUMNS] == ["Int64"] * len(COUNT_COLUMNS)
    pbc = load("pbc", seed=0)
    ok, bad = df.iloc[0], df.iloc[1]
    assert [ok[f"n_{k}"] for k in pbc.splits] == [len(v) for v in pbc.splits.values()]
    assert ok[REASON] == "" and bad["dataset"] == "mimic_ihm"
    assert all(pd.isna(bad[c]) for c in COUNT_COLUMNS)
    with pytest.raises(FileNotFoundError) as err:
        load("mimic_ihm", seed=0)
    reason = str(err.value)
    assert len(reason) > 200 and "\n" in reason
    assert bad[REASON] == f"FileNotFoundError: {reason}"
    page = table.to_html()
    n_train = len(pbc["train"])
    assert f">{n_train}<" in page and f"{n_train}.0" not in page
    assert reason in html.unescape(page)  # whole
    assert "&lt;ehr_root&gt;/" in page  # and "<ehr_root>/" is text, not an HTML tag
    assert "white-space: pre-wrap" in page  # its lines kept, wrapped in the cell


@pytest.mark.parametrize("plot", [plot_class_balance, plot_availability])
def test_data_tour_legends_sit_clear_of_the_bars(toy_dataset, plot):
    fig = plot(toy_dataset)
    ax = fig.axes[0]
    fig.canvas.draw()
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) >= 2
    box, panel = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= panel.x1  # to the right of the axes: no bar under it
    assert box.x1 <= fig.bbox.x1 + 1  # and still inside the figure


def test_install_lab_settings_merges_the_widget_state_setting(tmp_path, monkeypatch):
    from mindkit.notebook import LAB_SETTINGS, install_lab_settings

    monkeypatch.delenv("JUPYTERLAB_DIR", raising=False)
    settings = tmp_path / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True)
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    (settings / "overrides.json").write_text(json.dumps(
        {**theme, "@jupyter-widgets/jupyterlab-manager:plugin": {"other": 1}}))
    path = install_lab_settings(tmp_path)
    assert path == settings / "overrides.json"
    assert json.loads(path.read_text()) == {
        **theme, "@jupyter-widgets/jupyterlab-manager:plugin": {"other": 1, "saveState": True}}
    assert install_lab_settings(tmp_path) == path  # again: the same file
    fresh = install_lab_settings(tmp_path / "venv")
    assert json.loads(fresh.read_text()) == LAB_SETTINGS
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path / "app"))
    assert install_lab_settings() == tmp_path / "app" / "settings" / "overrides.json"
    # make setup installs it into the environment
    assert "install_lab_settings" in (ROOT / "Makefile").read_text()


def test_the_widget_setting_exists_in_the_installed_jupyterlab_manager():
    schema = (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets"
              / "jupyterlab-manager" / "schemas" / "@jupyter-widgets" / "jupyterlab-manager"
              / "plugin.json")
    if not schema.exists():
        pytest.skip("the JupyterLab widgets manager is not installed in this environment")
    from mindkit.notebook import LAB_SETTINGS

    props = json.loads(schema.read_text())["properties"]
    for key, value in LAB_SETTINGS["@jupyter-widgets/jupyterlab-manager:plugin"].items():
        assert props[key]["type"] == "boolean" and value is True
