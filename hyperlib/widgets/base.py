"""Rendering shared by the widgets: a bare Figure to PNG, controls above an image, grids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from io import BytesIO

import ipywidgets as w
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def render(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (Agg). The figure is cleared afterwards."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    fig.clear()
    return buffer.getvalue()


def figure_widget(
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


def draw_grid(ax: Axes, size: int, dot: float = 3, colour: str = "0.8") -> None:
    """The size x size integer index positions as small dots."""
    grid = torch.cartesian_prod(torch.arange(size), torch.arange(size))  # (size^2, 2)
    ax.scatter(grid[:, 0], grid[:, 1], s=dot, color=colour)


def slider(key: str, value: float, low: float, high: float, step: float) -> w.FloatSlider:
    return w.FloatSlider(
        value=value, min=low, max=high, step=step, description=key, continuous_update=False
    )


def int_slider(key: str, value: int, low: int, high: int) -> w.IntSlider:
    return w.IntSlider(value=value, min=low, max=high, description=key, continuous_update=False)
