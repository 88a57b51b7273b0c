"""The test harness itself can fail: a broken notebook cell, a changed checked output, a missing
dependency and a failing unit test each make the test command fail; GPU cells are skipped on CPU.

One nested pytest run, with this repository's configuration and conftest, over a folder of small
notebooks and tests made to pass or fail; its JUnit report says how each one ended.
"""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import torch
from notebook_checks import KERNELSPEC

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *cells: str, tags: tuple[str, ...] = ()) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.cells[-1].metadata["tags"] = list(tags)
    for i, cell in enumerate(nb.cells, 1):
        cell.execution_count = i
    nbformat.write(nb, path)


def _checked(path: Path, source: str, committed: str) -> None:
    """A one-cell notebook, tagged nbval-check-output, whose committed output is ``committed``."""
    _notebook(path, source, tags=("nbval-check-output",))
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
    nbformat.write(nb, path)


def _write_cases(folder: Path) -> None:
    _notebook(folder / "good.ipynb", "x = 1 + 1", "print(x)")
    _notebook(folder / "broken_cell.ipynb", "x = 1", "raise RuntimeError('broken')")
    _notebook(folder / "missing_dependency.ipynb", "import hyperlib_no_such_package")
    _notebook(folder / "gpu_cell.ipynb", "x = 1", "raise RuntimeError('needs cuda')", tags=("gpu",))
    # an address differs on every run; the sanitize file makes the two compare equal
    _checked(folder / "checked_same.ipynb", "print(object())", "<object object at 0x7f3a2c>\n")
    _checked(folder / "checked_changed.ipynb", "print(41)", "42\n")
    (folder / "test_units.py").write_text(
        "def test_passes():\n    assert 1 + 1 == 2\n\n"
        "def test_fails():\n    assert 1 + 1 == 3\n"
    )
    (folder / "conftest.py").write_text((ROOT / "conftest.py").read_text())


def _outcomes(report: Path) -> dict[str, str]:
    """notebook name (or unit test name) -> the worst outcome among its items."""
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        outcome = {"failure": "failed", "error": "failed"}.get(kind, kind)
        classname = case.get("classname", "")
        key = classname.removesuffix(".ipynb") if classname.endswith(".ipynb") else case.get("name")
        if rank[outcome] >= rank.get(outcomes.get(key, "passed"), 0):
            outcomes[key] = outcome
    return outcomes


def test_harness_fails_on_each_kind_of_breakage(tmp_path):
    _write_cases(tmp_path)
    report = tmp_path / "report.xml"
    config = ROOT / "pyproject.toml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", config, tmp_path, "-q", f"--junitxml={report}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    outcomes = _outcomes(report)
    assert outcomes == {
        "good": "passed",
        "broken_cell": "failed",
        "missing_dependency": "failed",
        "gpu_cell": "failed" if torch.cuda.is_available() else "skipped",
        "checked_same": "passed",
        "checked_changed": "failed",
        "test_passes": "passed",
        "test_fails": "failed",
    }, run.stdout
