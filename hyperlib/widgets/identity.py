"""The identity layer's tuples: on the diagonal, collided or off (notebooks 04 and 05)."""

from __future__ import annotations

import ipywidgets as w
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import Tensor

from hyperlib.widgets.base import draw_grid, figure_widget, int_slider

TUPLE_COLOURS = {"diagonal": "tab:green", "collision": "tab:orange", "off": "tab:red"}


def tuple_status(means: Tensor) -> list[str]:
    """For tuples (k, 2) of an n x n matrix, where each lands when rounded: on a diagonal entry
    of its own ('diagonal'), on a diagonal entry another tuple also takes ('collision'), or
    off the diagonal ('off')."""
    rounded = means.detach().round().long()  # (k, 2)
    on = rounded[:, 0] == rounded[:, 1]
    taken = torch.bincount(rounded[on, 0], minlength=int(rounded.max()) + 1)
    return [
        "off" if not o else ("collision" if taken[row] > 1 else "diagonal")
        for o, row in zip(on.tolist(), rounded[:, 0].tolist(), strict=True)
    ]


def draw_tuples(ax: Axes, means: Tensor, sigmas: Tensor, size: int, title: str = "") -> None:
    """Tuples (k, 2) with sigmas (k,) on a size x size grid: mu as dots coloured by
    :func:`tuple_status`, sigma as circles, the diagonal as a thin line."""
    means, sigmas = torch.as_tensor(means), torch.as_tensor(sigmas)
    draw_grid(ax, size, dot=1 if size > 32 else 3)
    ax.plot([0, size - 1], [0, size - 1], color="0.85", lw=0.8, zorder=0)
    status = tuple_status(means)
    for (x, y), sigma, kind in zip(means.tolist(), sigmas.tolist(), status, strict=True):
        ax.add_patch(Circle((x, y), sigma, fill=False, lw=0.5, color=TUPLE_COLOURS[kind]))
    colours = [TUPLE_COLOURS[kind] for kind in status]
    ax.scatter(means[:, 0], means[:, 1], s=12 if size > 32 else 25, c=colours, zorder=3)
    counts = {kind: status.count(kind) for kind in TUPLE_COLOURS}
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    ax.set(xlim=(-1, size), ylim=(-1, size), aspect="equal", xlabel="output index",
           ylabel="input index")
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=9)


def draw_identity(
    fig: Figure,
    n: int = 8,
    g: int = 4,
    l: int = 4,  # noqa: E741
    iterations: int = 1000,
    scheme: str = "pool",
    learn_values: bool = False,
    seed: int = 0,
) -> None:
    """Train the identity layer (:mod:`hyperlib.experiments.identity`) and draw its eval MSE
    against iterations (left) and its tuples at the end (right)."""
    from hyperlib.experiments import identity  # the experiment imports matplotlib's pyplot

    cfg = identity.Config(
        n, iterations, learn_values, g=g, l=l, region=min(4, n),
        scheme=scheme,
        seed=seed, eval_every=max(iterations // 40, 1),
    )
    _, run = identity.train(cfg)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    left.plot(run["steps"][1:], run["mse"][1:], color="tab:blue")
    left.axhline(0.01, color="grey", lw=0.8, ls="--")
    exact = f"exact at step {run['exact_at']}" if run["exact_at"] is not None else "never exact"
    left.set(xscale="log", xlabel="iterations", ylabel="eval MSE (rounded layer)", ylim=(0, None),
             title=f"n = {n}, {scheme}: {exact}")
    snapshot = run["snapshots"][str(iterations)]
    draw_tuples(right, snapshot["means"], snapshot["sigmas"], n, f"after {iterations} steps")


def identity_2d(
    n: int = 8,
    g: int = 4,
    l: int = 4,  # noqa: E741
    iterations: int = 1000,
    scheme: str = "pool",
    learn_values: bool = False,
    seed: int = 0,
    max_n: int = 32,
) -> w.VBox:
    """Train the identity layer with your own size, sample budget and normalisation scheme
    (the pool, per tuple, or boxes), and see where its tuples land (a few seconds per setting
    on a laptop CPU)."""
    controls = [
        int_slider("n", n, 4, max_n),
        int_slider("g", g, 0, 16),
        int_slider("l", l, 0, 16),
        w.IntSlider(value=iterations, min=100, max=3000, step=100, description="iterations",
                    continuous_update=False),
        w.Dropdown(options=["pool", "per-tuple", "boxes"], value=scheme, description="scheme"),
        w.Checkbox(value=learn_values, description="learn_values"),
        int_slider("seed", seed, 0, 9),
    ]
    return figure_widget(controls, draw_identity, (9, 4))
