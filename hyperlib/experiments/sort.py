"""Sorting MNIST numbers (paper, Figure 6): the differentiable quicksort against baselines.

    python -m hyperlib.experiments.sort [--scale smoke|classroom|paper]
        [--protocol paper|neuralsort] [--sizes 4 8 16]
        [--methods quicksort quicksort-perm neuralsort softsort diffsort]
        [--proposal swaps|uniform] [--iterations N] [--batch B] [--lr LR] [--seeds 0 1 2]
        [--device cpu] [--out runs/sort] [--save-models] [--time-steps N]

The task, which every results file records, is :data:`PROTOCOL`.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from diffsort import DiffSortNet
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperlib.data import SORT_PROTOCOLS, SortingLists
from hyperlib.experiments import harness, results
from hyperlib.sort import PROPOSALS, SortLayer

PROTOCOL = """\
Task. A list holds s numbers, each written with d MNIST digit images
(hyperlib.data.SortingLists): d = 3 and s = 4, 8, 16 in the paper's protocol, d = 4 and
n = 3, 5, 7, 9, 15 in the NeuralSort benchmark. Every method trains the same scorer (a CNN
reads each digit image, an MLP maps the digits' features to one scalar key) on lists of
*training* digits, selects the checkpoint with the best exact-sort accuracy on lists of
*validation* digits, and is tested on lists of **test** digits. At evaluation every method
sorts by its keys with a hard argsort. Methods differ only in how the training loss
sees the keys:

* quicksort      the paper: hyperlib.sort.SortLayer soft-sorts the digit *images*;
                 the loss is the binary cross-entropy with the images in the true order.
                 No label and no permutation is ever shown.
* quicksort-perm the same layer under permutation supervision: it sorts one-hot item
                 ids, giving a doubly stochastic (s, s) matrix P; the loss is
                 -log P[i, true item at position i].
* neuralsort     Grover et al. 2019 (deterministic), same loss on its relaxed P.
* softsort       Prillo & Eisenschlos 2020, same loss on its relaxed P.
* diffsort       Petersen et al. 2021, the diffsort package's odd-even sorting
                 network; binary cross-entropy of its P with the true permutation.

Metrics: *exact* — the fraction of test lists sorted entirely right; *position* — the
fraction of positions holding the right number. Lists with equal numbers count as right
whichever way the ties go (we compare numbers, not item ids); their rate is reported.
"""
METHODS = ("quicksort", "quicksort-perm", "neuralsort", "softsort", "diffsort")
# a method, and for the quicksort methods the paper's uniform proposal apart (see variant)
VARIANTS = ("quicksort", "quicksort-perm", "quicksort uniform", "quicksort-perm uniform",
            "neuralsort", "softsort", "diffsort")
BUDGET = {4: 30_000, 8: 60_000, 16: 120_000}  # the paper's iterations (batch 128, Adam 1e-4)
# NeuralSort (Grover et al. 2019, deterministic), 4-digit numbers: exact match, per position
PUBLISHED = {3: (0.930, 0.951), 5: (0.837, 0.927), 7: (0.738, 0.909), 9: (0.649, 0.896),
             15: (0.386, 0.857)}
ITEMS = 64  # numbers per batch when the batch is not given: max(2, ITEMS // s) lists
SCALES = {  # Config fields at each scale; iterations None: the paper's budget (else 30k)
    "smoke": {"iterations": 20, "batch": 8, "lr": 1e-3, "eval_every": 10, "val_lists": 64,
              "test_lists": 64},
    "classroom": {"iterations": 1000, "batch": None, "lr": 1e-3, "eval_every": 250,
                  "val_lists": 500, "test_lists": 2000},
    "paper": {"iterations": None, "batch": 128, "lr": 1e-4, "eval_every": 1000,
              "val_lists": 2000, "test_lists": 10_000},
}
SEEDS = (0, 1, 2)  # at every scale


@dataclass(frozen=True)
class Config:
    """One training run of one method at one list size; ``iterations`` None: the paper's
    budget for the size (:data:`BUDGET`, else 30,000)."""

    method: str
    size: int
    digits: int = 3
    iterations: int | None = 1000
    batch: int | None = None  # lists per batch; None: max(2, ITEMS // size)
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 250
    val_lists: int = 500
    test_lists: int = 2000
    certainty: float = 10.0  # quicksort
    candidates: int = 8  # quicksort
    proposal: str = "swaps"  # quicksort: the candidates beside the hard split (sort.PROPOSALS)
    tau: float = 1.0  # neuralsort, softsort
    steepness: float = 10.0  # diffsort

    def __post_init__(self) -> None:
        if self.iterations is None:
            object.__setattr__(self, "iterations", BUDGET.get(self.size, 30_000))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.size < 2 or self.digits < 1 or self.iterations < 1 or (self.batch or 1) < 1:
            raise ValueError(f"need size >= 2, digits >= 1, iterations >= 1, batch >= 1: {self}")
        if self.proposal not in PROPOSALS:
            raise ValueError(f"proposal must be one of {PROPOSALS}, got {self.proposal!r}")
        if min(self.eval_every, self.val_lists, self.test_lists, self.candidates) < 1:
            raise ValueError(f"need eval_every, val_lists, test_lists, candidates >= 1: {self}")
        settings = {"lr": self.lr, "certainty": self.certainty, "tau": self.tau,
                    "steepness": self.steepness}
        for name, value in settings.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")

    @property
    def lists(self) -> int:
        """Lists per batch."""
        return self.batch or max(2, ITEMS // self.size)


class Scorer(nn.Module):
    """Numbers written in MNIST digits -> one scalar key each.

    A small CNN reads every digit image (shared weights), an MLP maps a number's d digit
    features to its key: x (b, s, d, 28, 28) -> keys (b, s).
    """

    def __init__(self, digits: int, features: int = 32) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),  # (16, 12, 12)
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),  # (32, 4, 4)
            nn.Flatten(), nn.Linear(32 * 4 * 4, features), nn.ReLU(),
        )
        self.mlp = nn.Sequential(nn.Linear(digits * features, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, s, d = x.shape[:3]
        features = self.cnn(x.reshape(b * s * d, 1, 28, 28))  # (b s d, features)
        return self.mlp(features.view(b, s, -1)).squeeze(-1)  # (b, s)


def neuralsort(keys: Tensor, tau: float = 1.0) -> Tensor:
    """NeuralSort's relaxed sort (Grover et al. 2019), ascending: keys (b, s) -> P (b, s, s),
    row i a softmax over the items for position i.

    P[i] = softmax(((s + 1 - 2i) k - |k_j - k_l| summed over l) / tau) with k = -keys (the
    formula sorts descending), i = 1..s.
    """
    k = -keys.unsqueeze(-1)  # (b, s, 1)
    s = keys.size(1)
    spread = (k - k.transpose(1, 2)).abs().sum(-1, keepdim=True)  # (b, s, 1): A_k 1
    scale = s + 1 - 2 * torch.arange(1, s + 1, dtype=keys.dtype, device=keys.device)  # (s,)
    logits = scale.view(1, s, 1) * k.transpose(1, 2) - spread.transpose(1, 2)  # (b, s, s)
    return torch.softmax(logits / tau, dim=-1)


def softsort(keys: Tensor, tau: float = 1.0) -> Tensor:
    """SoftSort (Prillo & Eisenschlos 2020), ascending: keys (b, s) -> P (b, s, s),
    P[i] = softmax(-|sorted_i - k_j| / tau) over items j."""
    ordered = keys.sort(dim=1).values  # (b, s)
    return torch.softmax(-(ordered.unsqueeze(-1) - keys.unsqueeze(1)).abs() / tau, dim=-1)


def permutation(order: Tensor, dtype: torch.dtype) -> Tensor:
    """The true permutation as a matrix: order (b, s) -> (b, s, s), row i one-hot at order[i]."""
    return F.one_hot(order, order.size(1)).to(dtype)


class Method(nn.Module):
    """A scorer with its training loss; evaluation sorts by the scorer's keys."""

    def __init__(self, cfg: Config, device: torch.device) -> None:
        super().__init__()
        self.cfg, self.scorer = cfg, Scorer(cfg.digits)
        if cfg.method.startswith("quicksort"):
            self.sort = SortLayer(cfg.size, certainty=cfg.certainty, candidates=cfg.candidates,
                                  proposal=cfg.proposal)
        if cfg.method == "diffsort":
            # the package keeps its network as plain tensors: build it on the device
            self.network = DiffSortNet("odd_even", cfg.size, str(device), cfg.steepness)

    def relaxed(self, keys: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The method's relaxed sort as a matrix: keys (b, s) -> P (b, s, s), row i the weights
        of the items at position i (a permutation matrix in the hard limit)."""
        method = self.cfg.method
        if method.startswith("quicksort"):
            items = torch.eye(keys.size(1), dtype=keys.dtype, device=keys.device)
            return self.sort(items.expand(keys.size(0), -1, -1), keys, generator)[0]
        if method == "diffsort":
            return self.network(keys)[1].transpose(1, 2)  # the package's is (item, position)
        return (neuralsort if method == "neuralsort" else softsort)(keys, self.cfg.tau)

    def loss(self, x: Tensor, order: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training loss of a batch: x (b, s, d, 28, 28), true order (b, s)."""
        keys = self.scorer(x)  # (b, s)
        if self.cfg.method == "quicksort":  # sort the images themselves
            images = x.flatten(2)  # (b, s, d 28 28)
            soft = self.sort(images, keys, generator)[0]
            truth = images.gather(1, order.unsqueeze(-1).expand_as(images))
            return F.binary_cross_entropy(soft.clamp(1e-6, 1 - 1e-6), truth)
        relaxed, target = self.relaxed(keys, generator), permutation(order, keys.dtype)
        if self.cfg.method == "diffsort":  # as its authors train it
            return F.binary_cross_entropy(relaxed.clamp(0, 1), target)
        return -(relaxed * target).sum(-1).clamp_min(1e-9).log().mean()


def accuracy(scorer: nn.Module, lists: tuple[Tensor, Tensor], batch: int = 256) -> dict:
    """Hard sort by the keys: exact-match and per-position accuracy, and the tie rate.

    lists: x (N, s, d, 28, 28), numbers (N, s). Ties count as right (numbers are compared).
    """
    x, numbers = lists
    with harness.evaluating(scorer):
        keys = torch.cat([scorer(x[i : i + batch]) for i in range(0, len(x), batch)])  # (N, s)
    predicted = numbers.gather(1, keys.argsort(dim=1, stable=True))
    truth = numbers.sort(dim=1).values
    right = predicted == truth  # (N, s)
    return {
        "exact": right.all(1).float().mean().item(),
        "position": right.float().mean().item(),
        "ties": (truth[:, 1:] == truth[:, :-1]).any(1).float().mean().item(),
    }


def _lists(split: str, cfg: Config, count: int, seed: int, device: torch.device):
    x, numbers, _ = SortingLists(split, cfg.size, cfg.digits, device=device).sample(
        count, torch.Generator().manual_seed(seed)
    )
    return x, numbers


def load(path: str | Path, expect: Config | None = None) -> tuple[Scorer, dict]:
    """A scorer saved by the command's ``--save-models`` (in eval mode) and its run record;
    ``expect``: the config it must have been trained with (else a ValueError)."""
    return harness.load_model(path, Config, lambda cfg: Scorer(cfg.digits), expect)


def heldout_lists(cfg: Config, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """The run's test lists (of test digits, seed 2): x (N, s, d, 28, 28), numbers (N, s)."""
    return _lists("test", cfg, cfg.test_lists, 2, torch.device(device))


def train(
    cfg: Config, device: str | torch.device = "cpu", progress: tqdm | None = None
) -> tuple[Scorer, dict]:
    """Train one run; returns the selected scorer (in eval mode) and the run's record: config,
    curves, best step, test metrics, time.

    The validation lists (fixed, seed 1) choose the checkpoint; the test lists (seed 2) are
    drawn from the test digits and only used once, at the end.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    model = Method(cfg, device).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    train_lists = SortingLists("train", cfg.size, cfg.digits, device=device)
    val = _lists("val", cfg, cfg.val_lists, 1, device)
    data = torch.Generator().manual_seed(cfg.seed)  # lists (drawn on the CPU)
    noise = torch.Generator(device).manual_seed(cfg.seed)  # the quicksort's candidates

    def batch_loss(step: int) -> Tensor:
        x, _, order = train_lists.sample(cfg.lists, data)
        return model.loss(x, order, noise)

    start = time.perf_counter()
    curves = harness.fit(
        model, optimizer, batch_loss, lambda: accuracy(model.scorer, val)["exact"],
        iterations=cfg.iterations, eval_every=cfg.eval_every, select="max", progress=progress,
    )
    test = accuracy(model.scorer, heldout_lists(cfg, device))
    return model.scorer.eval(), {
        **asdict(cfg), "lists": cfg.lists, "steps": curves.steps, "loss": curves.loss,
        "val_exact": curves.metric, "best_step": curves.best_step, "test": test,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def experiment(
    protocol: str, sizes: list[int], methods: list[str], seeds: list[int], *,
    device: str = "cpu", scale: str = "custom", path: str | Path | None = None, **options,
) -> dict:
    """Every size, method and seed; returns the results file's contents, saved to ``path``
    after every run when given. ``options`` go to :class:`Config` (iterations, batch, lr, ...);
    ``iterations`` None: the paper's budget."""
    digits = SORT_PROTOCOLS[protocol]["digits"]
    runs = [Config(method, size, digits, seed=seed, **options)
            for size in sizes for method in methods for seed in seeds]
    return _sweep(runs, protocol, device, scale, path)


def _sweep(runs: list[Config], protocol: str, device: str, scale: str,
           path: str | Path | None, save_models: bool = False) -> dict:
    header = {"experiment": "sort", "protocol": protocol, "scale": scale, "task": PROTOCOL,
              "machine": results.machine(device)}
    return harness.sweep(
        runs, lambda cfg, bar: train(cfg, device, bar), path, header,
        desc=f"sort ({protocol})",
        postfix=lambda cfg: {"s": cfg.size, "method": cfg.method, "seed": cfg.seed},
        save_as=(lambda cfg: f"{cfg.method}-s{cfg.size}-seed{cfg.seed}") if save_models else None,
    )


def combine(records: list[dict]) -> dict:
    """One record from several results files of one protocol (e.g. sizes run apart): a run of a
    later file replaces one of an earlier file with the same size, method, proposal and seed (a
    rerun)."""
    return results.combine(records, ("size", "method", "proposal", "seed"), "protocol")


def variant(run: dict) -> str:
    """A run's row in the tables: its method, with " uniform" after a quicksort method that
    used the paper's uniform candidates (the proposal does not concern the other methods)."""
    uniform = run["method"].startswith("quicksort") and run["proposal"] == "uniform"
    return run["method"] + " uniform" * uniform


def summary(record: dict) -> dict:
    """{(size, variant): (mean, std, seeds) of test exact and of test position}."""
    table: dict = {}
    for run in results.finished(record["runs"]):
        table.setdefault((run["size"], variant(run)), []).append(run["test"])
    return {
        key: tuple(
            (float(np.mean([t[m] for t in tests])), float(np.std([t[m] for t in tests])),
             len(tests))
            for m in ("exact", "position")
        )
        for key, tests in table.items()
    }


def standing(record: dict) -> list[dict]:
    """Per size, the best quicksort variant against the best baseline, on the test means.

    Exact match: each side's variant with the highest mean, with its std over seeds; the
    quicksort is *level* when its mean is at least the baseline's mean minus the baseline's
    std. Per position: each side's highest mean; level when within 0.01 of the baseline's.
    """
    stats, rows = summary(record), []
    for size in sorted({size for size, _ in stats}):
        here = {m: stats[(size, m)] for m in VARIANTS if (size, m) in stats}
        quick = {m: stat for m, stat in here.items() if m.startswith("quicksort")}
        base = {m: stat for m, stat in here.items() if m not in quick}
        if not quick or not base:
            continue
        q, b = (max(side, key=lambda m, side=side: side[m][0][0]) for side in (quick, base))
        (q_exact, q_std, _), _ = quick[q]
        (b_exact, b_std, _), _ = base[b]
        q_pos = max(position for _, (position, _, _) in quick.values())
        b_pos = max(position for _, (position, _, _) in base.values())
        rows.append({"size": size, "quicksort": q, "exact": (q_exact, q_std),
                     "baseline": b, "baseline_exact": (b_exact, b_std),
                     "position": q_pos, "baseline_position": b_pos,
                     "level_exact": q_exact >= b_exact - b_std,
                     "level_position": q_pos >= b_pos - 0.01})
    return rows


def standing_table(record: dict) -> str:
    """:func:`standing` as text, a line per size."""
    lines = []
    for row in standing(record):
        (q, q_std), (b, b_std) = row["exact"], row["baseline_exact"]
        level = {True: "level", False: "short"}
        lines.append(
            f"s = {row['size']:2d}: exact {row['quicksort']} {q:.3f}±{q_std:.3f} vs "
            f"{row['baseline']} {b:.3f}±{b_std:.3f} ({level[row['level_exact']]}, "
            f"{q - (b - b_std):+.3f}) | per position {row['position']:.3f} vs "
            f"{row['baseline_position']:.3f} ({level[row['level_position']]}, "
            f"{row['position'] - (row['baseline_position'] - 0.01):+.3f})")
    return "\n".join(lines)


def table(record: dict) -> str:
    """Test accuracy per variant (rows) and size (columns): exact ± its std over seeds / per
    position, means over seeds; for the NeuralSort protocol the published figures below."""
    stats = summary(record)
    if not stats:
        return "no run finished"
    sizes = sorted({size for size, _ in stats})
    rows = [m for m in VARIANTS if any(m == method for _, method in stats)]
    head = f"{'method':<22} | " + " | ".join(f"{f's = {s}':^17}" for s in sizes)
    lines = [head, "-" * len(head)]
    for method in rows:
        cells = []
        for size in sizes:
            if (size, method) not in stats:
                cells.append(f"{'-':^17}")
                continue
            (exact, spread, _), (position, _, _) = stats[(size, method)]
            cells.append(f"{exact:.3f}±{spread:.3f}/{position:.3f}")
        lines.append(f"{method:<22} | " + " | ".join(cells))
    if record["protocol"] == "neuralsort":
        cells = [f"{PUBLISHED[s][0]:.3f} / {PUBLISHED[s][1]:.3f}".center(17) if s in PUBLISHED
                 else f"{'-':^17}" for s in sizes]
        lines.append(f"{'published NeuralSort':<22} | " + " | ".join(cells))
    seeds = sorted({stats[key][0][2] for key in stats})
    lines.append(f"test exact-match ± std over {'/'.join(map(str, seeds))} seeds / per-position")
    return "\n".join(lines)


def plot(record: dict, ax: plt.Axes | None = None) -> plt.Figure:
    """Test exact-match accuracy against list size, one line per method (mean, std bars),
    chance (1 / s!) dotted, and the published NeuralSort figures where they apply."""
    if ax is None:
        ax = plt.subplots(figsize=(6, 3.6))[1]
    stats = summary(record)
    sizes = sorted({size for size, _ in stats})
    for method in VARIANTS:
        points = [(s, *stats[(s, method)][0][:2]) for s in sizes if (s, method) in stats]
        if points:
            s, mean, std = zip(*points, strict=True)
            ax.errorbar(s, mean, yerr=std, marker="o", capsize=3, label=method)
    chance = [1 / float(np.prod(np.arange(1, s + 1))) for s in sizes]
    ax.plot(sizes, chance, ":", color="grey", label="chance (1/s!)")
    if record["protocol"] == "neuralsort":
        ax.plot(list(PUBLISHED), [e for e, _ in PUBLISHED.values()], "k*", ms=9,
                label="published NeuralSort")
    ax.set(xlabel="list size s", ylabel="test exact-match accuracy", ylim=(0, 1.02),
           xticks=sizes, title=f"sorting MNIST numbers ({record['protocol']} protocol)")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def step_times(
    protocol: str, sizes: list[int], methods: list[str], *, steps: int = 100, warmup: int = 10,
    device: str = "cpu", progress: bool = True, **options,
) -> dict[int, dict[str, float]]:
    """Milliseconds per training step (loss, backward, Adam) of each method, side by side.

    Every method gets its own scorer and the same batch of lists (the classroom's size); the
    steps go round-robin, one step of each method in turn (who goes first rotates), so that
    the machine's load falls on all of them alike. Returns {size: {method: median ms}} over
    ``steps`` timed rounds after ``warmup`` rounds. ``options`` go to :class:`Config`.
    """
    digits, timed = SORT_PROTOCOLS[protocol]["digits"], {}
    for size in sizes:
        configs = [Config(method, size, digits, **options) for method in methods]
        models = [Method(cfg, torch.device(device)).to(device) for cfg in configs]
        optimizers = [torch.optim.Adam(m.parameters(), lr=cfg.lr) for m, cfg in
                      zip(models, configs, strict=True)]
        lists = SortingLists("train", size, digits, device=torch.device(device))
        x, _, order = lists.sample(configs[0].lists, torch.Generator().manual_seed(0))
        noise = torch.Generator(device).manual_seed(0)
        times: dict[str, list[float]] = {method: [] for method in methods}
        contenders = list(zip(methods, models, optimizers, strict=True))

        def sync() -> None:  # a CUDA step is timed once it has run, not once it is queued
            if device == "cuda":
                torch.cuda.synchronize()

        for round_ in tqdm(range(warmup + steps), desc=f"step times, s = {size}",
                           disable=not progress):
            turn = round_ % len(methods)  # who goes first rotates: no method always follows one
            for method, model, optimizer in [*contenders[turn:], *contenders[:turn]]:
                sync()
                start = time.perf_counter()
                optimizer.zero_grad()
                model.loss(x, order, noise).backward()
                optimizer.step()
                sync()
                if round_ >= warmup:
                    times[method].append(1000 * (time.perf_counter() - start))
        timed[size] = {method: float(np.median(t)) for method, t in times.items()}
    return timed


def step_table(timed: dict[int, dict[str, float]]) -> str:
    """ms per step per size (rows) and method (columns), and each method's ratio to NeuralSort's
    where it ran."""
    methods = list(next(iter(timed.values())))
    head = f"{'s':>3} | " + " | ".join(f"{m:>16}" for m in methods)
    lines = [head, "-" * len(head)]
    for size, row in timed.items():
        base = row.get("neuralsort")
        cells = [f"{row[m]:7.1f} ms" + (f" {row[m] / base:4.2f}x" if base else "")
                 for m in methods]
        lines.append(f"{size:>3} | " + " | ".join(f"{c:>16}" for c in cells))
    lines.append("median ms per training step; x: the ratio to NeuralSort's, same run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__.split("\n\n")[0], PROTOCOL, "runs/sort")
    parser.add_argument("--protocol", choices=list(SORT_PROTOCOLS), default="paper")
    parser.add_argument("--sizes", type=harness.positive_int, nargs="+",
                    help="default: the protocol's")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--proposal", choices=PROPOSALS, default="swaps",
                        help="the quicksort's candidates beside the hard split (default swaps)")
    parser.add_argument("--time-steps", type=harness.positive_int, metavar="N",
                        help="instead of training: time N steps of every method side by side")
    args = harness.parse(parser, argv)
    digits = SORT_PROTOCOLS[args.protocol]["digits"]
    options = {**harness.preset(args, SCALES), "proposal": args.proposal}
    if args.time_steps:
        _time(args, options)
        return
    runs = harness.configs(parser, lambda: [
        Config(method, size, digits, seed=seed, **options)
        for size in args.sizes or SORT_PROTOCOLS[args.protocol]["sizes"]
        for method in args.methods for seed in args.seeds or SEEDS
    ])
    name = f"{args.protocol}-{args.scale}"
    name += "-s" + "-".join(map(str, args.sizes)) if args.sizes else ""
    name += "-" + "-".join(args.methods) if set(args.methods) != set(METHODS) else ""
    name += f"-it{args.iterations}" if args.iterations else ""
    name += "-uniform" if args.proposal == "uniform" else ""
    path = Path(args.out) / f"{name}.json"
    record = _sweep(runs, args.protocol, args.device, args.scale, path, args.save_models)
    harness.finish(f"{table(record)}\n-> {path}", plot(record), path.with_suffix(".png"), [record])


def _time(args: argparse.Namespace, options: dict) -> None:
    """--time-steps: the step times, printed and saved as steptime-<protocol>.json."""
    sizes = args.sizes or SORT_PROTOCOLS[args.protocol]["sizes"]
    fields = {k: v for k, v in options.items() if k in ("batch", "proposal")}
    timed = step_times(args.protocol, sizes, args.methods, steps=args.time_steps,
                       device=args.device, **fields)
    path = Path(args.out) / f"steptime-{args.protocol}.json"
    results.save(path, {
        "experiment": "sort step times", "protocol": args.protocol, "steps": args.time_steps,
        "options": fields, "machine": results.machine(args.device),
        "threads": torch.get_num_threads(), "ms_per_step": {str(s): t for s, t in timed.items()},
    })
    print(f"{step_table(timed)}\n-> {path}")


if __name__ == "__main__":
    main()
