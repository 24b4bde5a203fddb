"""A static HTML book of a run folder's executed notebooks (``make book``).

    python -m mindkit.book --run-dir runs/demo [--out runs/demo/book] [--readme README.md]

The book is built by Sphinx with MyST-NB (the ``book`` extra) from ``<run_dir>/notebooks/*.ipynb``,
the notebooks as ``mindkit run`` executed them: nothing is executed again
(``nb_execution_mode = "off"``), so the pages show the run's own outputs, figures included.
Markdown cells keep their equations (MathJax, which Sphinx loads from its CDN: the equations
are typeset when the page is viewed online, shown as TeX otherwise) and raw HTML (``<details>``
blocks). An explorer's output (a widget view that also carries a PNG) shows its picture.

The landing page (:func:`landing_page`) lists the notebooks in reading order (their names sort
in the series' order) with what each does and its time budget, both read from the README's
notebook tables (:func:`readme_tables`), and the time each took in this run (papermill's
record in the executed notebook).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
"""The repository's README (absent from an installed, non-editable copy: the landing page then
has no descriptions or budgets)."""

SUMMARY_CHARS = 220  # a description longer than this is cut at a word


class BookError(RuntimeError):
    """The book cannot be built (no executed notebooks, a folder that is not a book, a failed
    Sphinx build); the message says what to do."""


@dataclass
class NotebookInfo:
    """What the README says about one notebook (empty strings where it says nothing)."""

    what: str = ""
    default_time: str = ""
    quick_time: str = ""


@dataclass
class ReadmeTables:
    """The README's notebook tables: per notebook name, its row's facts; and the summary rows
    of the time table (``**demo (00-02)**``, ``**series (00-08)**``) as (label, default, quick)."""

    notebooks: dict[str, NotebookInfo]
    totals: list[tuple[str, str, str]]


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (``|`` inside backticks does not split a cell)."""
    cells, cur, code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    cells.append(cur.strip())
    return cells


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text``: its rows (header first, the ``|---|`` line dropped)."""
    tables, rows = [], []
    for line in text.splitlines() + [""]:
        if line.lstrip().startswith("|"):
            if not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", line.strip()):
                rows.append(_cells(line))
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def _column(header: list[str], *words: str) -> int | None:
    for i, h in enumerate(header):
        if any(w in h.lower() for w in words):
            return i
    return None


def readme_tables(text: str) -> ReadmeTables:
    """The README's tables whose first column is ``notebook``: the description (column ``what
    it does``) and the times at default parameters and in quick mode (columns ``default ...``
    and ``quick ...``) of each notebook named in backticks; rows whose first cell is not one
    backticked name are the time table's summaries."""
    info: dict[str, NotebookInfo] = {}
    totals: list[tuple[str, str, str]] = []
    for header, *rows in _tables(text):
        if not header or header[0].strip().lower() != "notebook":
            continue
        what = _column(header, "what it does")
        default = _column(header, "default")
        quick = _column(header, "quick")

        def cell(row: list[str], i: int | None) -> str:
            return row[i] if i is not None and i < len(row) else ""

        for row in rows:
            name = re.fullmatch(r"`([^`]+)`", row[0].strip())
            if name is None:
                if default is not None:
                    totals.append((row[0].replace("**", "").strip(),
                                   cell(row, default).replace("**", "").strip(),
                                   cell(row, quick).replace("**", "").strip()))
                continue
            entry = info.setdefault(name.group(1), NotebookInfo())
            entry.what = entry.what or cell(row, what)
            entry.default_time = entry.default_time or cell(row, default)
            entry.quick_time = entry.quick_time or cell(row, quick)
    return ReadmeTables(info, totals)


def summary(what: str, limit: int = SUMMARY_CHARS) -> str:
    """The first part of a README description: up to its first ``;`` outside parentheses, cut
    at a word (with an ellipsis) when still longer than ``limit`` characters."""
    depth, code = 0, False
    for i, ch in enumerate(what):
        code = not code if ch == "`" else code
        depth += (ch == "(") - (ch == ")") if not code else 0
        if ch == ";" and depth == 0 and not code:
            what = what[:i]
            break
    what = what.strip()
    if len(what) <= limit:
        return what
    cut = what[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    if cut.count("`") % 2:  # never leave a code span open
        cut = cut[:cut.rfind("`")].rstrip()
    return cut + " …"


def minutes(text: str) -> tuple[float, float] | None:
    """A README time in minutes as (low, high): ``"0.64 min"`` -> (0.64, 0.64), a measured
    range ``"0.58-0.68 min"`` -> (0.58, 0.68); ``None`` for anything else."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)(?:\s*[-\u2013]\s*([0-9]+(?:\.[0-9]+)?))?"
                     r"\s*min\s*", text or "")
    if m is None:
        return None
    low = float(m.group(1))
    return low, float(m.group(2)) if m.group(2) else low


@dataclass
class ExecutedNotebook:
    """One executed notebook of the run: its file, title (first markdown heading), papermill's
    duration in seconds and the parameters it ran with (``None``/``{}`` without papermill)."""

    path: Path
    title: str
    duration: float | None
    parameters: dict

    @property
    def name(self) -> str:
        return self.path.stem


def executed_notebooks(run_dir: Path) -> list[ExecutedNotebook]:
    """``<run_dir>/notebooks/*.ipynb`` in reading order (by name: 00, 01, 01b, 02, ...).

    Raises :class:`BookError` when there is none."""
    folder = Path(run_dir) / "notebooks"
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise BookError(f"no executed notebooks in {folder}: run `make demo` first (or "
                        f"`python -m mindkit.cli run --run-dir {run_dir}`), then build the book")
    out = []
    for path in paths:
        nb = json.loads(path.read_text())
        title = path.stem
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "markdown":
                continue
            src = "".join(cell.get("source", []))
            heading = re.search(r"^#\s+(.+?)\s*$", src, flags=re.M)
            if heading:
                title = heading.group(1)
                break
        pm = nb.get("metadata", {}).get("papermill", {})
        out.append(ExecutedNotebook(path, title, pm.get("duration"), pm.get("parameters") or {}))
    return out


def _fmt_minutes(low: float, high: float | None = None) -> str:
    high = low if high is None else high
    if round(low, 2) == round(high, 2):
        return f"{low:.2f} min"
    return f"{low:.2f}-{high:.2f} min"


def _cell_time(text: str) -> str:
    """A time for a table cell: ``-`` when empty, never broken between number and unit."""
    return text.replace(" min", "\u00a0min").replace("-", "\u2011") if text else "-"


def landing_page(notebooks: list[ExecutedNotebook], tables: ReadmeTables,
                 run_label: str = "") -> str:
    """The book's ``index.md``: the notebooks in reading order with what each does, its time
    budget at default parameters and in quick mode (the README's measurements) and its time in
    this run; the README's totals; and the hidden table of contents."""
    quick = {bool(nb.parameters.get("quick")) for nb in notebooks if "quick" in nb.parameters}
    mode = {frozenset({True}): " in quick mode (`quick=True`)",
            frozenset({False}): " at default parameters"}.get(frozenset(quick), "")
    where = f" of `{run_label}`" if run_label else ""
    lines = [
        "# mindkit: the executed notebooks",
        "",
        f"The notebooks{where} as `mindkit run` executed them{mode}, with their outputs and "
        "figures; nothing was executed again to make this book. Read them in this order. The "
        "budgets are the README's measurements on 2 CPU cores (a run's own time varies with "
        "the machine and with what earlier notebooks left in the model store).",
        "",
        "| # | notebook | what it does | default parameters | quick | this run |",
        "|---|---|---|---|---|---|",
    ]
    sums = {key: [0.0, 0.0] for key in ("default", "quick", "run")}
    known = dict.fromkeys(sums, True)
    for i, nb in enumerate(notebooks, 1):
        info = tables.notebooks.get(nb.name, NotebookInfo())
        run_time = _fmt_minutes(nb.duration / 60) if nb.duration is not None else ""
        for key, text in (("default", info.default_time), ("quick", info.quick_time),
                          ("run", run_time)):
            value = minutes(text)
            known[key] &= value is not None
            if value is not None:
                sums[key] = [sums[key][0] + value[0], sums[key][1] + value[1]]
        what = summary(info.what).replace("|", "\\|").replace("\n", " ")
        title = nb.title.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
        times = [_cell_time(t) for t in (info.default_time, info.quick_time, run_time)]
        lines.append(f"| {i} | [{title}]({nb.path.name}) | {what} | {' | '.join(times)} |")
    total = [f"**{_cell_time(_fmt_minutes(*sums[k]))}**" if known[k] else "-"
             for k in ("default", "quick", "run")]
    lines.append(f"| | **all {len(notebooks)}** | | {' | '.join(total)} |")
    if tables.totals:
        lines += ["", "The README's totals:", ""]
        for label, default, quick_time in tables.totals:
            lines.append(f"* {label}: {default or '-'} at default parameters, "
                         f"{quick_time or '-'} in quick mode")
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    lines += [nb.name for nb in notebooks]
    lines += ["```", ""]
    return "\n".join(lines)


CONF = '''\
# Written by mindkit.book: the executed notebooks are rendered, never executed again.
project = "mindkit"
author = "mindkit"
extensions = ["myst_nb"]
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_title = "mindkit: the executed notebooks"
html_theme_options = {"page_width": "1320px", "sidebar_width": "240px", "body_max_width": "none"}
html_show_sourcelink = False
html_show_copyright = False
# an output that is both a widget view and a PNG (the kit's explorers) shows the PNG: a static
# page has no kernel to move the sliders, and the picture needs no widget scripts from a CDN
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", 55)]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]
'''


def write_sources(run_dir: Path, src: Path, readme: Path | None = README) -> list[Path]:
    """The book's Sphinx sources in ``src``: ``conf.py``, the landing page ``index.md`` and a
    copy of each executed notebook (without its saved widget state). Returns the copies."""
    notebooks = executed_notebooks(run_dir)
    text = readme.read_text() if readme is not None and Path(readme).is_file() else ""
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text(CONF)
    (src / "index.md").write_text(landing_page(notebooks, readme_tables(text), str(run_dir)))
    copies = []
    for nb in notebooks:
        data = json.loads(nb.path.read_text())
        # without the saved widget state MyST-NB loads no widget scripts (require.js and the
        # widget manager, from a CDN): the pages are static, the explorers show their PNG
        data.get("metadata", {}).pop("widgets", None)
        copies.append(src / nb.path.name)
        copies[-1].write_text(json.dumps(data))
    return copies


def build_book(run_dir: str | Path, out: str | Path | None = None,
               readme: Path | None = README, quiet: bool = True) -> Path:
    """Build the HTML book of ``run_dir``'s executed notebooks into ``out`` (default
    ``<run_dir>/book``) and return its ``index.html``.

    ``out`` is replaced when it holds an earlier book (a Sphinx ``.buildinfo``) and refused
    when it holds anything else. Raises :class:`BookError` with what to do."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "book"
    notebooks = executed_notebooks(run_dir)  # fails first, before touching out
    if out.exists():
        if (out / ".buildinfo").exists():
            shutil.rmtree(out)
        elif any(out.iterdir()):
            raise BookError(f"{out} exists and is not a book built by mindkit (no .buildinfo): "
                            f"choose another BOOK_DIR or remove it")
    with tempfile.TemporaryDirectory(prefix="mindkit-book-") as tmp:
        src = Path(tmp) / "src"
        write_sources(run_dir, src, readme)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "--keep-going",
               "-d", str(Path(tmp) / "doctrees"), str(src), str(out)]
        if quiet:
            cmd.insert(3, "-q")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BookError(f"sphinx failed (exit {proc.returncode}) building the book of "
                            f"{run_dir}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    index = out / "index.html"
    missing = [nb.name for nb in notebooks if not (out / f"{nb.name}.html").exists()]
    if not index.exists() or missing:
        raise BookError(f"sphinx wrote no page for {missing or ['index']} in {out}")
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mindkit.book", description=__doc__.split("\n")[0])
    p.add_argument("--run-dir", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--out", default=None, help="book folder (default RUN_DIR/book)")
    p.add_argument("--readme", default=str(README),
                   help="README whose notebook tables give descriptions and time budgets")
    args = p.parse_args(argv)
    try:
        import myst_nb  # noqa: F401
    except ImportError:
        print("mindkit: the book needs Sphinx and MyST-NB: pip install -e '.[book]'",
              file=sys.stderr)
        return 2
    try:
        index = build_book(args.run_dir, args.out, Path(args.readme), quiet=True)
    except BookError as e:
        print(f"mindkit: {e}", file=sys.stderr)
        return 2
    pages = sorted(p.name for p in index.parent.glob("*.html"))
    print(f"[mindkit] book: {index} ({len(pages)} pages: {', '.join(pages)})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
