"""What every experiment command shares: one training loop, one set of arguments, one way of saving.

* :func:`fit`         the loop: steps, periodic evaluation, best-checkpoint selection, the running
                      loss without a host sync per step, divergence detection;
* :func:`evaluating`  evaluation mode without gradients, then the mode it had;
* :func:`parser`      the common arguments (``--scale``, ``--iterations``, ``--batch``, ``--lr``,
                      ``--seeds``, ``--device``, ``--out``), typed so that a bad value is a usage
                      error (exit 2); :func:`parse` resolves the scale (``HYPERLIB_SCALE`` when
                      ``--scale`` is absent), checks the device and that ``--out`` is writable;
* :func:`configs`     a command's run configurations, a refused one as a usage error;
* :func:`sweep`       trains runs one after the other under one tqdm bar and saves the results
                      file after each, atomically; a diverged run is recorded as failed, Ctrl-C
                      keeps what finished and exits 130; :func:`finish` prints, draws, exits;
* :func:`save_model` with ``--save-models``, each run's model beside the results file, read
                      back by :func:`load_model` (``torch.load(..., weights_only=True)``).

An experiment module keeps only what is its own: data, models, metrics, table and figure.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import math
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from hyperlib.course import SCALES, scale
from hyperlib.experiments import results

# ---------------------------------------------------------------------------------------------
# the training loop


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model):`` evaluation mode and no gradients inside, its mode after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


@dataclass
class Fit:
    """What :func:`fit` measured: at each evaluated step, the mean training loss since the last
    evaluation (None at step 0) and the evaluation metric; the selected step."""

    steps: list[int] = field(default_factory=list)
    loss: list[float | None] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)
    best_step: int | None = None


class Diverged(RuntimeError):
    """A run whose loss, metric or parameters stopped being finite; ``fit`` holds its curves."""

    def __init__(self, message: str, fit: Fit) -> None:
        super().__init__(message)
        self.fit = fit


SCHEDULES = ("constant", "cosine")  # the learning rate over a run


def lr_schedule(optimizer: torch.optim.Optimizer, kind: str, iterations: int) -> LambdaLR:
    """The run's learning rate, stepped once per step t: the optimiser's lr (constant) or
    lr (1 + cos(pi t / iterations)) / 2 (cosine, to 0 at the last step)."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    if kind == "constant":
        return LambdaLR(optimizer, lambda t: 1.0)
    return LambdaLR(optimizer, lambda t: (1 + math.cos(math.pi * t / iterations)) / 2)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Callable[[int], Tensor],
    evaluate: Callable[[], float],
    *,
    iterations: int,
    eval_every: int,
    select: str | None = "min",
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    from_start: bool = False,
    after_step: Callable[[int], None] | None = None,
    progress: tqdm | None = None,
) -> Fit:
    """Train ``model`` for ``iterations`` steps; every ``eval_every`` steps and at the last one,
    record the mean training loss and ``evaluate()``.

    ``loss(step)`` returns the loss of training step ``step`` (1, 2, ...); ``select`` "min" or
    "max" keeps the checkpoint with the lowest or highest metric (the first on ties) and loads it
    back at the end, None keeps the final model. ``from_start`` also evaluates the untrained model
    (step 0); ``after_step(t)`` is called after step t (and with 0 before the first). A loss,
    metric or parameter that is not finite at an evaluation raises :class:`Diverged`.
    ``progress`` (a tqdm bar) advances by one each step.
    """
    if select not in ("min", "max", None):
        raise ValueError(f"select must be 'min', 'max' or None, got {select!r}")
    sign = -1.0 if select == "max" else 1.0
    record, best, best_state, running = Fit(), math.inf, None, []

    def checkpoint(step: int) -> None:
        nonlocal best, best_state, running
        mean = torch.stack(running).mean().item() if running else None
        running = []
        record.steps.append(step)
        record.loss.append(mean)
        if mean is not None and not math.isfinite(mean):
            raise Diverged(f"the training loss is {mean} at step {step}", record)
        if not _finite(model):
            raise Diverged(f"the parameters are not finite at step {step}", record)
        record.metric.append(evaluate())
        if not math.isfinite(record.metric[-1]):
            raise Diverged(f"the evaluation metric is {record.metric[-1]} at step {step}", record)
        if select is not None and sign * record.metric[-1] < best:
            best, record.best_step = sign * record.metric[-1], step
            best_state = copy.deepcopy(model.state_dict())

    if from_start:
        checkpoint(0)
    if after_step is not None:
        after_step(0)
    for step in range(1, iterations + 1):
        try:
            value = loss(step)
        except ValueError as error:  # the layers refuse non-finite parameters
            if _finite(model):
                raise
            raise Diverged(f"the parameters are not finite at step {step}", record) from error
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        running.append(value.detach())  # no host sync per step; averaged at each evaluation
        if step % eval_every == 0 or step == iterations:
            checkpoint(step)
        if after_step is not None:
            after_step(step)
        if progress is not None:
            progress.update()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        record.best_step = iterations
    return record


def _finite(model: nn.Module) -> bool:
    """Whether every parameter is finite: one host-device synchronisation for all of them."""
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


# ---------------------------------------------------------------------------------------------
# the command line


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def natural_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def _number(text: str, kind: type, valid: Callable[[Any], bool], what: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def device(text: str) -> str:
    """argparse type: a device torch knows and this machine has (``cpu``, ``cuda``, ``cuda:1``)."""
    try:
        parsed = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device (cpu, cuda, cuda:1, ...)") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA device here")
    if parsed.type != "cuda" and parsed.type != "cpu":
        raise argparse.ArgumentTypeError(f"{text}: the experiments run on cpu or cuda")
    return text


def writable(folder: str | Path) -> Path:
    """``folder``, made if needed, once a file could be written in it; OSError if not."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    return folder


def parser(description: str, protocol: str, out: str) -> argparse.ArgumentParser:
    """A command's argument parser with the common arguments; ``protocol`` ends its ``--help``,
    ``out`` is the default output folder. Options left out are None: the scale's preset."""
    p = argparse.ArgumentParser(description=description, epilog=protocol,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=SCALES, help="default: $HYPERLIB_SCALE, else classroom")
    p.add_argument("--iterations", type=positive_int, help="training steps; default: the scale's")
    p.add_argument("--batch", type=positive_int, help="batch size; default: the scale's")
    p.add_argument("--lr", type=positive_float, help="Adam's learning rate; default: the scale's")
    p.add_argument("--seeds", type=natural_int, nargs="+", help="default: the scale's")
    p.add_argument("--device", type=device, default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default=out, help=f"folder for the JSON and figure (default {out})")
    p.add_argument("--save-models", action="store_true",
                   help="also save each run's trained model there (<results file>-<run>.pt), "
                        "read back by the experiment's load()")
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; ``args.scale`` from ``HYPERLIB_SCALE`` when absent; ``--out`` checked
    writable before any training. Every refusal is a usage error (exit 2)."""
    args = p.parse_args(argv)
    if args.scale is None:
        try:
            args.scale = scale()
        except ValueError as error:
            p.error(str(error))
    try:
        writable(args.out)
    except OSError as error:
        p.error(f"--out {args.out}: cannot write there ({error.strerror or error})")
    return args


def preset(args: argparse.Namespace, scales: dict[str, dict]) -> dict:
    """The scale's preset of :class:`Config` fields, with the common options given overriding."""
    given = {name: getattr(args, name) for name in ("iterations", "batch", "lr")}
    return {**scales[args.scale], **{k: v for k, v in given.items() if v is not None}}


def configs(p: argparse.ArgumentParser, make: Callable[[], list]) -> list:
    """``make()``, the runs of a command, with a refused configuration as a usage error."""
    try:
        return make()
    except (TypeError, ValueError) as error:
        p.error(str(error))


# ---------------------------------------------------------------------------------------------
# sweeps of runs, saved as they finish


def now() -> str:
    """The local time to the second, ISO 8601: when a run finished."""
    return datetime.datetime.now().isoformat(timespec="seconds")


def failed(cfg: Any, error: Diverged) -> dict:
    """The record of a run that diverged: its config, the curves so far and the reason."""
    curves = error.fit
    return {**asdict(cfg), "status": "diverged", "error": str(error), "steps": curves.steps,
            "loss": curves.loss}


def sweep(
    runs: list,
    train: Callable[[Any, tqdm], tuple[nn.Module, dict]],
    path: str | Path | None,
    header: dict,
    *,
    desc: str,
    postfix: Callable[[Any], dict],
    save_as: Callable[[Any], str] | None = None,
) -> dict:
    """Train every config of ``runs`` with ``train(cfg, progress)`` (its model and run record),
    in order; with ``save_as``, each model goes beside ``path`` as ``<path stem>-<save_as(cfg)>.pt``
    (:func:`save_model`).

    After every finished run the results file at ``path`` (None: none) is rewritten atomically:
    ``header`` (experiment, scale, protocol, machine, ...), ``complete`` and every run so far,
    each with ``status`` ("ok" or "diverged") and the time it ``finished``. A run that diverges
    is recorded and the sweep goes on; Ctrl-C keeps the finished runs and exits with status 130.
    """
    record = {**header, "complete": False, "runs": []}
    with tqdm(total=sum(cfg.iterations for cfg in runs), desc=desc, unit="step",
              mininterval=1.0) as progress:
        try:
            for cfg in runs:
                progress.set_postfix(postfix(cfg))
                try:
                    model, run = train(cfg, progress)
                    run = {**run, "status": "ok"}
                    if save_as is not None and path is not None:
                        saved = Path(path).with_name(f"{Path(path).stem}-{save_as(cfg)}.pt")
                        save_model(saved, model, run)
                except Diverged as error:
                    run = failed(cfg, error)
                    tqdm.write(f"diverged: {postfix(cfg)}: {error}")
                record["runs"].append({**run, "finished": now()})
                _save(path, record)
        except KeyboardInterrupt:
            progress.close()
            done = len(record["runs"])
            print(f"\ninterrupted: {done} of {len(runs)} runs finished, kept in {path}"
                  if done else "\ninterrupted before any run finished", file=sys.stderr)
            raise SystemExit(130) from None
    record["complete"] = True
    _save(path, record)
    return record


def save_model(path: str | Path, model: nn.Module, run: dict) -> Path:
    """``model``'s weights and its ``run`` record (plain data) in one file."""
    torch.save({"run": run, "state_dict": model.state_dict()}, path)
    return Path(path)


def load_model(
    path: str | Path, cls: type, build: Callable[[Any], nn.Module], expect: Any = None
) -> tuple[nn.Module, dict]:
    """The model that :func:`save_model` wrote, rebuilt by ``build(cfg)`` from its config (a
    ``cls``, the command's Config) and returned in eval mode, with its run record. Read on the CPU
    with ``weights_only=True`` (tensors and plain data only: no code runs on loading).
    ``expect``: the config the model must have been trained with; a ValueError names the fields
    that differ."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    run = saved["run"]
    cfg = cls(**{f.name: run[f.name] for f in fields(cls)})
    if expect is not None and cfg != expect:
        differ = [f"{f.name} {getattr(cfg, f.name)!r} (wanted {getattr(expect, f.name)!r})"
                  for f in fields(cls) if getattr(cfg, f.name) != getattr(expect, f.name)]
        raise ValueError(f"{Path(path).name} was trained with other settings: {', '.join(differ)}")
    model = build(cfg)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), run


def _save(path: str | Path | None, record: dict) -> None:
    if path is not None:
        results.save(path, record)


def finish(text: str, figure: Figure, path: Path, records: list[dict]) -> None:
    """The end of a command: print ``text`` (its table and the files it wrote), save ``figure``
    to ``path``; then exit with status 1, naming them, if any run of ``records`` failed."""
    figure.savefig(path, dpi=120)
    print(f"{text}\n-> {path}")
    bad = [run for record in records for run in record["runs"] if run.get("status", "ok") != "ok"]
    for run in bad:
        print(f"failed (seed {run['seed']}): {run['error']}", file=sys.stderr)
    if bad:
        raise SystemExit(1)
