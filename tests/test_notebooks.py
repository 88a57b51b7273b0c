"""Every notebook is committed executed, top to bottom, clean; and these checks can fail."""

from pathlib import Path

import nbformat
import pytest
from notebook_checks import KERNELSPEC, notebook_paths, notebook_problems, numbering_problems

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = notebook_paths(NOTEBOOKS)


def test_there_are_notebooks():
    assert PATHS, f"no notebooks in {NOTEBOOKS}"


def test_numbering_has_no_gaps():
    assert numbering_problems([p.name for p in PATHS]) == []


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_committed_executed_and_clean(path):
    assert notebook_problems(nbformat.read(path, as_version=4)) == []


def _notebook(*cells, counts=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    for i, cell in enumerate(nb.cells):
        cell.execution_count = counts[i] if counts else i + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n")]
    return nb


def test_checks_accept_a_good_notebook():
    assert notebook_problems(_notebook("a = 1", "print(a)")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda nb: nb.metadata["kernelspec"].update(name="other"), "kernelspec"),
        (lambda nb: setattr(nb.cells[1], "execution_count", 5), "top to bottom"),
        (lambda nb: setattr(nb.cells[0], "execution_count", None), "top to bottom"),
        (lambda nb: [setattr(c, "outputs", []) for c in nb.cells], "no outputs"),
        (
            lambda nb: nb.cells[0].outputs.append(
                nbformat.v4.new_output("stream", name="stdout", text="saved to /home/alice/x\n")
            ),
            "private path",
        ),
        (
            lambda nb: nb.cells[1].outputs.append(
                nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[])
            ),
            "error",
        ),
        (lambda nb: setattr(nb.cells[1], "source", "# NBVAL_CHECK_OUTPUT\nprint(a)"), "marker"),
    ],
    ids=["kernel", "order", "unexecuted", "no-outputs", "private-path", "error", "marker"],
)
def test_checks_catch_a_bad_notebook(change, expected):
    nb = _notebook("a = 1", "print(a)")
    change(nb)
    problems = notebook_problems(nb)
    assert any(expected in p for p in problems), problems


def test_numbering_catches_gaps_and_bad_names():
    assert numbering_problems(["00_a.ipynb", "01_b.ipynb"]) == []
    assert numbering_problems(["00_a.ipynb", "02_b.ipynb"])
    assert numbering_problems(["00_a.ipynb", "1_b.ipynb"])
    assert numbering_problems(["01_a.ipynb"])
