"""Benchmark: training steps of sparse hyperlayers against dense layers and ``torch.sparse``.

    python -m hyperlib.bench [--tasks identity adaptive glimpse] [--methods hyperlib dense ...]
        [--device cpu|cuda] [--sizes 64 256 ...] [--threads N] [--before PATH] [--json PATH]

One step is forward + backward + Adam step (lr 0.005) on a batch of 64, loss the mean squared
error to a fixed target. Three tasks, each at every size n:

* ``identity``: the non-adaptive layer of the identity experiment, n units, k = n tuples
  (g = l = 4, region 4, learned values): ``SparseLayer(n, n, n)``, each tuple normalised over
  its own samples; target x. Its normalisation schemes as methods beside it: ``pool`` (every
  tuple over all k tuples' samples, ``chunk=n``: the scheme of the paper's code, O(k^2 m)) and
  ``boxes`` (12 x 12 boxes of side sigma / 2 per tuple, ``grid=12``: linear in k).
* ``adaptive``: a hypernetwork per batch: output unit i gets one tuple whose input position,
  sigma and value are computed from x (x averaged down to 16 numbers, then one linear map
  to 3 n raw numbers), so each instance has its own sparse matrix; target x.
* ``glimpse``: the attention layer (4 glimpses of 3 x 3 points, g = l = 8, its CNN locator)
  on one-channel images of side round(sqrt(n)); target a fixed random glimpse.

Methods: ``hyperlib`` (the library's layer), ``compiled`` (the same under ``torch.compile``),
``coo`` and ``csr`` (the same layer's sampled sparse tensor, multiplied by ``torch.sparse``),
and ``dense``: ``nn.Linear(n, n)`` for identity; for adaptive and glimpse the layer's own
sparse tensor written out densely, (b, outputs, inputs), and multiplied by ``bmm``.

Method. Every (task, method, n) runs in a fresh subprocess, so that one measurement cannot
inherit another's memory. Time: the median of timed steps after warm-up steps (on CUDA each
step is synchronised). Peak memory: what building the model of size n, its batch and its steps
added at most. On CUDA the growth of ``torch.cuda.max_memory_allocated``; on a CPU the growth of
the process's resident set: after importing torch and taking two steps at n = 16 (which loads
what is loaded lazily), Linux's peak (VmHWM) is reset to the current resident set (``clear_refs``)
and read again at the end; where that is not possible, the growth of ``getrusage``'s peak, which
misses memory that the process had already touched before.
Bytes: what the step's product must move at least (:func:`traffic`), divided by the step time,
against the device's memory bandwidth as measured in the same run by copying 256 MiB
(:func:`bandwidth`). A method is skipped when its state would take more than half the
device's memory, or when one step would take minutes (more than ``CPU_FLOPS`` floating-point
operations on a CPU). ``--before PATH`` also measures the library found at PATH (e.g. a git
worktree of an older commit) for the methods that run the library's product, interleaved in
the same run, so that a change is compared under the same machine load. The bandwidth share
is modelled for the entry product only: ``pool`` and ``boxes`` leave it blank. Other work on the
machine distorts every figure (the load average is printed); ``--threads 1`` is far less
sensitive to it than a thread pool.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm  # a widget in notebooks, text in a terminal

import hyperlib
from hyperlib.attention import GlimpseLayer
from hyperlib.experiments import harness, results
from hyperlib.layers import HyperLayer, SparseLayer, output_template
from hyperlib.sampling import linear_index

SIZES = (64, 256, 1024, 4096, 16384, 65536)
TASKS = {
    "identity": ("hyperlib", "pool", "boxes", "compiled", "coo", "csr", "dense"),
    "adaptive": ("hyperlib", "coo", "dense"),
    "glimpse": ("hyperlib", "coo", "dense"),
}
OURS = ("hyperlib", "compiled")  # the methods that run the library's own product
CPU_FLOPS = 2e11  # about a minute of warm-up and timed steps on two cores
SCHEMES = {"pool": lambda n: {"chunk": n}, "boxes": lambda n: {"grid": 12}}  # identity only
CONFIG = {"batch": 64, "g": 4, "l": 4, "region": 4, "lr": 0.005, "sigma_scale": 0.1,
          "glimpses": 4, "glimpse_side": 3, "glimpse_g": 8, "glimpse_l": 8, "summary": 16}


class AdaptiveLayer(HyperLayer):
    """y_i = v_i(x) x[mu_i(x)]: output unit i reads one input position chosen per instance.

    The hypernetwork averages x (b, n) down to ``summary`` numbers and maps them linearly to
    a raw mean, sigma and value for each of the n tuples: cost O(b n summary), not O(b n^2).
    """

    def __init__(self, n: int, summary: int = 16, **kwargs) -> None:
        template = output_template((n,), 1, per_output=1)  # (n, 2): tuple i writes output i
        super().__init__(n, n, n, learn_cols=(1,), template=template, **kwargs)
        self.summary = summary
        self.net = nn.Linear(summary, 3 * n)

    def hyper(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (b, n) -> raw means (b, n, 1), sigmas (b, n), values (b, n)."""
        pooled = F.adaptive_avg_pool1d(x.unsqueeze(1), self.summary).squeeze(1)  # (b, summary)
        means, sigmas, values = self.net(pooled).view(-1, 3, self.k).unbind(1)  # 3 x (b, n)
        return means.unsqueeze(-1), sigmas, values


class TorchSparse(nn.Module):
    """The layer's sampled sparse tensor, multiplied by ``torch.sparse`` (layout coo or csr).

    Shared entries (E,): W (N_out, N_in) times x^T (N_in, b) by ``torch.sparse.mm``.
    Per-instance entries (b, E): W (b, N_out, N_in), COO only, times x (b, N_in, 1) by
    ``torch.bmm`` (whose backward writes W's gradient out densely before masking it).
    """

    def __init__(self, layer: HyperLayer, layout: str) -> None:
        super().__init__()
        if layout not in ("coo", "csr"):
            raise ValueError(f"layout must be coo or csr, got {layout!r}")
        self.layer, self.layout = layer, layout

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        layer, b = self.layer, x.size(0)
        indices, weights = layer.sparse(x, generator)  # (.., E, R), (.., E)
        split = len(layer.out_shape)
        rows = linear_index(indices[..., :split], layer.out_shape)  # (.., E)
        cols = linear_index(indices[..., split:], layer.in_shape)  # (.., E)
        n_out, n_in = math.prod(layer.out_shape), math.prod(layer.in_shape)
        x = x.reshape(b, n_in)
        if indices.dim() == 2:
            w = torch.sparse_coo_tensor(torch.stack([rows, cols]), weights, (n_out, n_in))
            if self.layout == "csr":
                w = w.coalesce().to_sparse_csr()
            y = torch.sparse.mm(w, x.t()).t()  # (b, N_out)
        elif self.layout == "csr":
            raise ValueError("csr takes shared entries only; a per-instance layer needs coo")
        else:
            instance = torch.arange(b, device=x.device).unsqueeze(1).expand_as(rows)  # (b, E)
            where = torch.stack([instance, rows, cols]).flatten(1)  # (3, b E)
            w = torch.sparse_coo_tensor(where, weights.flatten(), (b, n_out, n_in))
            y = torch.bmm(w, x.unsqueeze(2)).squeeze(2)  # (b, N_out)
        return y.reshape(b, *layer.out_shape)


class DenseOf(nn.Module):
    """The layer's own sparse tensor written out densely (b, N_out, N_in), times x by bmm."""

    def __init__(self, layer: HyperLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer.forward_dense(x)


def _layer(task: str, n: int, method: str = "hyperlib") -> HyperLayer:
    cfg = CONFIG
    if task == "identity":
        scheme = SCHEMES[method](n) if method in SCHEMES else {}
        return SparseLayer(n, n, n, g=cfg["g"], l=cfg["l"], region=cfg["region"],
                           sigma_scale=cfg["sigma_scale"], **scheme)
    if task == "adaptive":
        return AdaptiveLayer(n, cfg["summary"], g=cfg["g"], l=cfg["l"], region=cfg["region"],
                             sigma_scale=cfg["sigma_scale"])
    side = _side(n)
    return GlimpseLayer((1, side, side), cfg["glimpses"], cfg["glimpse_side"],
                        g=cfg["glimpse_g"], l=cfg["glimpse_l"], region=min(8, side))


def _side(n: int) -> int:
    return max(8, round(math.sqrt(n)))


def model(task: str, method: str, n: int) -> nn.Module:
    """The module that ``method`` trains for ``task`` at size n."""
    if task == "identity" and method == "dense":
        return nn.Linear(n, n)
    layer = _layer(task, n, method)
    if method in ("coo", "csr"):
        return TorchSparse(layer, method)
    if method == "dense":
        return DenseOf(layer)
    return torch.compile(layer) if method == "compiled" else layer


def _batch(task: str, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Input and target of one step: (b, n) and (b, n), or images (b, 1, s, s) and glimpses."""
    b, gen = CONFIG["batch"], torch.Generator().manual_seed(0)
    if task != "glimpse":
        x = torch.randn(b, n, generator=gen)
        return x.to(device), x.to(device)
    side, k = _side(n), CONFIG["glimpse_side"]
    x = torch.rand(b, 1, side, side, generator=gen)
    target = torch.rand(b, CONFIG["glimpses"], 1, k, k, generator=gen)
    return x.to(device), target.to(device)


def entries(task: str, n: int) -> int:
    """Entries of the sparse tensor a training step multiplies (for the whole batch)."""
    cfg, b = CONFIG, CONFIG["batch"]
    if task == "identity":  # r = 2 learned columns: 4 corners + g + l samples per tuple
        return n * (4 + cfg["g"] + cfg["l"])
    if task == "adaptive":  # r = 1, per instance
        return b * n * (2 + cfg["g"] + cfg["l"])
    points = cfg["glimpses"] * cfg["glimpse_side"] ** 2
    return b * points * (4 + cfg["glimpse_g"] + cfg["glimpse_l"])


def traffic(task: str, method: str, n: int, element: int = 4) -> int | None:
    """Bytes one training step's product must move at least, with numbers of ``element`` bytes.

    Per entry of the sparse tensor, forward: its two int64 offsets and weight, read one input,
    read and write one output; backward: offsets and weight again, read one output gradient
    and one input (for the weight's gradient), write the weight's gradient, read and write one
    input gradient. Shared entries (identity) move rows of b numbers, per-instance entries
    single numbers. The dense layer: its n^2 weights read twice (forward, input gradient), the
    gradient written, Adam reads weights, gradient and two moments and writes three.
    """
    b = CONFIG["batch"]
    if method in SCHEMES:
        return None  # not an entry product
    if task == "identity" and method == "dense":
        return 10 * n * n * element
    row = b if task == "identity" else 1
    per_entry = 2 * (2 * 8 + element) + element + 3 * row * element + 4 * row * element
    return entries(task, n) * per_entry


def _reset_peak(device: torch.device) -> int:
    """Start measuring peak memory now; returns the baseline to subtract from :func:`_peak`."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux: reset the peak resident set to the current one
        return _status_bytes("VmRSS")
    except OSError:
        return _peak(device)


def _peak(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    try:
        return _status_bytes("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise OSError(f"no {key} in /proc/self/status")


def trainer(task: str, method: str, n: int, device: torch.device):
    """One training step of ``method`` on ``task`` at size n, as a closure returning the loss
    (a tensor: reading it would synchronise)."""
    x, target = _batch(task, n, device)
    net = model(task, method, n).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=CONFIG["lr"])

    def step() -> Tensor:
        loss = (net(x) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return loss.detach()

    return step


def measure(task: str, method: str, n: int, device: str, warmup: int, steps: int,
            budget_s: float) -> dict:
    """Time one training step of ``method`` on ``task`` at size n; run in a fresh process."""
    device = torch.device(device)
    torch.manual_seed(0)
    warm = trainer(task, "hyperlib" if method == "compiled" else method, 16, device)
    warm()
    warm()  # load lazily initialised libraries before the baseline
    del warm
    gc.collect()
    baseline = _reset_peak(device)
    step = trainer(task, method, n, device)
    times: list[float] = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if sum(times) > budget_s and len(times) >= 3:
                break
    median, moved = statistics.median(times), traffic(task, method, n)
    return {"step_s": median, "steps": len(times), "peak_bytes": _peak(device) - baseline,
            "bytes_per_s": None if moved is None else moved / median}


def bandwidth(device: str, megabytes: int = 256, repeats: int = 5) -> float:
    """The device's memory bandwidth in bytes/s: the best of ``repeats`` copies of a buffer
    (read once and written once)."""
    device = torch.device(device)
    src = torch.ones(megabytes * 2**18, device=device)  # float32: megabytes MiB
    dst = torch.empty_like(src)
    best = math.inf
    for _ in range(repeats + 1):  # the first copy touches dst's pages
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        dst.copy_(src)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * src.element_size() / best


def footprint(task: str, method: str, n: int) -> tuple[int, float]:
    """(bytes, flop) of one step at least, to skip what cannot fit or would take minutes."""
    b, outputs, inputs = CONFIG["batch"], _outputs(task, n), _inputs(task, n)
    matrices = 1 if task == "identity" else b  # one weight matrix, or one per instance
    if method == "dense":
        return 4 * 4 * matrices * outputs * inputs, 6 * b * outputs * inputs
    if method == "coo":  # its backward writes W's gradient out densely, then masks it
        return 4 * matrices * outputs * inputs, 0.0
    if method == "pool":  # each of the k tuples weighs all k m samples: (k, k m) numbers, each
        pairs = n * entries(task, n)  # with its offset, density, mask, weight and their gradients
        return 96 * pairs, 30 * pairs
    if method == "boxes":  # 12 pieces per column and tuple, rows of b read and written
        return 64 * 4 * 12 * n + 4 * 4 * b * 12 * n + 4 * 8 * b * (n + 1), 0.0
    # sampled entries, their weights and what autograd keeps (about 64 bytes per entry), and
    # the batch's inputs, outputs and their gradients
    return 64 * entries(task, n) + 4 * 4 * b * (outputs + inputs), 0.0


def _outputs(task: str, n: int) -> int:
    return CONFIG["glimpses"] * CONFIG["glimpse_side"] ** 2 if task == "glimpse" else n


def _inputs(task: str, n: int) -> int:
    return _side(n) ** 2 if task == "glimpse" else n


def _memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _in_subprocess(task: str, method: str, n: int, args: argparse.Namespace,
                   library: str) -> dict:
    """Run :func:`measure` in a fresh Python whose ``hyperlib`` is the one under ``library``."""
    argv = [__file__, "--worker", task, method, str(n), "--device", args.device,
            "--warmup", str(args.warmup), "--steps", str(args.steps),
            "--budget", str(args.budget), "--threads", str(torch.get_num_threads())]
    code = (f"import runpy, sys; sys.path.insert(0, {library!r}); sys.argv = {argv!r}; "
            f"runpy.run_path({__file__!r}, run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        return {"skipped": f"failed: {run.stderr.strip().splitlines()[-1:]}"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> list[dict]:
    """Measure every (task, size, method); rows of one (task, n) each."""
    here, limit = str(Path(hyperlib.__file__).parents[1]), _memory_bytes(args.device) // 2
    before = [(" before", args.before)] if args.before else []
    jobs = [(task, n, method, label, library) for task in args.tasks for n in args.sizes
            for method in TASKS[task] if method in (args.methods or TASKS[task])
            for label, library in (before if method in OURS else []) + [("", here)]]
    results: dict[tuple, dict] = {}
    for task, n, method, label, library in tqdm(jobs, desc=f"bench on {args.device}",
                                                 unit="run"):
        key = (task, n, method + label)
        nbytes, flops = footprint(task, method, n)
        if nbytes > limit:
            results[key] = {"skipped": f"needs > {nbytes / 2**30:.0f} GiB"}
        elif args.device == "cpu" and flops > CPU_FLOPS:
            results[key] = {"skipped": f"too slow: {flops:.0e} flop per step"}
        else:
            results[key] = _in_subprocess(task, method, n, args, library)
    return [{"task": task, "n": n, "methods": {m: r for (t, s, m), r in results.items()
                                                if (t, s) == (task, n)}}
            for task in args.tasks for n in args.sizes]


def table(rows: list[dict], bandwidth_bytes: float) -> str:
    """Per task: ms per step, MiB of peak memory and % of the memory bandwidth per method,
    and how many times faster the library's layer is than the dense one (and than before)."""
    lines = []
    for task in dict.fromkeys(row["task"] for row in rows):
        methods = list(dict.fromkeys(m for row in rows if row["task"] == task
                                     for m in row["methods"]))
        head = f"{task:>9} n | " + " | ".join(f"{m:^22}" for m in methods) + " | x dense"
        sub = f"{'':>11} | " + " | ".join(f"{'ms':>7} {'MiB':>7} {'%bw':>6}" for _ in methods)
        lines += ["", head, sub, "-" * len(head)]
        for row in (r for r in rows if r["task"] == task):
            cells = [_cell(row["methods"].get(m, {"skipped": ""}), bandwidth_bytes)
                     for m in methods]
            lines.append(f"{row['n']:>11} | " + " | ".join(cells) + f" | {_speedup(row)}")
    return "\n".join(lines)


def _cell(result: dict, bandwidth_bytes: float) -> str:
    if "step_s" not in result:
        return f"{result['skipped'][:22]:^22}"
    rate = result["bytes_per_s"]
    share = "-" if rate is None else f"{100 * rate / bandwidth_bytes:.1f}"
    return (f"{result['step_s'] * 1e3:7.2f} {result['peak_bytes'] / 2**20:7.1f} "
            f"{share:>6}")


def _speedup(row: dict) -> str:
    ours, dense = row["methods"].get("hyperlib", {}), row["methods"].get("dense", {})
    if "step_s" not in ours or "step_s" not in dense:
        return "-"
    return f"{dense['step_s'] / ours['step_s']:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--methods", nargs="+", choices=sorted(set(sum(TASKS.values(), ()))),
                        help="only these methods (default: every method of each task)")
    parser.add_argument("--device", type=harness.device, default="cpu",
                        help="cpu or cuda (default cpu)")
    parser.add_argument("--sizes", type=harness.positive_int, nargs="+", default=list(SIZES))
    parser.add_argument("--warmup", type=harness.natural_int, default=2,
                        help="untimed steps first")
    parser.add_argument("--steps", type=harness.positive_int, default=20,
                        help="timed steps at most")
    parser.add_argument("--budget", type=harness.positive_float, default=3.0,
                        help="seconds of timed steps")
    parser.add_argument("--threads", type=harness.positive_int,
                        help="CPU threads (default: torch's choice)")
    parser.add_argument("--before", metavar="PATH",
                        help="also measure the hyperlib package under PATH (an older checkout)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH as JSON")
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "METHOD", "N"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        task, method, n = args.worker
        print(json.dumps(measure(task, method, int(n), args.device, args.warmup, args.steps,
                                 args.budget)))
        return
    if min(args.sizes) < 2:
        parser.error(f"sizes must be >= 2, got {min(args.sizes)}")
    if args.before and not (Path(args.before) / "hyperlib" / "layers.py").is_file():
        parser.error(f"--before {args.before}: no hyperlib package there")
    if args.json:
        try:
            harness.writable(Path(args.json).parent)
        except OSError as error:
            parser.error(f"--json {args.json}: cannot write there ({error.strerror or error})")
    load = os.getloadavg()[0]  # other work on the machine slows every figure down
    copy_bandwidth = bandwidth(args.device)
    rows = run(args)
    machine = results.machine(args.device)
    name = machine["device_name"]
    print(f"device {args.device} ({name}, {torch.get_num_threads()} threads, load {load:.1f}, "
          f"copy bandwidth {copy_bandwidth / 1e9:.1f} GB/s), torch {torch.__version__}, "
          f"hyperlib {hyperlib.__version__}")
    memory = "CUDA allocated" if args.device.startswith("cuda") else "growth of the resident set"
    print(f"batch {CONFIG['batch']}; median step time, peak memory ({memory}), modelled bytes "
          f"per second as % of the copy bandwidth")
    print(table(rows, copy_bandwidth))
    if args.json:
        meta = {"config": CONFIG, **machine, "load_average": load,
                "bandwidth_bytes_per_s": copy_bandwidth, "before": args.before,
                "command": " ".join(["python -m hyperlib.bench", *(argv or sys.argv[1:])]),
                "method": __doc__.split("Method. ")[1]}
        results.save(args.json, {**meta, "rows": rows})


if __name__ == "__main__":
    main()
