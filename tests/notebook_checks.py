"""Hygiene checks for committed notebooks: plain functions, so tests can feed them bad input too."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
# Absolute paths that give away a machine or a user: installs, home and temp folders, Windows.
PRIVATE_PATH = re.compile(
    r"(site-packages/|/home/|/Users/|/root/|/tmp/|/var/folders/|[A-Za-z]:\\\\?Users)"
)
# nbval's comment markers; the notebooks carry them as cell tags (nbval-check-output, ...), which
# student copies drop, so that no learner reads them
MARKER = re.compile(r"^\s*#\s*NBVAL_", re.M)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def numbering_problems(names: list[str]) -> list[str]:
    """Notebook files must be named NN_slug.ipynb and numbered 00, 01, ... without gaps."""
    problems = [f"{n}: not named NN_slug.ipynb" for n in names if not NAME.match(n)]
    numbers = sorted(int(NAME.match(n).group(1)) for n in names if NAME.match(n))
    if numbers != list(range(len(numbers))):
        problems.append(f"numbering has gaps or repeats: {numbers}")
    return problems


def _output_text(output: dict) -> str:
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return "\n".join(output["traceback"])
    return "\n".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text"))


def notebook_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with a notebook as committed: not run top to bottom, errors, private paths,
    test markers in the source."""
    problems = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"not executed top to bottom in one kernel: execution counts {counts}")
    if not any(c.outputs for c in code):
        problems.append("no outputs: commit the notebook executed")
    for i, cell in enumerate(code, 1):
        if MARKER.search(cell.source):
            problems.append(f"code cell {i} holds an nbval marker comment: use its cell tag")
        for output in cell.outputs:
            if output["output_type"] == "error":
                problems.append(f"code cell {i} holds an error: {output['ename']}")
            if match := PRIVATE_PATH.search(_output_text(output)):
                problems.append(f"code cell {i} shows a private path: {match.group(0)!r}")
    return problems


def notebook_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))
