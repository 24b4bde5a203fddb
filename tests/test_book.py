"""The book of a run folder (mindkit.book, ``make book``): the landing page's facts from the
README, the refusals, and a small build that keeps equations, ``<details>`` and figures.
tests/test_browser.py opens a built book in a browser."""

import base64
import io
import json
from pathlib import Path

import pytest

from mindkit.book import (
    README,
    BookError,
    ExecutedNotebook,
    build_book,
    executed_notebooks,
    landing_page,
    main,
    minutes,
    readme_tables,
    summary,
)
from mindkit.cli import NOTEBOOKS

SMALL_README = """\
# x

| notebook | what it does | writes to `run_dir` |
|---|---|---|
| `00_a` | the first; more after the semicolon | `a.png` |
| `01_b` | pipes in code `ls|rm` stay in one cell | - |

| notebook | default parameters | quick (`--quick`) | other |
|---|---|---|---|
| `00_a` | 0.50 min | 0.10 min | |
| `01_b` | 1.25-1.35 min | 0.20 min | |
| **demo (00-01)**, `make demo` | **1.75 min** | 0.30 min | |

| other | table |
|---|---|
| `00_a` | ignored |
"""


def test_readme_tables_read_descriptions_times_and_totals():
    t = readme_tables(SMALL_README)
    assert set(t.notebooks) == {"00_a", "01_b"}
    assert t.notebooks["00_a"].what == "the first; more after the semicolon"
    assert t.notebooks["01_b"].what == "pipes in code `ls|rm` stay in one cell"
    assert (t.notebooks["01_b"].default_time, t.notebooks["01_b"].quick_time) == (
        "1.25-1.35 min", "0.20 min")
    assert t.totals == [("demo (00-01), `make demo`", "1.75 min", "0.30 min")]


def test_the_readme_gives_every_notebook_a_description_and_a_budget():
    t = readme_tables(README.read_text())
    for name in NOTEBOOKS:
        info = t.notebooks[name]
        assert info.what, name
        assert minutes(info.default_time) and minutes(info.quick_time), (name, info)
    assert any(label.startswith("series") for label, _, _ in t.totals), t.totals


def test_summary_cuts_at_a_top_level_semicolon_or_a_word():
    assert summary("a (b; c); d") == "a (b; c)"
    assert summary("`x;y` z") == "`x;y` z"
    long = "word " * 100
    cut = summary(long, limit=30)
    assert cut.endswith(" …") and len(cut) <= 32
    assert summary("aaa `code span that is long` b", limit=12).count("`") % 2 == 0
    assert minutes("0.64 min") == (0.64, 0.64) and minutes("0.58-0.68 min") == (0.58, 0.68)
    assert minutes("-") is None and minutes("") is None and minutes("1.56 min (before)") is None


def _nb(tmp: Path, name: str, title: str, duration=None, quick=None) -> ExecutedNotebook:
    params = {} if quick is None else {"quick": quick}
    return ExecutedNotebook(tmp / f"{name}.ipynb", title, duration, params)


def test_landing_page_lists_the_notebooks_in_order_with_their_times(tmp_path):
    nbs = [_nb(tmp_path, "00_a", "00 · A", 30.0, True), _nb(tmp_path, "01_b", "01 · B", 60.0, True),
           _nb(tmp_path, "01c_new", "01c · [new]", 6.0, True)]
    page = landing_page(nbs, readme_tables(SMALL_README), "runs/x")
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| # | notebook")
    assert [r.split("|")[1].strip() for r in rows[1:4]] == ["1", "2", "3"]
    m = "\u00a0min"
    assert f"[00 · A](00_a.ipynb) | the first | 0.50{m} | 0.10{m} | 0.50{m} |" in rows[1]
    assert "`ls\\|rm`" in rows[2]  # a pipe inside a cell is escaped
    # a notebook the README does not describe yet: dashes, and no budget total
    assert "[01c · \\[new\\]](01c_new.ipynb) |  | - | - | 0.10\u00a0min |" in rows[3]
    assert rows[4] == "| | **all 3** | | - | - | **1.60\u00a0min** |"
    assert "quick mode" in page and "`runs/x`" in page
    assert "* demo (00-01), `make demo`: 1.75 min at default parameters, 0.30 min in quick mode" \
        in page
    toc = page.split("```{toctree}")[1]
    assert toc.split(":maxdepth: 1")[1].split()[:3] == ["00_a", "01_b", "01c_new"]


def test_landing_page_sums_the_budgets_when_the_readme_has_them(tmp_path):
    nbs = [_nb(tmp_path, "00_a", "A"), _nb(tmp_path, "01_b", "B")]
    page = landing_page(nbs, readme_tables(SMALL_README))
    assert "| | **all 2** | | **1.75\u20111.85\u00a0min** | **0.30\u00a0min** | - |" in page
    assert "quick mode (" not in page  # without papermill parameters it claims no mode


def test_no_executed_notebooks_says_run_make_demo_first(tmp_path, capsys):
    with pytest.raises(BookError, match="run `make demo` first"):
        build_book(tmp_path / "run")
    (tmp_path / "run" / "notebooks").mkdir(parents=True)
    with pytest.raises(BookError, match="run `make demo` first"):
        executed_notebooks(tmp_path / "run")
    assert main(["--run-dir", str(tmp_path / "run")]) == 2
    assert "run `make demo` first" in capsys.readouterr().err
    assert not (tmp_path / "run" / "book").exists()


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _executed_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 00 · A tiny page\n\nInline $p_T = \\mathrm{softmax}(z/T)$ and\n\n"
            "$$\\mathcal{L} = (1 - \\alpha)\\,\\mathcal{L}_{task} + \\alpha T^2 \\mathrm{KL}$$\n\n"
            "<details><summary>Why T squared?</summary>\n\nThe **gradients** scale with "
            "$1/T^2$.\n\n</details>\n"),
        nbformat.v4.new_code_cell("plt.show()", execution_count=1, outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": _png(),
                                                         "text/plain": "<Figure>"})]),
        # an explorer: a widget view that also carries its figure as a PNG
        nbformat.v4.new_code_cell("kd.show()", execution_count=2, outputs=[
            nbformat.v4.new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc",
                                                             "version_major": 2,
                                                             "version_minor": 0},
                "image/png": _png(), "text/plain": "KDExplorer"})]),
    ]
    nb.metadata["papermill"] = {"duration": 12.0, "parameters": {"quick": True}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.slow
def test_book_keeps_equations_details_and_figures(tmp_path, capsys):
    pytest.importorskip("myst_nb", reason="the book extra (sphinx, myst-nb) is not installed")
    run = tmp_path / "run"
    _executed_notebook(run / "notebooks" / "00_data_tour.ipynb")
    before = (run / "notebooks" / "00_data_tour.ipynb").read_bytes()
    book = run / "book"
    book.mkdir()  # an earlier book is replaced
    (book / ".buildinfo").write_text("")
    (book / "stale.html").write_text("")
    assert main(["--run-dir", str(run), "--readme", str(README)]) == 0
    assert "00_data_tour.html" in capsys.readouterr().out
    assert not (book / "stale.html").exists()
    index = (book / "index.html").read_text()
    assert 'href="00_data_tour.html"' in index and "0.15\u00a0min" in index  # README's budget
    page = (book / "00_data_tour.html").read_text()
    assert "<details><summary>Why T squared?</summary>" in page and "</details>" in page
    assert "<strong>gradients</strong>" in page  # markdown inside <details> is rendered
    assert page.count('class="math notranslate nohighlight"') >= 3 and "mathjax" in page.lower()
    images = [p for p in (book / "_images").iterdir() if p.suffix == ".png"]
    assert len(images) == 1 and page.count(f'src="_images/{images[0].name}"') == 2
    # the explorer shows its PNG; no widget scripts are loaded
    assert "widget-view+json" not in page and "require.js" not in page
    assert (run / "notebooks" / "00_data_tour.ipynb").read_bytes() == before  # not re-executed
    # a folder that is not a book is refused
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(BookError, match="not a book"):
        build_book(run, foreign)
    assert (foreign / "keep.txt").exists()
    assert json.loads(before)["metadata"]["papermill"]["duration"] == 12.0
