"""Course settings shared by every notebook: the run scale and an environment check.

Notebooks call :func:`scale` once in their setup cell and size their runs from it:

* ``smoke``     seconds per notebook; what the test command (CI) runs,
* ``classroom`` minutes on a laptop CPU; the default,
* ``paper``     the full protocol of the paper; a GPU is recommended.
"""

from __future__ import annotations

import importlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

SCALES = ("smoke", "classroom", "paper")
SCALE_VARIABLE = "HYPERLIB_SCALE"


def scale() -> str:
    """The run scale in the environment variable ``HYPERLIB_SCALE`` (default ``classroom``)."""
    value = os.environ.get(SCALE_VARIABLE, "classroom").strip().lower()
    if value not in SCALES:
        raise ValueError(
            f"{SCALE_VARIABLE}={value!r} is not a scale; use one of {', '.join(SCALES)}"
        )
    return value


@dataclass(frozen=True)
class Check:
    """One line of the environment report: what was checked, what was found, how to fix it."""

    name: str
    ok: bool
    found: str
    remedy: str = ""


SETUP_HINT = "run `make lab` (or `python setup_course.py`) from the repository root"


def _package(module: str, remedy: str = SETUP_HINT) -> Check:
    try:
        version = importlib.import_module(module).__version__
    except ImportError as error:
        return Check(module, False, f"missing ({error})", remedy)
    return Check(module, True, version)


def _megabytes(folder: Path) -> int:
    """The size of the files under ``folder``, in MB."""
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6)


def _torch() -> Check:
    """torch's version, build (CPU or CUDA) and size on disk: the CUDA build of a Linux install
    from PyPI brings several GB of NVIDIA libraries, a CPU-only machine has no use for."""
    try:
        import torch
    except ImportError as error:
        return Check("torch", False, f"missing ({error})", SETUP_HINT)
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    size = f"{_megabytes(Path(torch.__file__).parent):,} MB"
    if torch.version.cuda:  # its NVIDIA libraries are packages of their own beside it
        nvidia = Path(torch.__file__).parents[1] / "nvidia"
        size += f" + {_megabytes(nvidia):,} MB of NVIDIA libraries" if nvidia.is_dir() else ""
    return Check("torch", True, f"{torch.__version__} ({build}, {size} on disk)")


def _device() -> Check:
    import torch

    if torch.cuda.is_available():
        return Check("device", True, f"cuda ({torch.cuda.get_device_name(0)})")
    return Check(
        "device",
        True,
        "cpu only",
        "fine for smoke and classroom scale; paper scale wants a CUDA GPU",
    )


def _mnist() -> Check:
    try:
        from hyperlib.data import mnist

        images, _ = mnist("test")
    except (ImportError, OSError, ValueError) as error:  # OSError: e.g. an unreadable folder
        return Check("MNIST", False, "not available", str(error))
    return Check("MNIST", True, f"test split loaded: {tuple(images.shape)}")


def check_environment() -> list[Check]:
    """Versions, device and data: everything the notebooks need, each with a remedy if missing."""
    checks = [Check("python", True, platform.python_version())]
    checks += [_torch(), *(_package(m) for m in ("numpy", "matplotlib", "ipywidgets", "tqdm"))]
    checks.append(_package("hyperlib", "install the library: `pip install -e .` in the repository"))
    checks.append(Check("scale", True, scale()))
    checks += [_device(), _mnist()]
    return checks


def report(checks: list[Check]) -> str:
    """A plain-text table of :func:`check_environment`, one check per line."""
    lines = []
    for check in checks:
        mark = "ok " if check.ok else "MISSING"
        line = f"{mark:8}{check.name:12}{check.found}"
        if check.remedy:
            line += f"\n{'':20}-> {check.remedy}"
        lines.append(line)
    return "\n".join(lines)
