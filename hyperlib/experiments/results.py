"""Results files: what every experiment stores beside its numbers.

A results file is JSON: ``{"experiment", "scale", "protocol", "machine", "complete", "runs":
[...]}``, where ``machine`` says where and with what it ran (device and its name, threads, library
versions, date), ``complete`` whether every run of the command finished, and each run holds its
own configuration, seed, curves, final metrics, wall time, ``status`` ("ok", or "diverged" with
its ``error``) and the time it ``finished``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from pathlib import Path

import torch

import hyperlib


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
    top-level key, so a diff shows which part changed. Atomic: the text goes to a temporary file
    beside ``path`` first, which then replaces it, so an interrupted save leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}"
             for key, value in payload.items()]
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("{\n" + ",\n".join(lines) + "\n}\n")
        os.chmod(temporary, 0o644)  # mkstemp makes it private; results are for everyone to read
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def load(path: str | Path) -> dict:
    """Read a results file written by :func:`save`."""
    return json.loads(Path(path).read_text())


def finished(runs: list[dict]) -> list[dict]:
    """The runs that trained to the end (not diverged); runs stored before ``status`` existed
    all did."""
    return [run for run in runs if run.get("status", "ok") == "ok"]


def combine(records: list[dict], key: tuple[str, ...], same: str) -> dict:
    """One record from several results files (e.g. parts of an experiment run apart, and
    reruns): their runs together, where of runs with the same ``key`` fields (e.g. size, method,
    seed) the one that finished last is kept: by its ``finished`` time, else by its file's date
    (runs stored before ``finished`` existed); on equal dates the later record's. Every record
    must agree on the field ``same`` (e.g. the protocol); ``machine`` comes from the first,
    ``machines`` lists all (a record joined before brings its own list)."""
    if not records:
        raise ValueError("no results to combine")
    values = {record[same] for record in records}
    if len(values) != 1:
        raise ValueError(f"cannot combine results of different {same}s: {sorted(values)}")
    dated = [(run.get("finished", record["machine"].get("date", "")), i, run)
             for i, record in enumerate(records) for run in record["runs"]]
    runs: dict[tuple, dict] = {}
    for _, _, run in sorted(dated, key=lambda item: item[:2]):
        runs[tuple(run[field] for field in key)] = run
    machines = [m for record in records for m in record.get("machines", [record["machine"]])]
    return {**records[0], "runs": list(runs.values()), "machines": machines}


STORED = Path(__file__).resolve().parents[2] / "data" / "results"


def stored(experiment: str) -> Path:
    """The folder of an experiment's stored results in the repository: data/results/<name>
    (the data folder of ``HYPERLIB_DATA`` holds MNIST, not these)."""
    return STORED / experiment


def models(experiment: str) -> Path:
    """The folder of an experiment's stored trained models (``--save-models``, a few hundred kB
    each) in the repository, which notebooks load instead of training: data/models/<name>."""
    return STORED.parent / "models" / experiment
