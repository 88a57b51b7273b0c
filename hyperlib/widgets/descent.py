"""One tuple's gradient descent toward a target entry, with or without samples near it (nb 03)."""

from __future__ import annotations

import math

import ipywidgets as w
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperlib import sampling
from hyperlib.contract import densify
from hyperlib.layers import SparseLayer
from hyperlib.widgets.base import draw_grid, figure_widget, int_slider, slider
from hyperlib.widgets.neighbours import ellipse

SIGMA_SCALE = 0.1  # the sigma_scale the descent widget uses (as in the identity experiment)


def raw_sigma(sigma: float, size: int, sigma_scale: float = SIGMA_SCALE) -> float:
    """The raw number s with transform_sigmas(s) = sigma (inverse of softplus(s + 2) * ...)."""
    y = sigma / (size * sigma_scale)
    return math.log(math.expm1(y)) - sampling.SIGMA_BOOST


def descend(
    mu: tuple[float, float],
    sigma: float,
    target: tuple[int, int],
    g: int = 16,
    l: int = 4,  # noqa: E741
    region: int = 4,
    steps: int = 60,
    lr: float = 0.3,
    seed: int = 0,
    size: int = 16,
) -> dict[str, Tensor]:
    """Gradient steps of one 2-D tuple (value fixed to 1) toward a target position.

    Loss: L = -W[target], minus the weight the sampled sparse tensor W puts on the target
    (0 when the target is not among the samples). The mean is learned through its raw
    parameter (mu = transform_means(a)) with Adam; sigma stays fixed. Samples are drawn afresh
    every step from a Generator seeded with ``seed``.

    Returns means (steps + 1, 2), sigmas (steps + 1,), loss (steps,) and hit (steps,) bool:
    whether the target was among that step's samples.
    """
    layer = SparseLayer(size, size, 1, learn_values=False, g=g, l=l, region=region,
                        sigma_scale=SIGMA_SCALE).double()  # the tuple lives in (size, size)
    mu_t = torch.tensor([mu], dtype=torch.float64).clamp(0.01, size - 1.01) / (size - 1)
    with torch.no_grad():  # transform_means(a) = mu, transform_sigmas(s) = sigma
        layer.raw_means.copy_(torch.logit(mu_t))
        layer.raw_sigmas.fill_(raw_sigma(sigma, size))
    optimiser = torch.optim.Adam([layer.raw_means], lr=lr)  # sigma stays fixed
    generator = torch.Generator().manual_seed(seed)
    x, target_t = torch.zeros(1, size, dtype=torch.float64), torch.tensor(target)  # x: unused

    means_path, sigma_path, losses, hits = [], [], [], []
    for _ in range(steps):
        means, sigmas, _ = layer.tuples(x)  # (1, 2) each
        indices, weights = layer.sparse(x, generator)  # (m, 2), (m,)
        loss = -densify(indices, weights, (size, size))[target]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        means_path.append(means.detach()[0])
        sigma_path.append(sigmas.detach()[0, 0])
        losses.append(loss.detach())
        hits.append((indices == target_t).all(-1).any())
    means, sigmas, _ = layer.tuples(x)
    means_path.append(means.detach()[0])
    sigma_path.append(sigmas.detach()[0, 0])
    return {
        "means": torch.stack(means_path),
        "sigmas": torch.stack(sigma_path),
        "loss": torch.stack(losses),
        "hit": torch.stack(hits),
    }


def draw_descent(
    fig: Figure,
    target_x: int = 11,
    target_y: int = 4,
    sigma: float = 1.5,
    g: int = 16,
    l: int = 4,  # noqa: E741
    region: int = 4,
    steps: int = 60,
    seed: int = 0,
    mu: tuple[float, float] = (4.3, 10.6),
    size: int = 16,
) -> None:
    """Left: the path of mu over the gradient steps of :func:`descend` (circles: sigma at
    start and end; stars: steps whose samples hit the target). Right: the loss per step."""
    path = descend(mu, sigma, (target_x, target_y), g, l, region, steps, seed=seed, size=size)
    means, sigmas, hit = path["means"], path["sigmas"], path["hit"]
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    draw_grid(left, size)
    left.plot(means[:, 0], means[:, 1], ".-", color="tab:blue", ms=3, lw=1, label="mu")
    left.scatter(
        means[:-1][hit, 0],
        means[:-1][hit, 1],
        marker="*",
        s=60,
        color="tab:orange",
        zorder=3,
        label=f"target sampled ({int(hit.sum())}/{steps})",
    )
    for i, style in ((0, ":"), (-1, "--")):
        left.add_patch(ellipse(tuple(means[i].tolist()), float(sigmas[i])))
        left.patches[-1].set_linestyle(style)
    left.plot([target_x], [target_y], "s", color="tab:red", ms=9, label="target")
    left.set(xlim=(-1, size), ylim=(-1, size), aspect="equal", xlabel="index 0", ylabel="index 1")
    distance = (means[-1] - torch.tensor([target_x, target_y])).norm()
    title = f"sigma {sigma:.2f}, g = {g}, l = {l}: ends {distance:.1f} from target"
    left.set_title(title, fontsize=9)
    left.legend(loc="upper left", fontsize=7)
    right.plot(range(1, steps + 1), path["loss"], color="tab:blue")
    right.set(xlabel="step", ylabel="loss = -W[target]", ylim=(-1.05, 0.05), title="loss")


def descent_2d(
    target_x: int = 11,
    target_y: int = 4,
    sigma: float = 1.5,
    g: int = 16,
    l: int = 4,  # noqa: E741
    region: int = 4,
    steps: int = 60,
    seed: int = 0,
    size: int = 16,
) -> w.VBox:
    """Run a few gradient steps of one tuple toward a target and watch its path."""
    controls = [
        int_slider("target_x", target_x, 0, size - 1),
        int_slider("target_y", target_y, 0, size - 1),
        slider("sigma", sigma, 0.1, 4.0, 0.1),
        int_slider("g", g, 0, 32),
        int_slider("l", l, 0, 32),
        int_slider("region", region, 1, size),
        int_slider("steps", steps, 1, 150),
        int_slider("seed", seed, 0, 99),
    ]
    return figure_widget(controls, lambda fig, **v: draw_descent(fig, size=size, **v), (9, 4.5))
