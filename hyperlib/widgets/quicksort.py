"""The differentiable quicksort depth by depth: splits, candidates and the mix (notebook 06)."""

from __future__ import annotations

import math

import ipywidgets as w
import matplotlib
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperlib import sort
from hyperlib.widgets.base import figure_widget, int_slider


def quicksort_steps(
    keys: Tensor,
    certainty: float = 10.0,
    candidates: int = 8,
    seed: int = 0,
    proposal: str = "swaps",
) -> list[dict[str, Tensor]]:
    """The split layers of a training-mode :class:`~hyperlib.sort.SortLayer` on one list.

    keys (s,), s a power of two; uniform candidates come from
    ``torch.Generator().manual_seed(seed)`` (swaps draw nothing),
    so the last ``mix`` is the layer's soft permutation matrix. One dict per depth d (n = 2^d
    buckets of h = s / n items, m candidates): keys (s,) entering the depth, median (n,), splits
    (n, m, h) bool (row 0 the hard split), probs (n, m), sorted (s,), and mix (s, s), the
    composed mix after this depth (:meth:`~hyperlib.sort.SortLayer.soft_steps` for one list).
    """
    layer = sort.SortLayer(
        keys.numel(), certainty=certainty, candidates=candidates, proposal=proposal
    )
    generator = torch.Generator().manual_seed(seed)
    return [{name: value[0] for name, value in step.items()}
            for step in layer.soft_steps(keys.reshape(1, -1), generator)]


def quicksort_list(size: int) -> Tensor:
    """The fixed list the sorting widget sorts: (size,) keys, N(0, 1), two decimals."""
    keys = torch.randn(size, generator=torch.Generator().manual_seed(2018), dtype=torch.float64)
    return keys.mul(100).round().div(100)


_BLUES = matplotlib.colormaps["Blues"].with_extremes(bad="0.8")
_LABEL = {"boxstyle": "round,pad=0.1", "fc": "w", "ec": "none", "alpha": 0.8}


def draw_quicksort(
    fig: Figure,
    certainty: float = 10.0,
    candidates: int = 8,
    seed: int = 0,
    size: int = 8,
    proposal: str = "swaps",
) -> None:
    """A training-mode quicksort of one fixed list of ``size`` keys, one row per depth.

    Left: the keys entering the depth (dots, coloured by o = sigmoid(c (key - median)), the
    probability of going up), the bucket medians (lines) and bucket borders. Middle: the
    candidate half-splits, one row each (blue: sent up; the shade and the number are p(beta) in
    that bucket; grey: a repeat, p = 0). Right: the soft permutation matrix (sorted = P @
    items; its title counts the weight off the hard sort) and the hard one of evaluation mode.
    """
    keys = quicksort_list(size)  # (s,)
    steps = quicksort_steps(keys, certainty, candidates, seed, proposal)
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
        # candidates as an image: 'down' pale, 'up' shaded by p(beta), repeats grey (NaN)
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
            ax_split.set_title(f"{candidates} candidates β ({proposal}; blue: up): p(β)",
                               fontsize=9)
    distance = (soft - hard).abs().sum().item() / 2  # total weight off the hard permutation
    panels = (
        (grid[:depth, 2], soft, f"soft M, c = {certainty:.2g}: {distance:.2f} of {size} moved"),
        (grid[depth:, 2], hard, "hard sort (eval)"),
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
    certainty: float = 10.0,
    candidates: int = 8,
    seed: int = 0,
    size: int = 8,
    proposal: str = "swaps",
) -> w.VBox:
    """Choose the certainty, the number of candidates, how they are proposed and the seed of
    uniform ones: the split layers of a differentiable quicksort on one list, and its soft
    permutation."""
    controls = [
        w.FloatLogSlider(value=certainty, base=10, min=-1, max=math.log10(50), step=0.05,
                         description="certainty", continuous_update=False),
        int_slider("candidates", candidates, 1, 16),
        w.ToggleButtons(options=sort.PROPOSALS, value=proposal, description="proposal"),
        int_slider("seed", seed, 0, 99),
    ]
    return figure_widget(controls, lambda fig, **v: draw_quicksort(fig, size=size, **v), (10, 6))
