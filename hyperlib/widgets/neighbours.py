"""Gaussian weights over a tuple's integer neighbours, in one and two dimensions (notebook 02)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import ipywidgets as w
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import Tensor

from hyperlib import sampling
from hyperlib.widgets.base import draw_grid, figure_widget, slider


def neighbour_weights(means: Tensor, sigmas: Tensor, size: Sequence[int]):
    """The 2^r floor/ceil neighbours of one tuple, their weights and the weights' gradient.

    means, sigmas (r,) float -> samples (2^r, r) long, weights (2^r,), dw/dmu (2^r, r).
    Weights are normalised over the distinct neighbours (values v = 1).
    """
    means, sigmas = means.reshape(1, -1).double(), sigmas.reshape(1, -1).double()  # (1, r)
    samples = sampling.sample(means, size, g=0, l=0)  # (1, 2^r, r)
    values = torch.ones(1, dtype=torch.float64)  # (1,)

    def weights_of(mu: Tensor) -> Tensor:  # (1, r) -> (2^r,)
        return sampling.weights(samples, mu, sigmas, values, size)[0]

    jacobian = torch.autograd.functional.jacobian(weights_of, means)  # (2^r, 1, r)
    return samples[0], weights_of(means).detach(), jacobian[:, 0, :]


def draw_neighbours_1d(fig: Figure, mu: float = 2.3, sigma: float = 0.6, size: int = 8) -> None:
    """Top: the Gaussian around mu and the weights of its two integer neighbours (bars).
    Bottom: dw_t/dmu for each neighbour (signed bars): where each weight goes as mu grows.
    """
    samples, weights, grad = neighbour_weights(torch.tensor([mu]), torch.tensor([sigma]), [size])
    t = samples[:, 0].tolist()  # neighbour positions (2,)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    xs = torch.linspace(-0.5, size - 0.5, 400)
    density = torch.exp(-0.5 * ((xs - mu) / sigma) ** 2)  # unnormalised, peak 1
    top.plot(xs, density, color="0.6", lw=1, label="density p(t) (unnormalised)")
    top.bar(t, weights.tolist(), width=0.35, color="tab:blue", label="weight w_t (normalised)")
    for ti, wi in zip(t, weights.tolist(), strict=True):
        top.text(ti, wi + 0.03, f"{wi:.2f}", ha="center", fontsize=8)
    top.axvline(mu, color="tab:red", lw=1.5, label=f"mu = {mu:.2f}")
    top.set(ylim=(0, 1.25), ylabel="weight", title=f"neighbours of mu, sigma = {sigma:.2f}")
    top.legend(loc="upper right", fontsize=7)
    g = grad[:, 0].tolist()
    bottom.bar(t, g, width=0.35, color=["tab:green" if v >= 0 else "tab:purple" for v in g])
    bottom.axhline(0, color="k", lw=0.5)
    bound = max(1.0, max(abs(v) for v in g) * 1.2)
    bottom.set(ylim=(-bound, bound), ylabel="dw_t / dmu", xlabel="index t")
    bottom.set_xticks(range(size))


def neighbours_1d(mu: float = 2.3, sigma: float = 0.6, size: int = 8) -> w.VBox:
    """Drag mu and sigma: the two neighbours' weights and their gradient w.r.t. mu."""
    controls = [slider("mu", mu, 0.0, size - 1.0, 0.05), slider("sigma", sigma, 0.1, 3.0, 0.05)]
    return figure_widget(controls, functools.partial(draw_neighbours_1d, size=size), (6, 4.5))


def draw_neighbours_2d(
    fig: Figure, mu_x: float = 2.3, mu_y: float = 1.6, sigma: float = 0.6, size: int = 6
) -> None:
    """The four grid neighbours of (mu_x, mu_y): weights (disc area, label) and the gradient
    of each weight w.r.t. the mean (arrows: where mu should move to raise that weight)."""
    means, sigmas = torch.tensor([mu_x, mu_y]), torch.tensor([sigma, sigma])
    samples, weights, grad = neighbour_weights(means, sigmas, [size, size])
    ax = fig.subplots()
    draw_grid(ax, size, dot=6, colour="0.75")
    ax.add_patch(ellipse((mu_x, mu_y), sigma))
    scale = 0.5 / max(1e-9, grad.norm(dim=1).max().item())  # longest arrow: half a cell
    rows = zip(samples.tolist(), weights.tolist(), grad.tolist(), strict=True)
    for (tx, ty), wt, (gx, gy) in rows:
        ax.scatter([tx], [ty], s=40 + 900 * wt, color="tab:blue", alpha=0.7, zorder=3)
        ax.annotate(f"{wt:.2f}", (tx, ty), xytext=(6, 6), textcoords="offset points", fontsize=8)
        if wt > 0:
            ax.arrow(tx, ty, gx * scale, gy * scale, width=0.02, color="tab:green", zorder=4)
    ax.plot([mu_x], [mu_y], "x", color="tab:red", ms=10, mew=2, label="mu")
    ax.set(xlim=(-0.7, size - 0.3), ylim=(-0.7, size - 0.3), aspect="equal", xlabel="index 0")
    ax.set(ylabel="index 1", title=f"weights and d w_t / d mu (arrows), sigma = {sigma:.2f}")
    ax.legend(loc="upper right", fontsize=8)


def neighbours_2d(
    mu_x: float = 2.3, mu_y: float = 1.6, sigma: float = 0.6, size: int = 6
) -> w.VBox:
    """Drag a 2-D mean and sigma: the four neighbours, their weights and gradient arrows."""
    controls = [
        slider("mu_x", mu_x, 0.0, size - 1.0, 0.05),
        slider("mu_y", mu_y, 0.0, size - 1.0, 0.05),
        slider("sigma", sigma, 0.1, 3.0, 0.05),
    ]
    return figure_widget(controls, lambda fig, **v: draw_neighbours_2d(fig, size=size, **v), (5, 5))


def ellipse(centre: tuple[float, float], sigma: float) -> Circle:
    return Circle(centre, sigma, fill=False, ls="--", color="tab:red", lw=1)
