"""Where a tuple's samples fall: neighbours, global and local (notebook 03)."""

from __future__ import annotations

import ipywidgets as w
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from hyperlib import sampling
from hyperlib.widgets.base import draw_grid, figure_widget, int_slider, slider
from hyperlib.widgets.neighbours import ellipse

KIND_COLOURS = {"neighbour": "tab:blue", "global": "tab:orange", "local": "tab:green"}


def sample_kinds(g: int, l: int, r: int = 2) -> list[str]:  # noqa: E741 (the paper's name)
    """The kind of each of the m = 2^r + g + l samples, in :func:`sampling.sample`'s order."""
    return ["neighbour"] * 2**r + ["global"] * g + ["local"] * l


def draw_samples(
    fig: Figure,
    mu_x: float = 5.3,
    mu_y: float = 9.6,
    sigma: float = 1.5,
    g: int = 8,
    l: int = 8,  # noqa: E741
    region: int = 4,
    seed: int = 0,
    size: int = 16,
) -> None:
    """One tuple's samples on a size x size grid: kind (colour), normalised weight (disc area
    and label), duplicates (grey x: weight 0, counted once), the local box and mu, sigma."""
    means = torch.tensor([[mu_x, mu_y]], dtype=torch.float64)  # (1, 2)
    sigmas = torch.tensor([[sigma, sigma]], dtype=torch.float64)  # (1, 2)
    generator = torch.Generator().manual_seed(seed)
    samples = sampling.sample(means, (size, size), g=g, l=l, region=region, generator=generator)
    repeat = sampling.duplicates(samples, (size, size))[0]  # (m,) bool
    weights = sampling.weights(samples, means, sigmas, torch.ones(1), (size, size))[0]  # (m,)
    ax = fig.subplots()
    draw_grid(ax, size)
    corner = [min(max(round(c) - region // 2, 0), size - region) for c in (mu_x, mu_y)]
    box = Rectangle([c - 0.5 for c in corner], region, region, fill=False, color="tab:green")
    ax.add_patch(box)
    ax.add_patch(ellipse((mu_x, mu_y), sigma))
    kinds = sample_kinds(g, l)
    for (tx, ty), wt, kind, dup in zip(
        samples[0].tolist(), weights.tolist(), kinds, repeat.tolist(), strict=True
    ):
        if dup:
            ax.scatter([tx], [ty], marker="x", s=60, color="0.4", zorder=4)
            continue
        ax.scatter([tx], [ty], s=25 + 900 * wt, color=KIND_COLOURS[kind], alpha=0.7, zorder=3)
        if wt >= 0.01:
            ax.annotate(f"{wt:.2f}", (tx, ty), xytext=(5, 5), textcoords="offset points", size=7)
    for kind, colour in KIND_COLOURS.items():
        ax.scatter([], [], color=colour, label=kind)
    ax.scatter([], [], marker="x", color="0.4", label=f"duplicate ({int(repeat.sum())})")
    ax.plot([mu_x], [mu_y], "+", color="tab:red", ms=12, mew=2, label="mu")
    ax.set(xlim=(-1, size), ylim=(-1, size), aspect="equal", xlabel="index 0", ylabel="index 1")
    ax.set_title(f"m = {samples.shape[1]} samples, {int((~repeat).sum())} distinct", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)


def samples_2d(
    mu_x: float = 5.3,
    mu_y: float = 9.6,
    sigma: float = 1.5,
    g: int = 8,
    l: int = 8,  # noqa: E741
    region: int = 4,
    seed: int = 0,
    size: int = 16,
) -> w.VBox:
    """Choose mu, sigma, g, l, region and seed: the sampled tuples and their weights."""
    controls = [
        slider("mu_x", mu_x, 0.0, size - 1.0, 0.1),
        slider("mu_y", mu_y, 0.0, size - 1.0, 0.1),
        slider("sigma", sigma, 0.1, size / 2, 0.1),
        int_slider("g", g, 0, 32),
        int_slider("l", l, 0, 32),
        int_slider("region", region, 1, size),
        int_slider("seed", seed, 0, 99),
    ]
    return figure_widget(controls, lambda fig, **v: draw_samples(fig, size=size, **v), (7, 5.5))
