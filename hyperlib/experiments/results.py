"""Results files: what every experiment stores beside its numbers.

A results file is JSON: ``{"experiment", "scale", "config", "machine", "runs": [...]}``, where
``machine`` says where and with what it ran (device and its name, threads, library versions,
date) and each run holds its own seed, curves, final metrics and wall time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

import hyperlib
from hyperlib.data import data_root


def device_name(device: torch.device | str) -> str:
    """A human name for the device: the GPU model, or the CPU model from /proc/cpuinfo."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:  # Linux names the CPU model here; platform.processor() is often empty
        with open("/proc/cpuinfo") as f:
            models = (line.split(":", 1)[1] for line in f if line.startswith("model name"))
            return next(models).strip()
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Refuse a command's ``--device cuda...`` on a machine without CUDA, as a usage error."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")


def machine(device: torch.device | str) -> dict:
    """Where a run happened: device, its name, CPU threads, versions and the date."""
    return {
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hyperlib": hyperlib.__version__,
        "date": datetime.date.today().isoformat(),
    }


def save(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as compact JSON to ``path`` (folders made as needed): one line per
    top-level key, so a diff shows which part changed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}"
             for key, value in payload.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    return path


def load(path: str | Path) -> dict:
    """Read a results file written by :func:`save`."""
    return json.loads(Path(path).read_text())


def combine(records: list[dict], key: tuple[str, ...], same: str) -> dict:
    """One record from several results files (e.g. parts of an experiment run apart, and
    reruns): their runs together, where a run of a later file replaces the run of an earlier
    file with the same ``key`` fields (e.g. size, method, seed). Every record must agree on the
    field ``same`` (e.g. the protocol); ``machine`` comes from the first, ``machines`` lists all."""
    if not records:
        raise ValueError("no results to combine")
    values = {record[same] for record in records}
    if len(values) != 1:
        raise ValueError(f"cannot combine results of different {same}s: {sorted(values)}")
    runs = {tuple(r[field] for field in key): r for record in records for r in record["runs"]}
    return {**records[0], "runs": list(runs.values()),
            "machines": [record["machine"] for record in records]}


def stored(experiment: str) -> Path:
    """The folder of an experiment's stored results in the repository: data/results/<name>."""
    return data_root() / "results" / experiment
