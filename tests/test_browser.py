"""The notebooks in a real browser: JupyterLab driven by Selenium in headless Chromium.

A quick run folder is prepared first (notebooks 00 and 01 through papermill, as ``mindkit run
--quick`` executes them, so later notebooks find teachers). JupyterLab is started on 127.0.0.1
(a free port, a token, no browser) over a folder holding copies of the notebooks whose
``parameters`` cell is set to quick mode on that run folder. Each notebook is opened, run with
Run > Run All Cells, and checked: every code cell ran, the kernel is idle, no cell shows an
exception; notebook 05's two ipywidgets explorers render as live widgets and moving a slider
(arrow keys on its handle) redraws the explorer's figure (its pixels change). Then the book of
the run folder (``make book``, mindkit.book) is built and each of its pages is opened from
``file://`` URLs: every page loads, every figure has pixels, ``<details>`` blocks and equations
are there. Screenshots go to ``<run_dir>/screenshots/``.

Needs Chromium and its driver (Debian: ``apt-get install -y chromium chromium-driver``;
``.ci/run`` installs them when it can) and selenium (the dev extra); the module is skipped,
saying which is missing, when one is not installed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"


def _browser() -> tuple[str | None, str | None]:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    binary = next((shutil.which(n) for n in names if shutil.which(n)), None)
    return binary, shutil.which("chromedriver")


CHROMIUM, CHROMEDRIVER = _browser()
try:
    import selenium  # noqa: F401
except ImportError:  # pragma: no cover - the dev extra installs it
    SELENIUM = False
else:
    SELENIUM = True
_missing = [what for what, ok in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER),
                                  ("the selenium package", SELENIUM)) if not ok]
if _missing:
    pytest.skip(f"no headless browser to drive: {', '.join(_missing)} not installed (Debian: "
                "apt-get install -y chromium chromium-driver; selenium: pip install -e '.[dev]')",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import JavascriptException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from mindkit.cli import execute_notebook  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the notebooks run in JupyterLab: 05 always; 01b once it is in notebooks/
LAB_NOTEBOOKS = [n for n in ("01b_kd_in_ten_minutes", "05_explain")
                 if (NB_DIR / f"{n}.ipynb").exists()]
PREPARED = ("00_data_tour", "01_teachers")  # papermill, before JupyterLab opens anything
RUN_ALL_TIMEOUT = 240  # seconds for one notebook's Run All (05 quick: about 30 s on 2 cores)
# notebook 05's explorers (cell source marker) and the slider moved in each
SLIDERS = {"05_explain": [("kd.show()", "T"), ("viewer.show()", "sample")]}
# an exception's traceback as IPython prints it (a warning on stderr has neither)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Za-z_][\w.]*"
                       r"(Error|Exception|Interrupt)\b(:|\s*$)", re.M)


@contextmanager
def _inline_figures():
    """Kernels get matplotlib's inline backend, as in ``make demo`` (conftest sets Agg)."""
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A quick run folder of notebooks 00 and 01 (teachers), executed by papermill."""
    run = tmp_path_factory.mktemp("browser") / "run"
    params = {"dataset": "avdigits", "seed": 0, "quick": True, "run_dir": str(run)}
    with _inline_figures():
        for name in PREPARED:
            execute_notebook(name, run, params)
    (run / "screenshots").mkdir()
    return run


def with_parameters(nb: dict, values: dict) -> dict:
    """``nb`` with the given lines of its ``parameters`` cell set to ``values`` (each line's
    comment kept); every name must be a parameter."""
    cell = next(c for c in nb["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    for name, value in values.items():
        at = [i for i, line in enumerate(lines) if re.match(rf"{name}\s*=", line)]
        assert at, f"no parameter {name} in the parameters cell"
        comment = lines[at[0]].partition("  #")[2]
        lines[at[0]] = f"{name} = {value!r}" + (f"  #{comment}" if comment else "")
    cell["source"] = "\n".join(lines)
    return nb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, over ``root``, with its own settings
    (all cells kept in the page, no news pop-up) and the app exposed to scripts as
    ``window.jupyterapp`` (to read the notebook's model and the kernel's status)."""

    def __init__(self, root: Path, home: Path):
        self.root, self.port, self.token = root, _free_port(), secrets.token_hex(16)
        settings = home / "settings" / "@jupyterlab"
        for ext, name, value in (("notebook-extension", "tracker", {"windowingMode": "none"}),
                                 ("apputils-extension", "notification",
                                  {"fetchNews": "false", "checkForUpdates": False})):
            (settings / ext).mkdir(parents=True, exist_ok=True)
            (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                   JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        env.pop("MPLBACKEND", None)  # the inline backend, as a user's kernel has
        self.log = home / "lab.log"
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=root)
        self._wait_up()

    def _wait_up(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"JupyterLab did not start:\n{self.log.read_text()[-4000:]}")

    def url(self, path: str, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?{query}token={self.token}"

    def shutdown_kernels(self) -> None:
        """Ends every session (and its kernel), so that the next notebook has the cores."""
        req = urllib.request.urlopen(self.url("api/sessions"), timeout=10)
        for session in json.loads(req.read()):
            urllib.request.urlopen(urllib.request.Request(
                self.url(f"api/sessions/{session['id']}"), method="DELETE"), timeout=30)

    def stop(self) -> None:
        """SIGTERM: the server shuts its kernels down, then exits."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab_root")
    server = Lab(root, tmp_path_factory.mktemp("lab_home"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def driver():
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def wait_for(what: str, fn, timeout: float, poll: float = 0.5):
    """``fn()``'s first truthy value within ``timeout`` seconds, else a failure naming ``what``
    and the last value seen."""
    end, value = time.monotonic() + timeout, None
    while time.monotonic() < end:
        try:
            value = fn()
        except JavascriptException as e:  # the app is still loading
            value = f"script error: {e.msg}"
        else:
            if value:
                return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {value!r}")


# the panel of the notebook at path arguments[0], as JupyterLab's app sees it
PANEL = """const app = window.jupyterapp;
const w = app && Array.from(app.shell.widgets('main')).find(
  x => x.context && x.context.path === arguments[0]);"""
KERNEL_STATUS = PANEL + """
if (!w || !w.sessionContext || !w.sessionContext.session || !w.sessionContext.session.kernel)
  return null;
return w.sessionContext.session.kernel.status;"""
CELLS = PANEL + """
if (!w) return null;
const cells = w.content.model.cells, out = [];
for (let i = 0; i < cells.length; i++) {
  const c = cells.get(i);
  if (c.type !== 'code') continue;
  const outputs = [];
  for (let j = 0; j < c.outputs.length; j++) {
    const o = c.outputs.get(j);
    outputs.push({type: o.type, mime: Object.keys(o.data || {})});
  }
  out.push({count: c.executionCount, source: c.sharedModel.getSource(), outputs: outputs});
}
const k = w.sessionContext.session && w.sessionContext.session.kernel;
return {status: k ? k.status : null, cells: out};"""
NODE = PANEL + "\nreturn w ? w.node : null;"


class LabNotebook:
    """One notebook open in JupyterLab (a fresh workspace: the only tab), read through the app
    (its model, its kernel) and its panel's DOM."""

    def __init__(self, driver, lab: Lab, path: str, shots: Path):
        self.driver, self.path, self.shots = driver, path, shots
        self.name = Path(path).stem
        driver.get(lab.url(f"lab/workspaces/{self.name}/tree/{path}", "reset&"))
        self.node = wait_for(f"{path} to open", lambda: driver.execute_script(NODE, path), 90)
        wait_for(f"{path}: its kernel to be idle", lambda: self.kernel_status() == "idle", 90)

    def kernel_status(self):
        return self.driver.execute_script(KERNEL_STATUS, self.path)

    def cells(self) -> dict:
        return self.driver.execute_script(CELLS, self.path)

    def find(self, css: str) -> list:
        return self.node.find_elements(By.CSS_SELECTOR, css)

    def screenshot(self, what: str) -> Path:
        path = self.shots / f"{self.name}_{what}.png"
        self.driver.save_screenshot(str(path))
        return path

    def run_all(self, timeout: float) -> dict:
        """Run > Run All Cells from the menu bar; the cells' state once every code cell has an
        execution count and the kernel is idle."""
        menu = next(e for e in self.driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
                    if e.text.strip() == "Run")
        menu.click()
        item = wait_for("the Run menu's Run All Cells", lambda: self.driver.find_elements(
            By.CSS_SELECTOR, 'li.lm-Menu-item[data-command="runmenu:run-all"]'), 10, 0.2)
        item[0].click()

        def done():
            state = self.cells()
            ok = (state and state["status"] == "idle" and state["cells"]
                  and all(c["count"] for c in state["cells"]))
            return state if ok else None

        try:
            return wait_for(f"{self.path}: Run All to finish (every code cell numbered, kernel "
                            "idle)", done, timeout, 1.0)
        except BaseException:
            self.screenshot("timeout")
            raise

    def assert_no_errors(self, state: dict) -> None:
        """No cell holds an error output (the model), and no stderr output on the page shows a
        traceback (warnings may be there)."""
        errors = [(i, c["source"][:80]) for i, c in enumerate(state["cells"])
                  if any(o["type"] == "error" for o in c["outputs"])]
        assert not errors, f"{self.path}: cells with an exception: {errors}"
        stderr = self.find('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
        bad = [t[-600:] for t in (e.get_attribute("textContent") for e in stderr)
               if TRACEBACK.search(t)]
        assert not bad, f"{self.path}: a traceback on the page:\n" + "\n---\n".join(bad)
        assert "Error displaying widget" not in self.node.get_attribute("textContent"), \
            f"{self.path}: a widget failed to render"

    def assert_widgets_live(self, state: dict) -> int:
        """Every widget view the kernel displayed is a rendered widget on the page (an output
        holding a ``.jupyter-widgets`` view, not the text fallback); returns their number."""
        views = sum("application/vnd.jupyter.widget-view+json" in o["mime"]
                    for c in state["cells"] for o in c["outputs"])
        live = self.find(".jp-OutputArea-output > .jupyter-widgets")
        assert len(live) == views, f"{self.path}: {views} widget views, {len(live)} rendered"
        return views

    def cell_with(self, marker: str):
        cells = [c for c in self.find(".jp-CodeCell") if marker in c.find_element(
            By.CSS_SELECTOR, ".jp-InputArea").get_attribute("textContent")]
        assert len(cells) == 1, f"{len(cells)} code cells hold {marker!r}"
        return cells[0]

    def move_slider(self, cell, label: str) -> None:
        """Arrow keys on the handle of the slider ``label`` of ``cell``'s widget: its value
        changes and the figure below (a PNG output the explorer replaces) is redrawn."""
        slider = next(s for s in cell.find_elements(By.CSS_SELECTOR, ".widget-slider")
                      if s.find_element(By.CSS_SELECTOR, ".widget-label").text.strip() == label)
        readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
        self.screenshot(f"{label}_before")
        before_value, before_src = readout.text, _figure_src(cell)
        before_pixels = _figure_pixels(self.driver, cell)
        handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
        handle.click()
        for _ in range(3):
            handle.send_keys(Keys.ARROW_RIGHT)
        wait_for(f"the {label} slider's figure to change",
                 lambda: _figure_src(cell) != before_src, 60)
        wait_for("the kernel to be idle after the slider's updates",
                 lambda: self.kernel_status() == "idle", 60)
        assert readout.text != before_value, (label, before_value, readout.text)
        wait_for("the new figure to be decoded", lambda: _figure(cell).get_attribute(
            "naturalWidth") not in (None, "0"), 10, 0.2)
        assert _figure_pixels(self.driver, cell) != before_pixels, f"{label}: the same picture"
        self.screenshot(f"{label}_moved")


# the explorer's figure: an ipywidgets Image in the widget's view (or, from an explorer that
# displays a plain PNG output below its controls, that output's image)
FIGURE = (".jupyter-widgets img.widget-image, "
          '.jp-OutputArea-output[data-mime-type="image/png"] img')


def _figure(cell):
    imgs = cell.find_elements(By.CSS_SELECTOR, FIGURE)
    assert len(imgs) == 1, f"{len(imgs)} figures in the explorer's output"
    return imgs[0]


def _figure_src(cell) -> str:
    return _figure(cell).get_attribute("src")


def _figure_pixels(driver, cell) -> str:
    """The figure as the browser decoded it: a PNG data URL of its pixels (drawn on a
    canvas), so two pictures compare by content, not by URL."""
    return driver.execute_script("""
        const img = arguments[0];
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        c.getContext('2d').drawImage(img, 0, 0);
        return c.toDataURL('image/png');""", _figure(cell))


@pytest.mark.parametrize("name", LAB_NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(name, run_dir, lab, driver):
    """Run All in JupyterLab, in quick mode on the prepared run folder: every cell runs, none
    raises, every widget renders live; notebook 05's sliders redraw their figures."""
    nb = json.loads((NB_DIR / f"{name}.ipynb").read_text())
    path = lab.root / f"{name}.ipynb"
    path.write_text(json.dumps(with_parameters(nb, {"quick": True, "run_dir": str(run_dir)})))
    try:
        page = LabNotebook(driver, lab, path.name, run_dir / "screenshots")
        state = page.run_all(RUN_ALL_TIMEOUT)
        page.screenshot("run_all")
        page.assert_no_errors(state)
        views = page.assert_widgets_live(state)
        if name == "05_explain":  # the KD explorer (sample, T, alpha), the viewer (sample)
            assert views == 2 and len(page.find(".widget-slider")) == 4
        for marker, label in SLIDERS.get(name, []):
            page.move_slider(page.cell_with(marker), label)
        page.assert_no_errors(page.cells())  # the widgets' callbacks raised nothing
    finally:
        lab.shutdown_kernels()


def test_book_pages_load_with_their_figures(run_dir, driver):
    """``make book``'s builder on the quick run folder; every page opens from a file:// URL and
    every image on it has pixels."""
    from mindkit.book import build_book, executed_notebooks

    index = build_book(run_dir, run_dir / "book")
    pages = sorted(index.parent.glob("*.html"))
    names = [nb.name for nb in executed_notebooks(run_dir)]
    assert {f"{n}.html" for n in names} | {"index.html"} <= {p.name for p in pages}
    for page in pages:
        driver.get(page.as_uri())
        wait_for(f"{page.name} to load", lambda: driver.execute_script(
            "return document.readyState") == "complete", 30, 0.2)
        assert "mindkit" in driver.title, page.name
        sizes = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
            " i.naturalWidth]);")
        broken = [s for s in sizes if not (s[1] and s[2] > 0)]
        assert not broken, f"{page.name}: images without pixels: {broken}"
        if page.stem in names:  # every prepared notebook draws figures
            assert sizes, f"{page.name}: no figure"
            source = (run_dir / "notebooks" / f"{page.stem}.ipynb").read_text()
            if "<details" in source:  # the collapsed answers stay collapsible
                assert driver.find_elements(By.CSS_SELECTOR, "details > summary"), page.name
            if "$$" in source:  # equations are marked up for MathJax
                assert driver.find_elements(By.CSS_SELECTOR, "div.math"), page.name
    driver.get(index.as_uri())
    links = [a.get_attribute("href").rsplit("/", 1)[-1] for a in driver.find_elements(
        By.CSS_SELECTOR, "table a.reference.internal")]
    assert links == [f"{n}.html" for n in names]  # the reading order
    assert "min" in driver.find_element(By.TAG_NAME, "table").text  # the time budget
    driver.save_screenshot(str(run_dir / "screenshots" / "book_index.png"))
