"""Where a glimpse model looks, and what its glimpses read (notebook 08)."""

from __future__ import annotations

import math

import ipywidgets as w
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from hyperlib.widgets.base import figure_widget

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

    return figure_widget([show, image], draw, (10, 4))
