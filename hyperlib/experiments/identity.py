"""The identity experiment (paper, Figure 2): learn the n x n identity with n sparse tuples.

    python -m hyperlib.experiments.identity [--scale smoke|classroom|paper] [--sizes 8 16 ...]
        [--values fixed learned] [--method backprop|reinforce] [--plain]
        [--scheme pool|per-tuple|chunks|sorted|random|window|boxes] [--chunk C] [--boxes Q]
        [--sigma-scale S] [--schedule constant|cosine]
        [--iterations N] [--batch B] [--lr LR] [--samples G L] [--region R] [--seeds 0 1 2]
        [--device cpu] [--out runs/identity] [--save-models]

The protocol, which every results file records, is :data:`PROTOCOL`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperlib import sampling
from hyperlib.contract import contract
from hyperlib.experiments import harness, results
from hyperlib.layers import POOLINGS, SparseLayer

PROTOCOL = """\
Protocol. A non-adaptive sparse layer with k = n tuples over the n x n matrix (both index columns
learned, r = 2) is trained on x ~ N(0, I) with batch 64 to minimise MSE(Wx, x): Adam, lr 0.005
(0.001 for n >= 64), sigma_scale 0.1, g = l = 4, region 4, values learned or fixed to 1. Each
tuple's weights are normalised over the pool of *all* tuples' samples (chunk = k), as the paper's
code did; --scheme per-tuple normalises each tuple over its own m = 12 samples instead (the
library's default, linear in k), which leaves tuples that land on the same diagonal entry stuck
there; --scheme chunks, sorted, random and window pool `--chunk` tuples; --scheme boxes spreads
each tuple over a grid of `--boxes` x `--boxes` boxes spanning mu +- 3 sigma (12: boxes of side
sigma / 2), each weighted by the Gaussian's mass in it (no samples and no pool, linear in k).
Every run records its scheme. The learning rate is constant, as in the paper, or with --schedule
cosine decays to 0 along a cosine over the run. --min-sigma puts a floor under sigma (default
0.001). --regrow R repairs what gradient descent leaves: every R steps from a quarter to three
quarters of the run, at most n / 100 spare tuples (wider than one index, the widest first, or
rounding onto an entry another tuple holds) move onto the entries, held by no other tuple, where the
dense gradient |dL/dW| of the rounded layer on 4,096 training vectors is largest (RigL's grow step),
with sigma 0.5. The metric is the MSE of the *evaluation-mode* layer (every tuple rounded to one
integer connection) on 10,000 fresh vectors, against iterations;
the final layer is reported (there is no checkpoint selection: the fresh vectors are the test).
With values fixed to 1 an MSE below 0.01 means the rounded tuples are exactly the diagonal for
n <= 128 (one wrong connection costs 2 / n >= 0.0156); at every n, a run's first exact step is the
first evaluation at which the rounded tuples are the diagonal, each entry once.

Baseline (--method reinforce): the same parametrisation trained by REINFORCE. Every instance of
the batch draws its own integer tuples round(z), z ~ N(mu, sigma), and the gradient of E[loss]
with respect to mu and sigma is estimated by (loss - baseline) * grad log N(z; mu, sigma); the
baseline (control variate) is the mean loss of the *other* instances of the batch, which keeps
the estimator unbiased. --plain drops it. The values, when learned, get their ordinary
(pathwise) gradient in both methods.
"""
BUDGET = {8: 5000, 16: 5000, 32: 5000, 64: 10000, 128: 20000}  # the paper's iterations
SCALES = {  # Config fields at each scale; iterations None: the paper's budget of each size
    "smoke": {"iterations": 300},
    "classroom": {"iterations": 3000},
    "paper": {"iterations": None},
}
SWEEPS = {  # the sizes and seeds a command runs at each scale
    "smoke": {"sizes": (8,), "seeds": (0,)},
    "classroom": {"sizes": (8, 16), "seeds": (0, 1, 2)},
    "paper": {"sizes": (8, 16, 32, 64, 128), "seeds": (0, 1, 2)},
}
SNAPSHOTS = 8  # tuples stored at this many log-spaced steps per run
REGROW_BATCH = 4096  # training vectors behind each regrow step's dense gradient


SCHEMES = {  # which samples each tuple's weights are normalised over, and the cost per step
    "pool": "the samples of all k tuples, O(k^2 m): the paper's code",
    "per-tuple": "its own m samples, O(k m): the library's default",
    "chunks": "the samples of its run of `chunk` tuples in parameter order, O(k chunk m)",
    "sorted": "the samples of its `chunk` nearest tuples (Z-order), regrouped every step",
    "random": "the samples of `chunk` tuples drawn at random anew every step",
    "window": "the samples of the `chunk` tuples around it in Z-order, O(k chunk m)",
    "boxes": "no samples: a grid of `boxes` x `boxes` boxes over mu +- 3 sigma, O(k boxes + n)",
}
CHUNKED = ("chunks", "sorted", "random", "window")  # the schemes whose pools hold `chunk` tuples


def protocol_lr(n: int) -> float:
    """The paper's learning rate: 0.005, or 0.001 from n = 64 on."""
    return 0.005 if n < 64 else 0.001


@dataclass(frozen=True)
class Config:
    """One training run. ``iterations`` None means the paper's budget for n (:data:`BUDGET`,
    else 5000), ``lr`` None means :func:`protocol_lr`."""

    n: int
    iterations: int | None = None
    learn_values: bool = False
    method: str = "backprop"  # or "reinforce"
    control_variate: bool = True  # REINFORCE only
    lr: float | None = None
    seed: int = 0
    batch: int = 64
    g: int = 4
    l: int = 4  # noqa: E741 (the paper's name)
    region: int = 4
    sigma_scale: float = 0.1
    min_sigma: float = 1e-3  # the floor of sigma, in index units (the library's default)
    scheme: str = "pool"  # backprop: which samples each tuple is normalised over (SCHEMES)
    chunk: int = 8  # tuples per pool of the CHUNKED schemes
    boxes: int = 12  # boxes per column of the boxes scheme (runs of sigma / 2)
    schedule: str = "constant"  # or "cosine": lr (1 + cos(pi step / iterations)) / 2
    regrow: int = 0  # move the spare tuples (regrow()) every this many steps; 0: never
    eval_every: int = 50
    eval_size: int = 10_000

    def __post_init__(self) -> None:
        if self.iterations is None:
            object.__setattr__(self, "iterations", BUDGET.get(self.n, 5000))
        if self.lr is None:
            object.__setattr__(self, "lr", protocol_lr(self.n))
        if self.method not in ("backprop", "reinforce"):
            raise ValueError(f"method must be 'backprop' or 'reinforce', got {self.method!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {self.scheme!r}")
        if self.scheme in ("chunks", "sorted", "random") and self.n % self.chunk:
            raise ValueError(f"chunk {self.chunk} must divide n = {self.n}")
        if self.scheme == "window" and self.chunk > self.n:
            raise ValueError(f"chunk {self.chunk} must be at most n = {self.n}")
        if self.n < 2 or self.iterations < 1 or self.batch < 2:
            raise ValueError(f"need n >= 2, iterations >= 1 and batch >= 2: {self}")
        if self.schedule not in harness.SCHEDULES:
            raise ValueError(f"schedule must be one of {harness.SCHEDULES}, got {self.schedule!r}")
        if self.boxes < 1:
            raise ValueError(f"boxes must be >= 1, got {self.boxes}")
        if self.regrow < 0 or (self.regrow and self.method != "backprop"):
            raise ValueError(f"regrow must be >= 0, and 0 for REINFORCE: {self.regrow}")
        if self.region > self.n:
            raise ValueError(f"region {self.region} is larger than n = {self.n}")
        for name in ("lr", "min_sigma"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")


class ReinforceLayer(nn.Module):
    """The identity layer's parametrisation, trained by REINFORCE instead of backprop.

    k tuples with raw means (k, 2), raw sigmas (k,) and values (k,), transformed exactly as in
    :class:`~hyperlib.layers.SparseLayer`. Training: each instance draws z ~ N(mu, sigma)
    (b, k, 2) and uses the connections round(z), clamped into the matrix. Evaluation:
    round(mu), as for the hyperlayer.
    """

    def __init__(
        self, n: int, *, learn_values: bool = False, sigma_scale: float = 0.1,
        min_sigma: float = 1e-3,
    ) -> None:
        super().__init__()
        self.n, self.sigma_scale, self.min_sigma = n, sigma_scale, min_sigma
        self.raw_means = nn.Parameter(torch.randn(n, 2))  # (k, 2)
        self.raw_sigmas = nn.Parameter(torch.zeros(n))  # (k,)
        if learn_values:
            self.values = nn.Parameter(torch.randn(n))  # (k,)
        else:
            self.register_buffer("values", torch.ones(n))

    def tuples(self) -> tuple[Tensor, Tensor, Tensor]:
        """means (k, 2), sigmas (k, 2) (standard deviations), values (k,)."""
        size = (self.n, self.n)
        means = sampling.transform_means(self.raw_means, size)
        sigmas = sampling.transform_sigmas(self.raw_sigmas, size, self.sigma_scale,
                                            self.min_sigma)
        return means, sigmas, self.values

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """x (b, n) -> y (b, n) and log N(z; mu, sigma) (b,) of each instance's draw (training),
        or y and zeros (evaluation)."""
        means, sigmas, values = self.tuples()
        if not self.training:
            y = contract(means.detach().round().long(), values, x, (self.n,))
            return y, x.new_zeros(x.size(0))
        noise = torch.randn((x.size(0), *means.shape), generator=generator, device=x.device)
        z = (means + sigmas * noise).detach()  # (b, k, 2)
        indices = z.round().long().clamp(0, self.n - 1)  # (b, k, 2)
        log_prob = torch.distributions.Normal(means, sigmas).log_prob(z).sum((-2, -1))  # (b,)
        y = contract(indices, values.expand(x.size(0), -1), x, (self.n,))
        return y, log_prob


def build(cfg: Config) -> nn.Module:
    """The model of a run (parameters drawn from the global RNG: seed it first)."""
    if cfg.method == "reinforce":
        return ReinforceLayer(cfg.n, learn_values=cfg.learn_values, sigma_scale=cfg.sigma_scale,
                              min_sigma=cfg.min_sigma)
    chunk = {"pool": cfg.n, "per-tuple": 1, "boxes": 1}.get(cfg.scheme, cfg.chunk)
    pooling = cfg.scheme if cfg.scheme in POOLINGS else "fixed"  # chunks: fixed pools
    grid = cfg.boxes if cfg.scheme == "boxes" else None
    return SparseLayer(
        cfg.n, cfg.n, cfg.n, learn_values=cfg.learn_values, g=cfg.g, l=cfg.l,
        region=cfg.region, sigma_scale=cfg.sigma_scale, min_sigma=cfg.min_sigma, chunk=chunk,
        pooling=pooling, grid=grid,
    )


def tuples(model: nn.Module) -> tuple[Tensor, Tensor, Tensor]:
    """The model's continuous tuples: means (k, 2), sigmas (k, 2), values (k,)."""
    if isinstance(model, ReinforceLayer):
        return model.tuples()
    return model.tuples(model.raw_means.new_zeros(1, *model.in_shape))


def loss(model: nn.Module, x: Tensor, cfg: Config, generator: torch.Generator) -> Tensor:
    """The training loss of one batch x (b, n): MSE for backprop, the REINFORCE surrogate
    (whose gradient is the estimator) for the baseline."""
    if cfg.method == "backprop":
        return F.mse_loss(model(x, generator), x)
    y, log_prob = model(x, generator)
    per_instance = (y - x).pow(2).mean(1)  # (b,)
    advantage = per_instance.detach()
    if cfg.control_variate:  # the mean loss of the other b - 1 instances
        advantage = advantage - (advantage.sum() - advantage) / (len(advantage) - 1)
    return per_instance.mean() + (advantage * log_prob).mean()


def evaluate(model: nn.Module, n: int, size: int, generator: torch.Generator) -> float:
    """MSE of the evaluation-mode (rounded) layer on ``size`` fresh vectors x ~ N(0, I)."""
    with harness.evaluating(model):
        x = torch.randn(size, n, generator=generator, device=generator.device)
        x = x.to(model.raw_means.dtype)  # the generator draws float32 whatever the model's dtype
        y = model(x)
        y = y[0] if isinstance(y, tuple) else y
        return F.mse_loss(y, x).item()


def on_diagonal(means: Tensor) -> Tensor:
    """Which tuples (k, 2) round onto a diagonal entry: (k,) bool."""
    rounded = means.detach().round()
    return rounded[:, 0] == rounded[:, 1]


def is_identity(means: Tensor) -> bool:
    """Whether the rounded tuples (k, 2) are exactly the diagonal, each entry once."""
    rounded = means.detach().round()
    return bool(on_diagonal(rounded).all()) and len(rounded[:, 0].unique()) == len(rounded)


def regrow(
    model: SparseLayer, optimizer: torch.optim.Optimizer, x: Tensor, most: int, widest: float = 1.0
) -> int:
    """Move up to ``most`` spare tuples onto entries where the loss on x (b, n) most wants
    weight: RigL's grow step (Evci et al., 2020). Spare are the tuples wider than ``widest``
    (sigma in index units) and those that round onto an entry an earlier tuple holds; the
    widest move first. The dense gradient dL/dW = sum_b dL/dy_b x_b^T (n, n) of the rounded
    layer without the moving tuples is taken once, O(b n^2); its largest magnitudes at entries
    that no other tuple holds get one moving tuple each, with sigma ``widest`` / 2; their rows
    of the optimizer's state (Adam's moments; not its step count) are zeroed. Returns how many
    moved."""
    means, sigmas, values = tuples(model)
    width = sigmas.detach().amax(-1)  # (k,)
    held = means.detach().round().long()  # (k, 2)
    repeat = sampling.duplicates(held.unsqueeze(0), model.size)[0]  # (k,) bool
    spare = (width > widest) | repeat
    count = min(most, int(spare.sum()))
    if count == 0:
        return 0
    wide = torch.zeros_like(spare)
    wide[width.where(spare, -1).topk(count).indices] = True  # (k,) the tuples that move
    y = contract(held, values.detach() * ~wide, x, model.out_shape).requires_grad_()  # (b, n)
    (grad,) = torch.autograd.grad(F.mse_loss(y, x), y)
    score = (grad.T @ x).abs()  # (n, n): |dL/dW|
    score[held[~wide, 0], held[~wide, 1]] = -1  # another tuple's entry is taken
    top = score.flatten().topk(count).indices  # (count,)
    entries = torch.stack(torch.unravel_index(top, model.size), -1)  # (count, 2)
    moved = wide.nonzero().squeeze(-1)  # (count,)
    model.place(moved, entries, widest / 2)
    for param in (model.raw_means, model.raw_sigmas, model.values):
        for moment in optimizer.state.get(param, {}).values():
            if moment.dim():  # Adam's exp_avg, exp_avg_sq; not the step count
                moment[moved] = 0
    return count


def _snapshot_steps(iterations: int) -> set[int]:
    return {0, iterations} | {int(s) for s in np.geomspace(10, iterations, SNAPSHOTS - 1)}


def _snapshot(model: nn.Module) -> dict:
    means, sigmas, values = tuples(model)
    return {
        "means": means.detach().cpu().numpy().round(3).tolist(),
        "sigmas": sigmas[:, 0].detach().cpu().numpy().round(3).tolist(),
        "values": values.detach().cpu().numpy().round(3).tolist(),
    }


def train(
    cfg: Config, device: str | torch.device = "cpu", progress: tqdm | None = None
) -> tuple[nn.Module, dict]:
    """Train one run; returns the final model and the run's record: config, training loss and
    eval-MSE curves (from step 0), snapshots of the tuples, final MSE, first exact step, time.

    ``exact_at`` is the first evaluated step at which the rounded tuples are the diagonal
    (None if never): with fixed values the layer is then exactly the identity. At every
    evaluation the record also counts the rounded tuples off the diagonal (``off``), those of
    them that were on it at the evaluation before (``left``), and gives the median sigma of
    the tuples on it and off it (``sigma_on``, ``sigma_off``; None where there are none).
    With ``regrow`` R, every R steps from a quarter to three quarters of the run at most
    max(1, n // 100) spare tuples move (:func:`regrow`, on ``REGROW_BATCH`` training vectors);
    ``regrown`` lists [step, how many moved, seconds] for every such step.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    model = build(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data = torch.Generator(device).manual_seed(cfg.seed)  # training batches and samples
    fresh = torch.Generator(device).manual_seed(cfg.seed + 1_000_003)  # evaluation vectors
    snapshots, exact, keep = {}, [], _snapshot_steps(cfg.iterations)
    census = {"off": [], "left": [], "sigma_on": [], "sigma_off": []}
    placed = torch.zeros(cfg.n, dtype=torch.bool, device=device)  # (k,) on the diagonal before
    regrown = []  # [step, tuples moved, seconds]

    def batch_loss(step: int) -> Tensor:
        x = torch.randn(cfg.batch, cfg.n, generator=data, device=device)
        return loss(model, x, cfg, data)

    def mse() -> float:
        nonlocal placed
        means, sigmas, _ = tuples(model)
        exact.append(is_identity(means))
        on = on_diagonal(means)  # (k,)
        census["off"].append(int((~on).sum()))
        census["left"].append(int((placed & ~on).sum()))
        for name, where in (("sigma_on", on), ("sigma_off", ~on)):
            median = sigmas[where, 0].median().item() if where.any() else None
            census[name].append(None if median is None else round(median, 4))
        placed = on
        return evaluate(model, cfg.n, cfg.eval_size, fresh)

    def after_step(step: int) -> None:
        middle = cfg.iterations <= 4 * step <= 3 * cfg.iterations  # the half that regrows
        if cfg.regrow and step % cfg.regrow == 0 and middle:
            tic = time.perf_counter()
            x = torch.randn(REGROW_BATCH, cfg.n, generator=data, device=device)
            moved = regrow(model, optimizer, x, max(1, cfg.n // 100))
            regrown.append([step, moved, round(time.perf_counter() - tic, 6)])
        if step in keep:
            snapshots[str(step)] = _snapshot(model)

    start = time.perf_counter()
    curves = harness.fit(model, optimizer, batch_loss, mse, iterations=cfg.iterations,
                         eval_every=cfg.eval_every, select=None, from_start=True,
                         schedule=harness.lr_schedule(optimizer, cfg.schedule, cfg.iterations),
                         after_step=after_step, progress=progress)
    exact_at = next((step for step, ok in zip(curves.steps, exact, strict=True) if ok), None)
    return model, {
        **asdict(cfg), "steps": curves.steps, "loss": curves.loss, "mse": curves.metric,
        "final_mse": curves.metric[-1], "exact_at": exact_at, **census, "regrown": regrown,
        "wall_s": round(time.perf_counter() - start, 2), "snapshots": snapshots,
    }


def load(path: str | Path, expect: Config | None = None) -> tuple[nn.Module, dict]:
    """A layer saved by the command's ``--save-models`` (in eval mode) and its run record;
    ``expect``: the config it must have been trained with (else a ValueError)."""
    return harness.load_model(path, Config, build, expect)


def header(method: str, values: str, scale: str, device: str) -> dict:
    """The fields of a results file beside its runs."""
    return {"experiment": "identity", "scale": scale, "method": method, "values": values,
            "protocol": PROTOCOL, "machine": results.machine(device)}


def experiment(
    sizes: list[int], seeds: list[int], learn_values: bool, *, device: str = "cpu",
    scale: str = "custom", path: str | Path | None = None, **options,
) -> dict:
    """Every size and seed of one variant; returns the results file's contents, saved to
    ``path`` after every run when given. ``options`` go to :class:`Config` (iterations,
    method, lr, control_variate, batch, ...); ``iterations`` None: the paper's budget."""
    runs = [Config(n, learn_values=learn_values, seed=seed, **options)
            for n in sizes for seed in seeds]
    return _sweep(runs, device, scale, path)


def _sweep(runs: list[Config], device: str, scale: str, path: str | Path | None,
           save_models: bool = False) -> dict:
    values = "learned" if runs[0].learn_values else "fixed"
    label = f"identity {runs[0].method}, values {values}"
    return harness.sweep(
        runs, lambda cfg, bar: train(cfg, device, bar), path,
        header(runs[0].method, values, scale, device), desc=label,
        postfix=lambda cfg: {"n": cfg.n, "seed": cfg.seed},
        save_as=(lambda cfg: f"n{cfg.n}-seed{cfg.seed}") if save_models else None,
    )


def variant(record: dict) -> str:
    """A short name for a results file's variant, e.g. 'backprop, fixed values'."""
    run = record["runs"][0]
    name = record["method"]
    if name == "reinforce" and not run["control_variate"]:
        name += " (plain)"
    if name == "backprop" and run["scheme"] != "pool":
        name += f" {run['scheme']}" + (f" of {run['chunk']}" if run["scheme"] in CHUNKED else "")
        name += f" {run['boxes']} x {run['boxes']}" if run["scheme"] == "boxes" else ""
    if any(r["lr"] != protocol_lr(r["n"]) for r in record["runs"]):
        name += f" (lr {run['lr']:g})"
    if run["sigma_scale"] != Config.sigma_scale:
        name += f" (sigma_scale {run['sigma_scale']:g})"
    if run.get("min_sigma", Config.min_sigma) != Config.min_sigma:  # runs before --min-sigma
        name += f" (min_sigma {run['min_sigma']:g})"
    if run.get("schedule", "constant") != "constant":  # runs before --schedule: constant
        name += f" ({run['schedule']} lr)"
    if run.get("regrow"):  # runs before --regrow: never
        name += f" (regrow every {run['regrow']})"
    return f"{name}, {record['values']} values"


def plot(records: list[dict], axes: list[plt.Axes] | None = None) -> plt.Figure:
    """Eval MSE against iterations (log x) per variant: mean over seeds, min-max band."""
    if axes is None:
        grid = plt.subplots(1, len(records), figsize=(5 * len(records), 3.6), squeeze=False)[1]
        axes = list(grid[0])
    for record, ax in zip(records, axes, strict=True):
        done = results.finished(record["runs"])
        sizes = sorted({run["n"] for run in done})
        colors = plt.cm.viridis(np.log2(sizes) / 11)  # one colour per n in every panel: 4 .. 1,024
        for n, color in zip(sizes, colors, strict=True):
            runs = [run for run in done if run["n"] == n]
            steps = np.array(runs[0]["steps"][1:])  # step 0 has no place on a log axis
            curves = np.array([run["mse"][1:] for run in runs])  # (seeds, evals)
            ax.plot(steps, curves.mean(0), color=color, label=f"n = {n} ({len(runs)} seeds)")
            ax.fill_between(steps, curves.min(0), curves.max(0), color=color, alpha=0.25)
        ax.axhline(0.01, color="grey", lw=0.8, ls="--")
        ax.set(xscale="log", xlabel="iterations", ylabel="eval MSE (rounded layer)",
               title=variant(record), ylim=(0, None))
        ax.legend(fontsize=8)
    axes[0].figure.tight_layout()
    return axes[0].figure


def table(record: dict) -> str:
    """Final eval MSE and first exact step per size and seed, and the diagonal entries the final
    layer misses when any, as text ("diverged" for a run that did not finish)."""
    lines = [f"{variant(record)}: final eval MSE (first step with the exact diagonal, "
             f"diagonal entries missed at the end)"]
    for n in sorted({run["n"] for run in record["runs"]}):
        runs = [run for run in record["runs"] if run["n"] == n]
        cells = [_cell(run) for run in runs]
        lines.append(f"  n = {n:4d}, {runs[0]['iterations']:6d} it: " + "  ".join(cells))
    return "\n".join(lines)


def missing(run: dict) -> int:
    """Diagonal entries that no tuple of the run's final layer rounds to (0: the identity)."""
    means = torch.tensor(run["snapshots"][str(run["iterations"])]["means"]).round()  # (k, 2)
    return run["n"] - len(means[on_diagonal(means), 0].unique())


def _cell(run: dict) -> str:
    if run.get("status", "ok") != "ok":
        return "diverged"
    first = run["exact_at"] if run["exact_at"] is not None else "-"
    lost = missing(run)
    return f"{run['final_mse']:.4f} ({first}{f', {lost} missing' if lost else ''})"


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__.split("\n\n")[0], PROTOCOL, "runs/identity")
    parser.add_argument("--sizes", type=harness.positive_int, nargs="+",
                        help="n of each run; default: the scale's")
    parser.add_argument("--values", nargs="+", choices=("fixed", "learned"), default=["fixed"])
    parser.add_argument("--method", choices=("backprop", "reinforce"), default="backprop")
    parser.add_argument("--plain", action="store_true", help="REINFORCE without control variate")
    parser.add_argument("--scheme", choices=tuple(SCHEMES), default="pool",
                        help="which samples each tuple is normalised over (default: the pool)")
    parser.add_argument("--chunk", type=harness.positive_int, default=8,
                        help="tuples per pool of the chunks, sorted, random and window schemes")
    parser.add_argument("--boxes", type=harness.positive_int, default=12,
                        help="boxes per column of the boxes scheme: a grid of Q x Q per tuple "
                             "spanning mu +- 3 sigma (default 12: runs of sigma / 2)")
    parser.add_argument("--schedule", choices=harness.SCHEDULES, default="constant",
                        help="the learning rate: constant (the paper) or to 0 along a cosine")
    parser.add_argument("--samples", type=harness.natural_int, nargs=2, metavar=("G", "L"),
                        default=(4, 4), help="global and local samples per tuple")
    parser.add_argument("--region", type=harness.positive_int, default=4)
    parser.add_argument("--sigma-scale", type=harness.positive_float, default=0.1,
                        help="sigma = softplus(s + 2) * n * this (2.13 n times it at the start)")
    parser.add_argument("--min-sigma", type=harness.positive_float, default=Config.min_sigma,
                        help="added to sigma: its floor in index units (default 0.001)")
    parser.add_argument("--regrow", type=harness.natural_int, default=0, metavar="R",
                        help="every R steps from 1/4 to 3/4 of the run, move at most n / 100 "
                             "tuples wider than one index or on a taken entry to where the "
                             "dense gradient is largest (default 0: never)")
    args = harness.parse(parser, argv)
    sweep = SWEEPS[args.scale]
    options = {**harness.preset(args, SCALES), "method": args.method,
               "control_variate": not args.plain, "g": args.samples[0], "l": args.samples[1],
               "region": args.region, "scheme": args.scheme, "chunk": args.chunk,
               "boxes": args.boxes, "schedule": args.schedule,
               "sigma_scale": args.sigma_scale, "min_sigma": args.min_sigma,
               "regrow": args.regrow}
    variants = harness.configs(parser, lambda: [
        [Config(n, learn_values=values == "learned", seed=seed, **options)
         for n in args.sizes or sweep["sizes"] for seed in args.seeds or sweep["seeds"]]
        for values in args.values
    ])
    records, text = [], []
    for values, runs in zip(args.values, variants, strict=True):
        path = Path(args.out) / f"{_name(args, values)}.json"
        records.append(_sweep(runs, args.device, args.scale, path, args.save_models))
        text.append(f"{table(records[-1])}\n-> {path}")
    path = Path(args.out) / f"{_name(args, '-'.join(args.values))}.png"
    harness.finish("\n".join(text), plot(records), path, records)


def _name(args, values: str) -> str:
    """File name of a variant, e.g. 'backprop-fixed-paper', 'reinforce-plain-fixed-paper'."""
    method = args.method + ("-plain" if args.plain else "")
    if args.scheme != "pool":
        method += f"-{args.scheme}" + (f"{args.chunk}" if args.scheme in CHUNKED else "")
        method += f"{args.boxes}" if args.scheme == "boxes" else ""
    lr = f"-lr{args.lr:g}" if args.lr is not None else ""
    iterations = f"-it{args.iterations}" if args.iterations else ""
    sigma = f"-sigma{args.sigma_scale:g}" if args.sigma_scale != 0.1 else ""
    sigma += f"-minsigma{args.min_sigma:g}" if args.min_sigma != Config.min_sigma else ""
    schedule = f"-{args.schedule}" if args.schedule != "constant" else ""
    schedule += f"-regrow{args.regrow}" if args.regrow else ""
    return f"{method}-{values}-{args.scale}{lr}{iterations}{sigma}{schedule}"


if __name__ == "__main__":
    main()
