"""A tour of the notebooks in JupyterLab, as a learner sees them: a script (not a test; the
browser test in test_browser.py asserts what it must), run by hand to look at the output.

    python tests/jupyterlab_tour.py OUT_DIR

Runs notebooks 00, 01, 02 and 05 in quick mode with Run All in JupyterLab (headless Chromium,
the browser test's helpers), saves a picture of each cell it checks into OUT_DIR, prints what it
found for each item of the JupyterLab polish list (the live plot above the progress bar, the kit's
warnings as one-line notices, no stray ``Out[..]`` echo of a path, the attribution viewer's slider
over the explained samples, the datasets table's integer counts and full reasons), then saves
notebook 05, restarts JupyterLab's page and checks that the reopened widgets show their last
picture instead of an error.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_browser as tb  # noqa: E402  (the browser test's JupyterLab and Chromium helpers)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from mindkit.notebook import execute_notebook  # noqa: E402

CHECKS = {  # notebook -> (marker in a code cell, picture name)
    "00_data_tour": [("datasets_table(", "datasets_table"),
                     ("fig = plot_class_balance(ds)", "class_balance"),
                     ("fig = plot_availability(ds)", "availability")],
    "01_teachers": [("train_teachers(", "training_notices")],
    "02_mind_distillation": [("LivePlot(", "live_plot_and_bar")],
    "05_explain": [("kd.save(", "kd_explorer"), ("viewer.save(", "attribution_viewer")],
}


def output_kinds(cell) -> list[str]:
    return [o.get_attribute("data-mime-type") or "" for o in
            cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")]


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tour_"))
    run = tmp / "run"
    params = {"dataset": "avdigits", "seed": 0, "quick": True, "run_dir": str(run)}
    for name in ("00_data_tour", "01_teachers"):  # what 02 and 05 reuse
        with tb._inline_figures():
            execute_notebook(name, run, params)
    (tmp / "root").mkdir()
    (tmp / "home").mkdir()
    lab = tb.Lab(tmp / "root", tmp / "home")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = tb.CHROMIUM
    driver = webdriver.Chrome(service=Service(tb.CHROMEDRIVER), options=opts)
    found = {}
    try:
        for name, checks in CHECKS.items():
            nb = json.loads((tb.NB_DIR / f"{name}.ipynb").read_text())
            path = lab.root / f"{name}.ipynb"
            path.write_text(json.dumps(tb.with_parameters(nb, {"quick": True,
                                                               "run_dir": str(run)})))
            page = tb.LabNotebook(driver, lab, path.name, out)
            state = page.run_all(600)
            page.assert_no_errors(state)
            for marker, pic in checks:
                cell = page.cell_with(marker)
                driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
                cell.screenshot(str(out / f"{name}_{pic}.png"))
                kinds = output_kinds(cell)
                text = cell.get_attribute("textContent")
                found[f"{name}:{pic}"] = {
                    "picture": str(out / f"{name}_{pic}.png"), "outputs": kinds,
                    "stderr boxes": kinds.count("application/vnd.jupyter.stderr"),
                    "Out[..] echo": "PosixPath(" in text,
                    "notice lines": text.count("Note ("),
                    "3500.0 in table": "3500.0" in text}
            if name == "05_explain":
                driver.execute_script("return window.jupyterapp.commands.execute("
                                      "'docmanager:save')")
                time.sleep(3)  # the save request returns before the file is written
                saved = json.loads(path.read_text())
                found["05 saved widget state"] = "widgets" in saved.get("metadata", {})
                lab.shutdown_kernels()
                page = tb.LabNotebook(driver, lab, path.name, out)
                for marker, pic in checks:
                    cell = page.cell_with(marker)
                    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                                          cell)
                    cell.screenshot(str(out / f"{name}_{pic}_reopened.png"))
                    text = cell.get_attribute("textContent")
                    imgs = cell.find_elements(By.CSS_SELECTOR, "img")
                    found[f"{name}:{pic} reopened"] = {
                        "picture": str(out / f"{name}_{pic}_reopened.png"),
                        "model not found": "model not found" in text,
                        "images": sum(1 for i in imgs if i.get_attribute("naturalWidth")
                                      not in (None, "0"))}
            lab.shutdown_kernels()
    finally:
        driver.quit()
        lab.stop()
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tour")))
