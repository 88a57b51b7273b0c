"""Interactive figures for the course notebooks, built on core ipywidgets only.

Every figure exists twice:

* a plain drawing function ``draw_...(fig, ...)`` that draws onto a matplotlib ``Figure``; the
  notebooks call it to show a static figure (readable without a kernel), and
* a factory that returns an ``ipywidgets.VBox``: its controls, then an ``ipywidgets.Image``
  holding a PNG of the same drawing, redrawn whenever a control changes.

The PNGs are rendered from a bare ``matplotlib.figure.Figure`` (Agg, never registered with
pyplot, so nothing is left open), which works in JupyterLab, classic Notebook, VS Code and
Colab alike, and lets the tests sweep the controls without a kernel. All the maths comes
from :mod:`hyperlib.sampling`; this module only draws it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from io import BytesIO

import ipywidgets as w
import matplotlib
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from torch import Tensor

from hyperlib import sampling, sort
from hyperlib.contract import densify
from hyperlib.layers import SparseLayer

SIGMA_SCALE = 0.1  # the sigma_scale the descent widget uses (as in the identity experiment)
KIND_COLOURS = {"neighbour": "tab:blue", "global": "tab:orange", "local": "tab:green"}


# --------------------------------------------------------------------------- rendering


def render(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (Agg). The figure is cleared afterwards."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    fig.clear()
    return buffer.getvalue()


def _widget(
    controls: Sequence[w.ValueWidget], draw: Callable[..., None], figsize: tuple[float, float]
) -> w.VBox:
    """Controls above an Image; ``draw(fig, **values)`` redraws it whenever a value changes.

    Each control's ``description`` is the keyword it sets.
    """
    image = w.Image(format="png")

    def update(_change: object = None) -> None:
        fig = Figure(figsize=figsize, layout="constrained")
        draw(fig, **{c.description: c.value for c in controls})
        image.value = render(fig)

    for control in controls:
        control.observe(update, names="value")
    update()
    return w.VBox([w.HBox(list(controls), layout=w.Layout(flex_flow="row wrap")), image])


def _grid(ax: Axes, size: int, dot: float = 3, colour: str = "0.8") -> None:
    """The size x size integer index positions as small dots."""
    grid = torch.cartesian_prod(torch.arange(size), torch.arange(size))  # (size^2, 2)
    ax.scatter(grid[:, 0], grid[:, 1], s=dot, color=colour)


def _slider(key: str, value: float, low: float, high: float, step: float) -> w.FloatSlider:
    return w.FloatSlider(
        value=value, min=low, max=high, step=step, description=key, continuous_update=False
    )


def _int_slider(key: str, value: int, low: int, high: int) -> w.IntSlider:
    return w.IntSlider(value=value, min=low, max=high, description=key, continuous_update=False)


# --------------------------------------------------------------------------- neighbours


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
    controls = [_slider("mu", mu, 0.0, size - 1.0, 0.05), _slider("sigma", sigma, 0.1, 3.0, 0.05)]
    return _widget(controls, lambda fig, **v: draw_neighbours_1d(fig, size=size, **v), (6, 4.5))


def draw_neighbours_2d(
    fig: Figure, mu_x: float = 2.3, mu_y: float = 1.6, sigma: float = 0.6, size: int = 6
) -> None:
    """The four grid neighbours of (mu_x, mu_y): weights (disc area, label) and the gradient
    of each weight w.r.t. the mean (arrows: where mu should move to raise that weight)."""
    means, sigmas = torch.tensor([mu_x, mu_y]), torch.tensor([sigma, sigma])
    samples, weights, grad = neighbour_weights(means, sigmas, [size, size])
    ax = fig.subplots()
    _grid(ax, size, dot=6, colour="0.75")
    ax.add_patch(_ellipse((mu_x, mu_y), sigma))
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
        _slider("mu_x", mu_x, 0.0, size - 1.0, 0.05),
        _slider("mu_y", mu_y, 0.0, size - 1.0, 0.05),
        _slider("sigma", sigma, 0.1, 3.0, 0.05),
    ]
    return _widget(controls, lambda fig, **v: draw_neighbours_2d(fig, size=size, **v), (5, 5))


def _ellipse(centre: tuple[float, float], sigma: float) -> Circle:
    return Circle(centre, sigma, fill=False, ls="--", color="tab:red", lw=1)


# --------------------------------------------------------------------------- samples


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
    _grid(ax, size)
    corner = [min(max(round(c) - region // 2, 0), size - region) for c in (mu_x, mu_y)]
    box = Rectangle([c - 0.5 for c in corner], region, region, fill=False, color="tab:green")
    ax.add_patch(box)
    ax.add_patch(_ellipse((mu_x, mu_y), sigma))
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
        _slider("mu_x", mu_x, 0.0, size - 1.0, 0.1),
        _slider("mu_y", mu_y, 0.0, size - 1.0, 0.1),
        _slider("sigma", sigma, 0.1, size / 2, 0.1),
        _int_slider("g", g, 0, 32),
        _int_slider("l", l, 0, 32),
        _int_slider("region", region, 1, size),
        _int_slider("seed", seed, 0, 99),
    ]
    return _widget(controls, lambda fig, **v: draw_samples(fig, size=size, **v), (7, 5.5))


# --------------------------------------------------------------------------- descent


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
    _grid(left, size)
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
        left.add_patch(_ellipse(tuple(means[i].tolist()), float(sigmas[i])))
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
        _int_slider("target_x", target_x, 0, size - 1),
        _int_slider("target_y", target_y, 0, size - 1),
        _slider("sigma", sigma, 0.1, 4.0, 0.1),
        _int_slider("g", g, 0, 32),
        _int_slider("l", l, 0, 32),
        _int_slider("region", region, 1, size),
        _int_slider("steps", steps, 1, 150),
        _int_slider("seed", seed, 0, 99),
    ]
    return _widget(controls, lambda fig, **v: draw_descent(fig, size=size, **v), (9, 4.5))


# --------------------------------------------------------------------------- identity

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
    _grid(ax, size, dot=1 if size > 32 else 3)
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
    pooled: bool = True,
    learn_values: bool = False,
    seed: int = 0,
) -> None:
    """Train the identity layer (:mod:`hyperlib.experiments.identity`) and draw its eval MSE
    against iterations (left) and its tuples at the end (right)."""
    from hyperlib.experiments import identity  # the experiment imports matplotlib's pyplot

    cfg = identity.Config(
        n, iterations, learn_values, g=g, l=l, region=min(4, n),
        scheme="pool" if pooled else "per-tuple",
        seed=seed, eval_every=max(iterations // 40, 1),
    )
    _, run = identity.train(cfg)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    left.plot(run["steps"][1:], run["mse"][1:], color="tab:blue")
    left.axhline(0.01, color="grey", lw=0.8, ls="--")
    exact = f"exact at step {run['exact_at']}" if run["exact_at"] is not None else "never exact"
    left.set(xscale="log", xlabel="iterations", ylabel="eval MSE (rounded layer)", ylim=(0, None),
             title=f"n = {n}, {'pooled' if pooled else 'per tuple'}: {exact}")
    snapshot = run["snapshots"][str(iterations)]
    draw_tuples(right, snapshot["means"], snapshot["sigmas"], n, f"after {iterations} steps")


def identity_2d(
    n: int = 8,
    g: int = 4,
    l: int = 4,  # noqa: E741
    iterations: int = 1000,
    pooled: bool = True,
    learn_values: bool = False,
    seed: int = 0,
    max_n: int = 32,
) -> w.VBox:
    """Train the identity layer with your own size and sample budget, and see where its
    tuples land (a few seconds per setting on a laptop CPU)."""
    controls = [
        _int_slider("n", n, 4, max_n),
        _int_slider("g", g, 0, 16),
        _int_slider("l", l, 0, 16),
        w.IntSlider(value=iterations, min=100, max=3000, step=100, description="iterations",
                    continuous_update=False),
        w.Checkbox(value=pooled, description="pooled"),
        w.Checkbox(value=learn_values, description="learn_values"),
        _int_slider("seed", seed, 0, 9),
    ]
    return _widget(controls, draw_identity, (9, 4))


# --------------------------------------------------------------------------- sorting


def quicksort_steps(
    keys: Tensor, certainty: float = 10.0, candidates: int = 8, seed: int = 0
) -> list[dict[str, Tensor]]:
    """The split layers of a training-mode :class:`~hyperlib.sort.SortLayer` on one list.

    keys (s,), s a power of two; the candidates come from ``torch.Generator().manual_seed(seed)``,
    so the last ``mix`` is the layer's soft permutation matrix. One dict per depth d (n = 2^d
    buckets of h = s / n items, m candidates): keys (s,) entering the depth, median (n,), splits
    (n, m, h) bool (row 0 the hard split), probs (n, m), sorted (s,), and mix (s, s), the
    composed mix after this depth (:meth:`~hyperlib.sort.SortLayer.soft_steps` for one list).
    """
    layer = sort.SortLayer(keys.numel(), certainty=certainty, candidates=candidates)
    generator = torch.Generator().manual_seed(seed)
    return [{name: value[0] for name, value in step.items()}
            for step in layer.soft_steps(keys.reshape(1, -1), generator)]


def _quicksort_list(size: int) -> Tensor:
    """The fixed list the sorting widget sorts: size keys, N(0, 1), two decimals."""
    keys = torch.randn(size, generator=torch.Generator().manual_seed(2018), dtype=torch.float64)
    return keys.mul(100).round().div(100)


_BLUES = matplotlib.colormaps["Blues"].with_extremes(bad="0.8")
_LABEL = {"boxstyle": "round,pad=0.1", "fc": "w", "ec": "none", "alpha": 0.8}


def draw_quicksort(
    fig: Figure, certainty: float = 10.0, candidates: int = 8, seed: int = 0, size: int = 8
) -> None:
    """A training-mode quicksort of one fixed list of ``size`` keys, one row per depth.

    Left: the keys entering the depth (dots, coloured by o = sigmoid(c (key - median)), the
    probability of going up), the bucket medians (lines) and bucket borders. Middle: the
    candidate half-splits, one row each (blue: sent up; the shade and the number are p(z) in
    that bucket; grey: a repeat, p = 0). Right: the soft permutation matrix (sorted = P @
    items; its title counts the weight off the hard sort) and the hard one of evaluation mode.
    """
    keys = _quicksort_list(size)  # (s,)
    steps = quicksort_steps(keys, certainty, candidates, seed)
    soft = steps[-1]["mix"]  # (s, s)
    hard = torch.eye(size, dtype=keys.dtype)[keys.argsort(stable=True)]  # (s, s)
    depth = len(steps)
    grid = fig.add_gridspec(2 * depth, 3, width_ratios=[1.1, 1.1, 1])
    for d, step in enumerate(steps):
        ax_keys, ax_split = fig.add_subplot(grid[2 * d : 2 * d + 2, 0]), fig.add_subplot(
            grid[2 * d : 2 * d + 2, 1]
        )
        n, m, h = step["splits"].shape
        median = step["median"].repeat_interleave(h)  # (s,): each item's bucket median
        o = torch.sigmoid(certainty * (step["keys"] - median))  # (s,)
        ax_keys.scatter(range(size), step["keys"].numpy(), c=o.numpy(), cmap="coolwarm",
                        vmin=0, vmax=1, edgecolor="k", lw=0.5, zorder=3)
        for i, value in enumerate(step["median"].tolist()):
            ax_keys.hlines(value, i * h - 0.4, (i + 1) * h - 0.6, color="0.3", lw=1)
            ax_keys.axvline(i * h - 0.5, color="0.8", lw=0.8)
        ax_keys.set_ylabel(f"depth {d}\nkey", fontsize=8)
        # candidates as an image: 'down' pale, 'up' shaded by p(z), repeats grey (NaN)
        probs = step["probs"].unsqueeze(-1).expand(n, m, h)  # (n, m, h)
        shade = torch.where(step["splits"], 0.2 + 0.8 * probs, 0.05)  # (n, m, h)
        repeat = sort.duplicates(step["splits"])  # (n, m)
        shade[repeat] = math.nan
        image = shade.permute(1, 0, 2).reshape(m, size).numpy()  # (m, s)
        ax_split.imshow(image, cmap=_BLUES, vmin=0, vmax=1, aspect="auto")
        for i in range(n):
            ax_split.axvline(i * h - 0.5, color="k", lw=1)
            for j in (~repeat[i]).nonzero()[:, 0].tolist():
                p = step["probs"][i, j].item()
                ax_split.text(i * h + (h - 1) / 2, j, f"{p:.2f}", ha="center", va="center",
                              fontsize=7 if m <= 8 else 5, bbox=_LABEL)
        ax_split.set_yticks([0], ["hard"], fontsize=7)
        for ax in (ax_keys, ax_split):
            ax.set_xticks(range(size))
            ax.tick_params(labelsize=7)
        if d == 0:
            ax_keys.set_title("keys, medians, o (colour)", fontsize=9)
            ax_split.set_title(f"{candidates} candidates z (blue: up): p(z)", fontsize=9)
    distance = (soft - hard).abs().sum().item() / 2  # total weight off the hard permutation
    panels = (
        (grid[:depth, 2], soft, f"soft P, c = {certainty:.2g}: {distance:.2f} of {size} moved"),
        (grid[depth:, 2], hard, "hard P (eval)"),
    )
    for cell, matrix, title in panels:
        ax = fig.add_subplot(cell)
        ax.imshow(matrix.numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set(xticks=range(size), yticks=range(size))
        ax.set_xlabel("input item", fontsize=8)
        ax.set_ylabel("output position", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_title(title, fontsize=9)


def quicksort_2d(
    certainty: float = 10.0, candidates: int = 8, seed: int = 0, size: int = 8
) -> w.VBox:
    """Choose the certainty, the number of candidates and the seed of the random candidates:
    the split layers of a differentiable quicksort on one list, and its soft permutation."""
    controls = [
        w.FloatLogSlider(value=certainty, base=10, min=-1, max=math.log10(50), step=0.05,
                         description="certainty", continuous_update=False),
        _int_slider("candidates", candidates, 1, 16),
        _int_slider("seed", seed, 0, 99),
    ]
    return _widget(controls, lambda fig, **v: draw_quicksort(fig, size=size, **v), (10, 6))


# --------------------------------------------------------------------------- attention

GLIMPSE_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan",
                   "tab:pink", "tab:olive")


def draw_glimpses(
    ax: Axes, image: Tensor, seen: dict[str, Tensor], index: int = 0, samples: bool = False
) -> None:
    """Where a glimpse layer reads one image, drawn over it.

    ``image`` (C, H, W) or (H, W), shown in grey (mean over channels); ``seen`` is what
    :meth:`~hyperlib.attention.GlimpseLayer.look` returns for a batch and ``index`` this image's
    row in it. Each glimpse has its own colour: its box (rectangle) and either the pixels
    evaluation mode reads, round(mu) (dots), or with ``samples`` the pixels one training step
    reads, each point's m samples as discs of area proportional to their weight (weight 0,
    a duplicate, not drawn).
    """
    picture = image.detach().cpu().reshape(-1, *image.shape[-2:]).mean(0).numpy()  # (H, W)
    ax.imshow(picture, cmap="gray_r", vmin=0, vmax=1)
    boxes = seen["boxes"][index].cpu()  # (G, 2, 2): corner and extent, (row, column)
    for g, ((top, left), (height, width)) in enumerate(boxes.tolist()):
        colour = GLIMPSE_COLOURS[g % len(GLIMPSE_COLOURS)]
        ax.add_patch(Rectangle((left, top), width, height, fill=False, color=colour, lw=1.2))
        if samples:
            where = seen["samples"][index, g].reshape(-1, 2).cpu().numpy()  # (k k m, 2)
            weight = seen["weights"][index, g].reshape(-1).cpu().numpy()  # (k k m,)
            keep = weight > 0
            ax.scatter(where[keep, 1], where[keep, 0], s=3 + 60 * weight[keep], color=colour,
                       alpha=0.6, lw=0)
        else:
            points = seen["points"][index, g].cpu().numpy()  # (k k, 2)
            ax.scatter(points[:, 1], points[:, 0], s=14, color=colour, edgecolor="w", lw=0.4)
    ax.set(xticks=[], yticks=[], xlim=(-0.5, picture.shape[1] - 0.5),
           ylim=(picture.shape[0] - 0.5, -0.5))


def read_pixels(image: Tensor, seen: dict[str, Tensor], index: int = 0) -> Tensor:
    """The pixels evaluation mode reads from one image (C, H, W): (G, C, k, k), glimpse g's
    points in their template order (multiply by the layer's values to get its output)."""
    points = seen["points"][index].to(image.device)  # (G, k k, 2)
    big_g, kk = points.shape[:2]
    side = math.isqrt(kk)
    pixels = image[:, points[..., 0], points[..., 1]]  # (C, G, k k)
    return pixels.transpose(0, 1).reshape(big_g, image.size(0), side, side)


def draw_look(
    fig: Figure, image: Tensor, seen: dict[str, Tensor], index: int = 0,
    label: int | None = None, predicted: int | None = None,
) -> None:
    """Three panels for one image: the boxes and the pixels evaluation mode reads; the boxes
    and one training step's samples; the G k x k pixels the classifier gets (one tile per
    glimpse). Titled with the true and the predicted class when given (red when they differ).
    """
    pixels = read_pixels(image.cpu(), {"points": seen["points"].cpu()}, index)  # (G, C, k, k)
    big_g = pixels.size(0)
    grid = fig.add_gridspec(2, 2 + big_g, width_ratios=[big_g, big_g] + [1] * big_g)
    eval_ax, train_ax = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[:, 1])
    draw_glimpses(eval_ax, image, seen, index)
    draw_glimpses(train_ax, image, seen, index, samples=True)
    head = []
    if label is not None:
        head.append(f"true {label}")
    if predicted is not None:
        head.append(f"predicted {predicted}")
    wrong = label is not None and predicted is not None and label != predicted
    eval_ax.set_title(("  ·  ".join(head) + "\n" if head else "") + "evaluation: points read",
                      fontsize=9, color="tab:red" if wrong else "black")
    train_ax.set_title("training: samples (area = weight)", fontsize=9)
    for g in range(big_g):
        ax = fig.add_subplot(grid[0, 2 + g])
        ax.imshow(pixels[g].mean(0).numpy(), cmap="gray_r", vmin=0, vmax=1)
        for spine in ax.spines.values():
            spine.set(color=GLIMPSE_COLOURS[g % len(GLIMPSE_COLOURS)], lw=2)
        ax.set(xticks=[], yticks=[])
        ax.set_title(f"g{g}", fontsize=8)
    fig.text(0.99, 0.3, f"what the classifier reads: {pixels.numel()} pixels", ha="right",
             fontsize=8)


def glimpse_browser(model, data, count: int = 200, seed: int = 0) -> w.VBox:
    """Browse the first ``count`` images of ``data`` (indexable: ``data[rows]`` is (images,
    labels), e.g. a :class:`~hyperlib.data.ClutteredMNIST`) through the eyes of a
    :class:`~hyperlib.attention.GlimpseClassifier`: choose all, the correctly or the wrongly
    classified images, and one of them; see :func:`draw_look`."""
    model.eval()
    device = next(model.parameters()).device
    x, y = data[torch.arange(min(count, len(data)))]
    with torch.no_grad():
        predicted = torch.cat([model(chunk.to(device)).argmax(1).cpu() for chunk in x.split(500)])
        seen = model.glimpse.look(x.to(device), torch.Generator(device).manual_seed(seed))
    seen = {key: value.cpu() for key, value in seen.items()}
    right = predicted == y
    groups = {"all": torch.arange(len(y)), "correct": right.nonzero()[:, 0],
              "wrong": (~right).nonzero()[:, 0]}
    show = w.Dropdown(options=[(f"{name} ({len(rows)})", name) for name, rows in groups.items()],
                      value="all", description="show")
    image = w.IntSlider(value=0, min=0, max=len(y) - 1, description="image",
                        continuous_update=False)

    def limit(change: dict) -> None:  # the slider spans the chosen group
        image.max = max(len(groups[change["new"]]) - 1, 0)

    show.observe(limit, names="value")  # registered first: runs before the redraw

    def draw(fig: Figure, show: str, image: int) -> None:
        rows = groups[show]
        if len(rows) == 0:
            fig.text(0.5, 0.5, f"no {show} images among the first {len(y)}", ha="center")
            return
        j = min(image, len(rows) - 1)
        i = int(rows[j])
        draw_look(fig, x[i], seen, i, label=int(y[i]), predicted=int(predicted[i]))
        fig.suptitle(f"{show}: {j + 1} of {len(rows)} (image {i})", fontsize=9)

    return _widget([show, image], draw, (10, 4))
