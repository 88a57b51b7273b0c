"""Benchmark: one training step of a sparse layer against a dense ``nn.Linear`` (identity task).

    python -m hyperlib.bench [--device cpu|cuda] [--sizes 64 256 ...] [--threads N] [--json PATH]

For each size n, a :class:`~hyperlib.layers.SparseLayer` with k = n tuples (g = l = 4,
region 4, learned values) and a dense ``nn.Linear(n, n)`` each take training steps on the
identity task (batch 64, MSE(y, x), Adam): forward + backward + optimizer step.

Method. Every (model, n) runs in a fresh subprocess, so that one measurement cannot inherit
another's memory. Time: the median of timed steps after warm-up steps (on CUDA each step is
synchronised). Peak memory: on CPU the process's peak resident set size (``getrusage``
``ru_maxrss``) minus the peak reached before building the model (after importing torch and
taking two steps at n = 16, which loads the libraries that are loaded lazily), i.e. what the
model of size n, its input batch and its steps added; the whole process's peak is stored
too (``peak_rss_bytes``). On CUDA ``torch.cuda.max_memory_allocated``. The dense model is
skipped when its parameters, gradients and Adam state (4 n^2 numbers) would take more than
half the device's memory, or when one step would take minutes (on CPU, more than
``DENSE_CPU_FLOPS`` = 6 b n^2 floating-point operations: forward, two backward products).
Other work on the machine distorts every figure (the load average is printed): a thread
pool waiting for a descheduled thread can make a 1 ms step take 100 ms; ``--threads 1``
is far less sensitive to it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from tqdm import tqdm

import hyperlib
from hyperlib.experiments.results import check_device, device_name
from hyperlib.layers import SparseLayer

SIZES = (64, 256, 1024, 4096, 16384, 65536)
DENSE_CPU_FLOPS = 2e11  # about a minute of warm-up and timed steps on two cores
CONFIG = {"batch": 64, "g": 4, "l": 4, "region": 4, "lr": 0.005, "sigma_scale": 0.1}


def _model(kind: str, n: int) -> nn.Module:
    if kind == "dense":
        return nn.Linear(n, n)
    cfg = CONFIG
    return SparseLayer(
        n, n, n, g=cfg["g"], l=cfg["l"], region=cfg["region"], sigma_scale=cfg["sigma_scale"]
    )


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(kind: str, n: int, device: str, warmup: int, steps: int, budget_s: float) -> dict:
    """Time one training step of model ``kind`` at size n; run in a fresh process."""
    device = torch.device(device)
    torch.manual_seed(0)
    warm = _trainer(kind, 16, device)
    warm()
    warm()  # load lazily initialised libraries before the baseline
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    baseline = _peak_bytes(device)
    step = _trainer(kind, n, device)
    times: list[float] = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if sum(times) > budget_s and len(times) >= 3:
                break
    peak = _peak_bytes(device)
    result = {"step_s": statistics.median(times), "steps": len(times)}
    if device.type == "cuda":
        return {**result, "peak_bytes": peak}
    return {**result, "peak_bytes": peak - baseline, "peak_rss_bytes": peak}


def _trainer(kind: str, n: int, device: torch.device):
    """One training step of the identity task for model ``kind`` at size n, as a closure."""
    x = torch.randn(CONFIG["batch"], n, device=device)  # (b, n)
    model = _model(kind, n).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])

    def step() -> None:
        loss = (model(x) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def _memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _in_subprocess(kind: str, n: int, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "hyperlib.bench", "--worker", kind, str(n),
               "--device", args.device, "--warmup", str(args.warmup), "--steps", str(args.steps),
               "--budget", str(args.budget), "--threads", str(torch.get_num_threads())]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return {"skipped": f"failed: {run.stderr.strip().splitlines()[-1:]}"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> list[dict]:
    """Measure every size; the dense model only where its state fits in half the memory."""
    rows, limit = [], _memory_bytes(args.device) // 2
    jobs = [(n, kind) for n in args.sizes for kind in ("sparse", "dense")]
    results: dict[tuple[int, str], dict] = {}
    for n, kind in tqdm(jobs, desc=f"bench on {args.device}", unit="run"):
        flops = 6 * CONFIG["batch"] * n * n
        if kind == "dense" and 4 * n * n * 4 > limit:
            results[n, kind] = {"skipped": f"needs > {4 * n * n * 4 / 2**30:.0f} GiB"}
        elif kind == "dense" and args.device == "cpu" and flops > DENSE_CPU_FLOPS:
            results[n, kind] = {"skipped": f"too slow: {flops:.0e} flop per step"}
        else:
            results[n, kind] = _in_subprocess(kind, n, args)
    for n in args.sizes:
        sparse, dense = results[n, "sparse"], results[n, "dense"]
        row = {"n": n, "sparse": sparse, "dense": dense}
        if "step_s" in sparse and "step_s" in dense:
            row["time_ratio"] = sparse["step_s"] / dense["step_s"]
            # below a MiB an RSS difference is page-level noise: no ratio
            if dense["peak_bytes"] >= 2**20:
                row["memory_ratio"] = sparse["peak_bytes"] / dense["peak_bytes"]
        rows.append(row)
    return rows


def _fmt(result: dict) -> tuple[str, str]:
    if "step_s" not in result:
        return "skipped", result["skipped"]
    return f"{result['step_s'] * 1e3:10.2f}", f"{result['peak_bytes'] / 2**20:10.1f}"


def table(rows: list[dict]) -> str:
    """The results as a fixed-width text table (times in ms, memory in MiB)."""
    head = (f"{'n':>6} | {'sparse ms':>10} {'sparse MiB':>10} | {'dense ms':>10} "
            f"{'dense MiB':>10} | {'time ratio':>10} {'mem ratio':>9}")
    lines = [head, "-" * len(head)]
    for row in rows:
        (st, sm), (dt, dm) = _fmt(row["sparse"]), _fmt(row["dense"])
        time_ratio = f"{row['time_ratio']:10.3f}" if "time_ratio" in row else f"{'-':>10}"
        mem_ratio = f"{row['memory_ratio']:9.3f}" if "memory_ratio" in row else f"{'-':>9}"
        ratio = f"{time_ratio} {mem_ratio}"
        if dt == "skipped":
            lines.append(f"{row['n']:>6} | {st:>10} {sm:>10} | dense skipped ({dm}) | {ratio}")
        else:
            lines.append(f"{row['n']:>6} | {st:>10} {sm:>10} | {dt:>10} {dm:>10} | {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=20, help="timed steps at most")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed steps")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        kind, n = args.worker
        print(json.dumps(measure(kind, int(n), args.device, args.warmup, args.steps, args.budget)))
        return
    check_device(parser, args.device)
    load = os.getloadavg()[0]  # other work on the machine slows every figure down
    rows = run(args)
    name = device_name(args.device)
    print(f"device {args.device} ({name}, {torch.get_num_threads()} threads, load {load:.1f})"
          f", torch {torch.__version__}, hyperlib {hyperlib.__version__}")
    memory = "CUDA allocated" if args.device.startswith("cuda") else "RSS above baseline"
    print(f"identity task, k = n, {CONFIG}; median step time, peak memory ({memory})")
    print(table(rows))
    for row in rows:
        if "peak_rss_bytes" in row["sparse"]:
            print(f"n = {row['n']}: whole sparse process peak RSS "
                  f"{row['sparse']['peak_rss_bytes'] / 2**20:.0f} MiB")
    if args.json:
        meta = {"config": CONFIG, "device": args.device, "device_name": name,
                "threads": torch.get_num_threads(), "load_average": load,
                "torch": torch.__version__, "hyperlib": hyperlib.__version__,
                "method": __doc__.split("Method. ")[1]}
        with open(args.json, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
