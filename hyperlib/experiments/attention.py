"""Sparse attention for image classification: glimpse hyperlayers against baselines.

    python -m hyperlib.experiments.attention [--scale smoke|classroom|paper]
        [--datasets mnist translated60 cluttered60 cluttered100]
        [--models glimpse boxes stn cnn mlp]
        [--iterations N] [--batch B] [--lr LR] [--schedule constant|cosine]
        [--fresh] [--anneal] [--glimpses G] [--k K] [--view V] [--transform affine|box]
        [--locator-lr F]
        [--seeds 0 1 2] [--device cpu] [--out runs/attention] [--save-models]

The task, which every results file records, is :data:`PROTOCOL`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from hyperlib.attention import (
    TRANSFORMS,
    VIEW,
    BoxesClassifier,
    ConvClassifier,
    GlimpseClassifier,
    ImageClassifier,
    MLPClassifier,
    SpatialTransformer,
)
from hyperlib.data import CLUTTER, ClutteredMNIST
from hyperlib.experiments import harness, results

PROTOCOL = """\
Task. Classify MNIST digits in four image sets, all built offline
from MNIST by hyperlib.data.ClutteredMNIST (the clutter of each split comes from that
split's images only, drawn once from a fixed seed): mnist (28 x 28), translated60
(the digit at a random place on 60 x 60), cluttered60 (and 4 random 8 x 8 pieces of other
digits) and cluttered100 (100 x 100, 8 pieces). Models, trained on the same data with
the same budget (Adam, cross-entropy on logits; the learning rate constant, as in the paper, or
decayed to zero along a cosine, --schedule cosine):

* glimpse the paper's: a CNN hypernetwork on a 28 x 28 copy of the image (--view V: a
              V x V copy) places G = 4 glimpses of k x k = 3 x 3 points (sparse hyperlayer,
              g = l = 8, region 8, values 1); an MLP classifies the G k k values. Evaluation
              reads 36 pixels. --anneal: sigma decays along a cosine to 5 % of its width.
* boxes   the control: the glimpse model's locator and classifier, the classifier fed the
              4 G numbers of the boxes only (no pixel): what the locator alone classifies.
* stn     the same with the glimpses read by a spatial transformer: an affine map per
              glimpse started at the identity (--transform box: the glimpse model's box),
              its localisation network at --locator-lr times the rate; each point the mean
              of 16 x 16 bilinear reads.
* cnn     a CNN of about the same parameter count on the full image.
* mlp     the glimpse model's classifier on every pixel.

Every run trains on 55,000 training images (--fresh: their clutter and digit places drawn
anew for every pass, the same digits and pieces), keeps the checkpoint with the lowest error on
the 5,000 validation images (the rest of the official training set), and reports the error on
the official test images.
"""
DATASETS = {"mnist": {"canvas": 28, "distractors": 0}, **CLUTTER}
MODELS = ("glimpse", "boxes", "stn", "cnn", "mlp")
DATA_SEEDS = {"train": 0, "val": 1, "test": 2}  # each split's clutter, drawn once
# Published test errors (%): Mnih et al. 2014 (RAM and their convnets), Gregor et al. 2015 (DRAW)
PUBLISHED = {
    "mnist": {"RAM, 6 glimpses": 1.12},
    "translated60": {"convnet": 1.62, "RAM, 8 glimpses": 1.20},
    "cluttered60": {"2-layer convnet": 8.09, "RAM, 4 glimpses": 4.96, "RAM, 6 glimpses": 4.08,
                    "RAM, 8 glimpses": 4.04},
    "cluttered100": {"DRAW": 3.36},
}
SCALES = {  # Config fields at each scale
    "smoke": {"iterations": 20, "batch": 16, "eval_every": 10, "val_size": 64, "test_size": 128},
    "classroom": {"iterations": 3000, "batch": 64, "eval_every": 500, "val_size": 1000,
                  "test_size": 10_000},
    "paper": {"iterations": 50_000, "batch": 64, "eval_every": 2500, "val_size": 5000,
              "test_size": 10_000},
}
SWEEPS = {  # the image sets and seeds a command runs at each scale
    "smoke": {"datasets": ("mnist",), "seeds": (0,)},
    "classroom": {"datasets": ("mnist",), "seeds": (0,)},
    "paper": {"datasets": tuple(DATASETS), "seeds": (0, 1, 2)},
}


@dataclass(frozen=True)
class Config:
    """One training run of one model on one image set."""

    dataset: str
    model: str
    iterations: int = 3000
    batch: int = 64
    lr: float = 1e-3
    schedule: str = "constant"  # or "cosine": lr * (1 + cos(pi step / iterations)) / 2
    fresh: bool = False  # draw the training images' clutter and digit places anew every pass
    anneal: bool = False  # glimpse: sigma's scale decays along a cosine to ANNEAL_FLOOR of it
    seed: int = 0
    eval_every: int = 500
    val_size: int = 1000
    test_size: int = 10_000
    glimpses: int = 4  # glimpse, boxes, stn
    k: int = 3  # glimpse, stn
    view: int = VIEW  # glimpse, boxes, stn: the side of the locator's copy of the image
    locator_lr: float = 1.0  # stn: its localisation network's rate, a fraction of lr
    supersample: int = 16  # stn: s x s bilinear reads averaged into each of its points
    transform: str = "affine"  # stn: its map, affine or the glimpse model's box
    hidden: int = 64
    g: int = 8  # glimpse
    l: int = 8  # noqa: E741 (the paper's name)
    region: int = 8  # glimpse

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.schedule not in harness.SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(harness.SCHEDULES)}, "
                             f"got {self.schedule!r}")
        sizes = (self.iterations, self.batch, self.eval_every, self.val_size, self.test_size,
                 self.glimpses, self.k, self.view, self.supersample, self.hidden, self.region)
        if min(sizes) < 1 or min(self.g, self.l) < 0:
            raise ValueError(f"iterations, batch, eval_every, val_size, test_size, glimpses, k, "
                             f"view, supersample, hidden, region must be >= 1 and g, l >= 0: "
                             f"{self}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, "
                             f"got {self.transform!r}")
        if self.anneal and self.model != "glimpse":
            raise ValueError(f"anneal applies to the glimpse model only, not {self.model!r}")
        if self.view < 4:
            raise ValueError(f"view must be >= 4 (the locator's two 2 x 2 poolings), "
                             f"got {self.view}")
        for name in ("lr", "locator_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the image set."""
        side = DATASETS[self.dataset]["canvas"]
        return (1, side, side)


def build(cfg: Config) -> ImageClassifier:
    """The run's model (parameters from the global RNG: seed it first)."""
    shape, hidden = cfg.in_shape, cfg.hidden
    if cfg.model == "glimpse":
        return GlimpseClassifier(shape, 10, cfg.glimpses, cfg.k, hidden, g=cfg.g, l=cfg.l,
                                 region=cfg.region, view=cfg.view)
    if cfg.model == "boxes":
        return BoxesClassifier(shape, 10, cfg.glimpses, hidden, cfg.view)
    if cfg.model == "stn":
        return SpatialTransformer(shape, 10, cfg.glimpses, cfg.k, hidden, cfg.view,
                                  cfg.locator_lr, cfg.supersample, cfg.transform)
    return (ConvClassifier if cfg.model == "cnn" else MLPClassifier)(shape, 10, hidden)


def load(path: str | Path, expect: Config | None = None) -> tuple[ImageClassifier, dict]:
    """A model saved by the command's ``--save-models`` (in eval mode) and its run record;
    ``expect``: the config it must have been trained with (else a ValueError)."""
    return harness.load_model(path, Config, build, expect)


def images(dataset: str, split: str, draw: int = 0) -> ClutteredMNIST:
    """The images of one set and split (train, val or test), fixed by DATA_SEEDS; ``draw`` > 0
    places the same digits and pieces anew (another seed: the fresh passes of ``--fresh``)."""
    return ClutteredMNIST(split, seed=DATA_SEEDS[split] + 10 * draw, **DATASETS[dataset])


def _batches(n: int, batch: int, generator: torch.Generator) -> Iterator[tuple[int, Tensor]]:
    """(pass, row indices (batch,)) forever: shuffled passes over range(n), counted from 0."""
    for epoch in itertools.count():
        for rows in torch.randperm(n, generator=generator).split(batch):
            yield epoch, rows


def error(model: ImageClassifier, data: ClutteredMNIST, size: int, batch: int = 500) -> float:
    """Error rate of the evaluation-mode model on the first ``size`` items of ``data``."""
    device = next(model.parameters()).device
    rows = torch.arange(min(size, len(data)))
    with harness.evaluating(model):
        wrong = sum((model(x.to(device)).argmax(1) != y.to(device)).sum()
                    for x, y in (data[chunk] for chunk in rows.split(batch)))
    return wrong.item() / len(rows)


def schedule(optimizer: torch.optim.Optimizer, cfg: Config) -> LambdaLR:
    """The run's learning rate, stepped once per step t: ``cfg.lr`` (constant) or
    ``cfg.lr (1 + cos(pi t / iterations)) / 2`` (cosine, to 0 at the last step)."""
    return harness.lr_schedule(optimizer, cfg.schedule, cfg.iterations)


ANNEAL_FLOOR = 0.05  # --anneal: the glimpses' sigma ends at 5 % of its learned width


def sigma_scale(cfg: Config, step: int, start: float) -> float:
    """The glimpse layer's ``sigma_scale`` at ``step`` of a run that began with ``start``: the
    same throughout, or with ``cfg.anneal`` decayed along a cosine to ANNEAL_FLOOR * start at
    the last step, so that training ends reading (nearly) the single pixels that evaluation
    reads."""
    if not cfg.anneal:
        return start
    decay = (1 + math.cos(math.pi * min(step, cfg.iterations) / cfg.iterations)) / 2
    return start * (ANNEAL_FLOOR + (1 - ANNEAL_FLOOR) * decay)


def train(
    cfg: Config, device: str | torch.device = "cpu", progress: tqdm | None = None,
    model: ImageClassifier | None = None,
) -> tuple[ImageClassifier, dict]:
    """Train one run; returns the selected model (in eval mode) and the run's record: config,
    parameter count, curves (training loss, validation error), best step, test error, time.

    The checkpoint with the lowest validation error (the first, on ties) is kept; the test
    images are used once, at the end. With ``cfg.anneal`` the glimpse layer's ``sigma_scale``
    follows :func:`sigma_scale` and the returned model keeps its last value. ``model`` trains a
    model of your own (a control) instead of ``build(cfg)``, with the config's data, budget and
    seeds; the record's ``model`` field still names ``cfg.model``.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    model = (build(cfg) if model is None else model).to(device)
    optimizer = torch.optim.Adam(model.param_groups(cfg.lr))
    data, val = images(cfg.dataset, "train"), images(cfg.dataset, "val")
    order = _batches(len(data), cfg.batch, torch.Generator().manual_seed(cfg.seed))
    drawn = 0  # the pass whose places the training images have
    noise = torch.Generator(device).manual_seed(cfg.seed)  # the glimpses' samples
    glimpse = getattr(model, "glimpse", None) if cfg.anneal else None  # whose sigma decays
    start_scale = glimpse.sigma_scale if glimpse is not None else None

    def batch_loss(step: int) -> Tensor:
        nonlocal data, drawn
        epoch, rows = next(order)
        if cfg.fresh and epoch != drawn:
            data, drawn = images(cfg.dataset, "train", epoch), epoch
        x, y = data[rows]
        if glimpse is not None:
            glimpse.sigma_scale = sigma_scale(cfg, step, start_scale)
        return F.cross_entropy(model(x.to(device), noise), y.to(device))

    start = time.perf_counter()
    curves = harness.fit(
        model, optimizer, batch_loss, lambda: error(model, val, cfg.val_size),
        iterations=cfg.iterations, eval_every=cfg.eval_every, select="min",
        schedule=schedule(optimizer, cfg), progress=progress,
    )
    test = error(model, images(cfg.dataset, "test"), cfg.test_size)
    return model.eval(), {
        **asdict(cfg), "parameters": sum(p.numel() for p in model.parameters()),
        "steps": curves.steps, "loss": curves.loss, "val_error": curves.metric,
        "best_step": curves.best_step, "test_error": test,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def experiment(
    datasets: list[str], models: list[str], seeds: list[int], *, device: str = "cpu",
    scale: str = "custom", path: str | Path | None = None, **options,
) -> dict:
    """Every image set, model and seed; returns the results file's contents, saved to ``path``
    after every run when given. ``options`` go to :class:`Config` (iterations, batch, lr,
    eval_every, ...)."""
    runs = [Config(dataset, model, seed=seed, **options)
            for dataset in datasets for model in models for seed in seeds]
    return _sweep(runs, device, scale, path)


def _sweep(runs: list[Config], device: str, scale: str, path: str | Path | None,
           save_models: bool = False) -> dict:
    header = {"experiment": "attention", "scale": scale, "task": PROTOCOL,
              "machine": results.machine(device)}
    return harness.sweep(
        runs, lambda cfg, bar: train(cfg, device, bar), path, header, desc="attention",
        postfix=lambda cfg: {"data": cfg.dataset, "model": cfg.model, "seed": cfg.seed},
        save_as=(lambda cfg: f"{cfg.dataset}-{cfg.model}-seed{cfg.seed}") if save_models else None,
    )


def variant(run: dict) -> str:
    """What a run trained, as one row of the table: the model, its glimpse shape (glimpse and
    stn: G x k x k), a locator view other than VIEW, the STN's map and locator rate when not the
    defaults, a hidden width other than 64, its steps, a schedule other than constant, ``fresh``
    clutter and ``anneal``, e.g. ``glimpse 4x3x3 3k``, ``boxes of 4 view 7 3k``,
    ``stn 4x3x3 box locator x0.1 3k`` or ``glimpse 11x3x3 hidden 256 48k cosine``."""
    words = [run["model"]]
    if run["model"] in ("glimpse", "stn"):
        words.append(f"{run['glimpses']}x{run['k']}x{run['k']}")
    if run["model"] == "boxes":
        words.append(f"of {run['glimpses']}")
    if run["model"] in ("glimpse", "boxes", "stn") and run.get("view", VIEW) != VIEW:
        words.append(f"view {run['view']}")  # runs from before --view: VIEW
    if run["model"] == "stn" and run.get("transform", "affine") != "affine":
        words.append(run["transform"])  # runs from before --transform: affine
    if run["model"] == "stn" and run.get("locator_lr", 1) != 1:  # before --locator-lr: 1
        words.append(f"locator x{run['locator_lr']:g}")
    if run.get("hidden", Config.hidden) != Config.hidden:
        words.append(f"hidden {run['hidden']}")
    words.append(f"{run['iterations'] / 1000:g}k")
    if run["schedule"] != "constant":
        words.append(run["schedule"])
    if run["fresh"]:
        words.append("fresh")
    if run.get("anneal"):  # runs from before --anneal: no
        words.append("anneal")
    return " ".join(words)


def combine(records: list[dict]) -> dict:
    """One record from several results files of one scale (e.g. image sets run apart): a run of
    a later file replaces one of an earlier file with the same image set, variant and seed.
    Runs written before ``--schedule``, ``--fresh``, ``--view``, ``--transform``, ``--locator-lr``,
    ``--anneal`` and ``--hidden`` existed trained with their defaults (a constant rate, one
    drawing of the training clutter, the locator on a 28 x 28 copy, an affine STN at the model's
    rate, sigma not annealed, 64 hidden units), and say so here."""
    before = {"schedule": "constant", "fresh": False, "view": VIEW, "locator_lr": 1.0,
              "transform": "affine", "anneal": False, "hidden": Config.hidden}
    records = [{**record, "runs": [{**before, **run} for run in record["runs"]]}
               for record in records]
    key = ("dataset", "model", "glimpses", "k", "view", "transform", "locator_lr", "hidden",
           "iterations", "schedule", "fresh", "anneal", "seed")
    return results.combine(records, key, "scale")


def variants(runs: list[dict]) -> list[str]:
    """The distinct variants of runs (see :func:`variant`), in the order of MODELS, then pixels
    read, the locator's view (finest first), the STN's map and its locator's rate (fastest
    first), steps, schedule, fresh clutter, anneal and hidden width: the rows of :func:`table`."""
    def order(run: dict) -> tuple:
        pixels = run["glimpses"] * run["k"] ** 2 if run["model"] in ("glimpse", "stn") else 0
        return (MODELS.index(run["model"]), pixels, -run.get("view", VIEW),
                run.get("transform", "affine"), -run.get("locator_lr", 1), run["iterations"],
                run["schedule"], run["fresh"], run.get("anneal", False),
                run.get("hidden", Config.hidden))

    return list(dict.fromkeys(variant(run) for run in sorted(runs, key=order)))


def groups(record: dict) -> dict[tuple[str, str], list[dict]]:
    """The runs by (dataset, variant): image sets in the order of DATASETS, variants in that of
    :func:`variants`, each group's runs by seed."""
    out = {}
    for dataset in DATASETS:
        runs = [run for run in results.finished(record["runs"]) if run["dataset"] == dataset]
        for label in variants(runs):
            alike = (run for run in runs if variant(run) == label)
            out[(dataset, label)] = sorted(alike, key=lambda run: run["seed"])
    return out


def summary(record: dict) -> dict:
    """{(dataset, variant): (mean, std, seeds)} of the test error in %, see :func:`variant`."""
    stats = {}
    for key, runs in groups(record).items():
        errors = [100 * run["test_error"] for run in runs]
        stats[key] = (float(np.mean(errors)), float(np.std(errors)), len(errors))
    return stats


def table(record: dict) -> str:
    """Test error (%) per variant (rows) and image set (columns), mean ± std over seeds (their
    number in brackets where it is not the most common), the published figures below."""
    stats = summary(record)
    if not stats:
        return "no run finished"
    datasets = [d for d in DATASETS if any(d == data for data, _ in stats)]
    labels = variants(results.finished(record["runs"]))
    seeds = [n for _, _, n in stats.values()]
    usual = max(set(seeds), key=seeds.count)
    first = max(len("variant"), *map(len, labels))

    def cell(dataset: str, label: str) -> str:
        if (dataset, label) not in stats:
            return "-".center(15)
        mean, std, n = stats[(dataset, label)]
        text = f"{mean:.2f}" if n == 1 else f"{mean:.2f}±{std:.2f}"  # no spread from one seed
        return (text + (f" ({n})" if n != usual else "")).center(15)

    head = (f"{'variant':<{first}} | " + " | ".join(f"{d:^15}" for d in datasets)).rstrip()
    lines = [head, "-" * len(head)]
    lines += [(f"{label:<{first}} | " + " | ".join(cell(d, label) for d in datasets)).rstrip()
              for label in labels]
    over = f"{usual} seed" + "s" * (usual != 1)
    lines.append(f"test error % (mean ± std over {over}; (n): over n seeds); published:")
    lines += [f"  {d:<13} " + ", ".join(f"{name} {value:.2f}" for name, value in
                                        PUBLISHED[d].items()) for d in datasets]
    return "\n".join(lines)


def _anchors(ax: plt.Axes, dataset: str) -> None:
    """The published test errors of an image set as dotted lines, named once per group of
    values closer than 15 % (so RAM's 4.08 and 4.04 share one label)."""
    groups: list[list[tuple[str, float]]] = []
    for name, value in sorted(PUBLISHED[dataset].items(), key=lambda item: item[1]):
        if groups and value < 1.15 * groups[-1][0][1]:
            groups[-1].append((name, value))
        else:
            groups.append([(name, value)])
    for group in groups:
        for _, value in group:
            ax.axhline(value, ls=":", lw=0.8, color="grey")
        text = "; ".join(f"{name} {value:g}" for name, value in group)
        ax.annotate(text, (0.01, group[0][1]), xycoords=("axes fraction", "data"), fontsize=6.5,
                    color="dimgrey", va="bottom")


def plot(record: dict) -> plt.Figure:
    """Validation error against steps, one panel per image set and one line per variant (mean
    over seeds; solid glimpse, dashed boxes, dotted stn, dash-dot cnn and mlp) with the legend
    below, published test errors as dotted grey lines; a log axis with plain numbers."""
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in record["runs"])]
    # a colour per variant, the same in every panel (20 before they repeat); a style per model
    labels = variants(results.finished(record["runs"]))
    colour = {label: plt.get_cmap("tab20")(i % 20) for i, label in enumerate(labels)}
    style = {"glimpse": "-", "boxes": "--", "stn": ":", "cnn": "-.", "mlp": "-."}
    by_variant = groups(record)
    rows = max(sum(data == d for data, _ in by_variant) for d in datasets)  # the longest legend
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.6 + 0.07 * rows),
                             squeeze=False)
    for dataset, ax in zip(datasets, axes[0], strict=True):
        for (data, label), alike in by_variant.items():
            if data == dataset:
                curve = 100 * np.mean([r["val_error"] for r in alike], axis=0)
                ax.plot(alike[0]["steps"], curve, marker=".", ms=4, color=colour[label],
                        ls=style[alike[0]["model"]], label=label)
        _anchors(ax, dataset)
        ax.set(title=dataset, xlabel="step", ylabel="validation error %", yscale="log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                  ncol=2, columnspacing=1)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__.split("\n\n")[0], PROTOCOL, "runs/attention")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS),
                        help="default: the scale's")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--schedule", choices=harness.SCHEDULES, default="constant",
                        help="the learning rate: constant (the paper) or cosine decay to 0")
    parser.add_argument("--fresh", action="store_true",
                        help="draw the training clutter and digit places anew every pass")
    parser.add_argument("--anneal", action="store_true",
                        help="decay the glimpses' sigma along a cosine to 5 %% of its width "
                             "(glimpse only)")
    parser.add_argument("--glimpses", type=harness.positive_int,
                        help="glimpses per image (glimpse, boxes, stn; default 4)")
    parser.add_argument("--k", type=harness.positive_int,
                        help="points per glimpse side (glimpse, stn; default 3)")
    parser.add_argument("--view", type=harness.positive_int,
                        help=f"side of the locator's copy of the image (glimpse, boxes, stn; "
                             f"default {VIEW})")
    parser.add_argument("--locator-lr", type=harness.positive_float,
                        help="the STN localisation network's learning rate, a fraction of --lr "
                             "(default 1)")
    parser.add_argument("--transform", choices=TRANSFORMS,
                        help="the STN's map: affine (default) or the glimpse model's box")
    parser.add_argument("--hidden", type=harness.positive_int,
                        help="ReLUs in every model's hidden layer (default 64)")
    args = harness.parse(parser, argv)
    sweep = SWEEPS[args.scale]
    datasets = args.datasets or list(sweep["datasets"])
    shape = {key: value for key, value in
             (("glimpses", args.glimpses), ("k", args.k), ("view", args.view),
              ("transform", args.transform), ("locator_lr", args.locator_lr),
              ("hidden", args.hidden)) if value}
    options = {**harness.preset(args, SCALES), "schedule": args.schedule, "fresh": args.fresh,
               "anneal": args.anneal,
               **shape}
    runs = harness.configs(parser, lambda: [
        Config(dataset, model, seed=seed, **options) for dataset in datasets
        for model in args.models for seed in args.seeds or sweep["seeds"]
    ])
    name = f"{args.scale}-{'-'.join(datasets)}"
    name += "-" + "-".join(args.models) if set(args.models) != set(MODELS) else ""
    name += f"-it{args.iterations}" if args.iterations else ""
    name += "".join(f"-{key}{value}" for key, value in shape.items())
    name += "-cosine" if args.schedule == "cosine" else ""
    name += "-fresh" if args.fresh else ""
    name += "-anneal" if args.anneal else ""
    name += "-seeds" + "-".join(map(str, args.seeds)) if args.seeds else ""  # runs apart
    path = Path(args.out) / f"{name}.json"
    record = _sweep(runs, args.device, args.scale, path, args.save_models)
    harness.finish(f"{table(record)}\n-> {path}", plot(record), path.with_suffix(".png"), [record])


if __name__ == "__main__":
    main()
