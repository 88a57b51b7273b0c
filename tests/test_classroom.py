"""hyperlib.classroom: student copies without solutions (`make student`) and the static site
(`make site`)."""

import re
from pathlib import Path

import nbformat
import pytest

from hyperlib.classroom import build_site, main, readme_rows, static_widgets, student_copy
from hyperlib.classroom import write_student_copies as write_copies

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISE = re.compile(r"\*\*Exercise \d+")


def _leftovers(nb: nbformat.NotebookNode) -> list[str]:
    """What a student copy must not hold: solutions, outputs, execution counts, widget state, the
    test harness's markers."""
    found = []
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if re.search(r"(?i)<summary>\s*<b>\s*solution", cell.source):
            found.append(f"cell {i}: a solution")
        if "solution" in tags:
            found.append(f"cell {i}: a cell tagged solution")
        if "NBVAL" in cell.source or any(t.startswith("nbval-") for t in tags):
            found.append(f"cell {i}: a test marker")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            found.append(f"cell {i}: outputs or an execution count")
    if "widgets" in nb.metadata:
        found.append("widget state")
    return found


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    out = tmp_path_factory.mktemp("student")
    written = write_copies(ROOT / "notebooks", out)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    return {p.name: nbformat.read(p, as_version=4) for p in written}


def test_the_check_finds_the_solutions_and_markers_in_the_notebooks():
    originals = [nbformat.read(p, as_version=4) for p in NOTEBOOKS]
    found = [f for nb in originals for f in _leftovers(nb)]
    solutions, markers = sum("a solution" in f for f in found), sum("marker" in f for f in found)
    assert solutions >= 20, f"only {solutions} solutions found: has their markup changed?"
    assert markers >= 40, f"only {markers} test markers found: have their tags changed?"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_copy_has_exercises_but_no_solutions_or_outputs(copies, path):
    original, copy = nbformat.read(path, as_version=4), copies[path.name]
    nbformat.validate(copy)
    assert _leftovers(copy) == []
    exercises = [c.source for c in original.cells if EXERCISE.search(c.source)]
    assert exercises == [c.source for c in copy.cells if EXERCISE.search(c.source)]
    code = [c.source for c in original.cells
            if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])]
    assert code == [c.source for c in copy.cells if c.cell_type == "code"]


def test_student_copy_handles_every_form_of_solution():
    nb = nbformat.v4.new_notebook()
    details = "<details><summary><b>Solution: exercise {}</b></summary>\n\nanswer {}\n\n</details>"
    hint = "<details><summary>Hint</summary>look at the shapes</details>"
    nb.cells = [
        nbformat.v4.new_markdown_cell("**Exercise 1.** Why?"),
        nbformat.v4.new_markdown_cell(details.format(1, 1)),
        nbformat.v4.new_markdown_cell(f"**Exercise 2.** How?\n\n{details.format(2, 2)}\n{hint}"),
        nbformat.v4.new_code_cell("print('answer 3')", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["nbval-check-output", "gpu"]}),
    ]
    nb.cells[-2].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    copy = student_copy(nb)
    text = "\n".join(c.source for c in copy.cells)
    assert "answer" not in text and "**Exercise 1.** Why?" in text and hint in text
    assert "**Exercise 2.** How?" in text and len(copy.cells) == 4
    assert copy.cells[-2].outputs == [] and copy.cells[-2].execution_count is None
    assert nb.cells[-2].outputs, "the original notebook must not change"
    assert copy.cells[-1].metadata.tags == ["gpu"], "only the test harness's tags go"


def test_the_site_shows_a_notebook_with_its_widgets_as_figures(tmp_path):
    sampling = ROOT / "notebooks" / "03_sampling.ipynb"
    index, page, reference = build_site([sampling], tmp_path, ROOT / "README.md")
    contents, html = index.read_text(), page.read_text()
    assert '<a href="03_sampling.html">03 · Sampling</a>' in contents
    assert readme_rows((ROOT / "README.md").read_text())["03_sampling"][1] in contents
    assert nbformat.read(sampling, as_version=4).metadata["widgets"], "saved with widget state"
    assert "widget-view+json" not in html
    assert "widget-state+json" not in html  # it would load the widget scripts from the network
    figures = re.findall(r'<figure class="static-widget"><img [^>]*src="data:image/png;', html)
    assert len(figures) == 2, "the two widgets of notebook 03, each as its saved figure"
    assert 'href="04_hyperlayer.html"' in html and ".ipynb" not in html.split("<body")[1]
    assert "NBVAL" not in html and "<title>03 · Sampling — hyperlib</title>" in html
    assert 'src="mathjax/MathJax.js' in html and (tmp_path / "mathjax" / "MathJax.js").is_file()
    assert not re.search(r'src="(https?:)?//', html), "every script from the site folder"
    assert reference.is_file() and 'href="reference/hyperlib.html"' in contents


def test_a_widget_saved_without_state_gets_a_note():
    nb = nbformat.v4.new_notebook()
    view = {"model_id": "missing", "version_major": 2, "version_minor": 0}
    nb.cells = [nbformat.v4.new_code_cell("w", execution_count=1)]
    data = {"application/vnd.jupyter.widget-view+json": view}
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data)]
    shown = static_widgets(nb).cells[0].outputs[0].data
    assert list(shown) == ["text/html"] and "run the notebook" in shown["text/html"]


def test_student_copies_refuse_to_overwrite_the_notebooks(tmp_path, capsys):
    source = tmp_path / "notebooks"
    source.mkdir()
    notebook = source / "01_a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x")]), notebook)
    before = notebook.read_text()
    for out in (source, tmp_path / "notebooks" / ".." / "notebooks"):
        with pytest.raises(SystemExit) as exit_:
            main(["student", "--notebooks", str(source), "--out", str(out)])
        assert exit_.value.code == 2 and "overwrite the notebooks" in capsys.readouterr().err
    assert notebook.read_text() == before


@pytest.mark.parametrize("command", ["student", "site"])
def test_a_folder_without_notebooks_is_a_usage_error(command, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--notebooks", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2 and "no course notebooks" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_total_time_says_whole_hours_without_minutes():
    from hyperlib.classroom import _total_time

    assert _total_time([("a", "240 min"), ("b", "60 min")]) == (
        " In all, about 5 h at classroom scale."
    )
    assert _total_time([("a", "25 min"), ("b", "40 min")]) == (
        " In all, about 1 h 5 min at classroom scale."
    )
    assert _total_time([("a", "25 min")]) == " In all, about 25 min at classroom scale."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_the_readme_gives_each_notebook_the_time_it_states(path):
    title = nbformat.read(path, as_version=4).cells[0].source
    stated = re.search(r"\*\*Time\.\*\* (\d+) minutes", title)
    assert stated, "the title cell states the time: **Time.** N minutes"
    assert readme_rows((ROOT / "README.md").read_text())[path.stem][1] == f"{stated[1]} min"
