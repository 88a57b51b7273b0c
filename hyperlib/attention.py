"""Sparse attention for image classification: glimpse hyperlayers (the paper's experiment).

A *glimpse* reads k x k points of an image. G glimpses of an image with C channels form one
sparse tensor W of shape ``(G, C, k, k) + (C, H, W)`` (rank 7): the tuple of output unit
(g, c, i, j) reads input (c, h, w). Its first six columns come from a fixed template (the
glimpse, the channel, the point, and the same channel in the input); only (h, w) is learned,
so r = 2 and each tuple has m = 4 + g + l samples in training.

Where a glimpse's points go, for image x (hypernetwork per image, template shared):

* the *locator*, a small CNN reading a downsampled copy of x, gives glimpse g a box: a
  position p and a side s in (0, 1)^2 (sigmoids of its outputs, one number per axis):
  ``corner = (1 - s) p (size - 1)``, ``extent = s (size - 1)``, so the box
  [corner, corner + extent] always lies inside the image;
* the *template*: each of the glimpse's k x k points has a learned place t in (0, 1)^2 inside
  the box (a sigmoid of a free parameter; it starts as an even k x k grid);
* the point's mean is ``mu = corner + extent * t``, a convex combination of coordinates that lie
  inside the image, so mu does too, with no further squashing. That is why this layer
  overrides :meth:`GlimpseLayer.tuples` rather than ``hyper``: the base class would send raw
  means through its own sigmoid;
* one sigma per glimpse (a free parameter, transformed as in every hyperlayer:
  softplus(raw + 2) * size * sigma_scale + min_sigma); values fixed to 1 (a glimpse copies
  pixels, the default) or learned, one per point.

In evaluation mode the layer is exactly sparse: every point reads the one pixel at round(mu).
The classifiers of the attention experiment share one interface: :class:`ImageClassifier`
(images (b, C, H, W) of one size -> logits (b, classes)); :class:`GlimpseClassifier` is the
model of the paper, :class:`BoxesClassifier` its control without pixels, the others are its
baselines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperlib import checks, sampling
from hyperlib.layers import HyperLayer, check_input

VIEW = 28  # the locator reads images averaged down to VIEW x VIEW (when they are larger)


def glimpse_template(glimpses: int, channels: int, k: int) -> Tensor:
    """The fixed columns of the glimpse tensor: (G C k k, 7) long, one row per output unit
    (g, c, i, j) in row-major order, followed by its input channel c and (h, w) = (0, 0), the
    columns to be learned."""
    checks.counts(glimpses=glimpses, channels=channels, k=k)
    out = torch.cartesian_prod(*[torch.arange(s) for s in (glimpses, channels, k, k)])
    return torch.cat([out, out[:, 1:2], torch.zeros_like(out[:, :2])], dim=1)


def grid(k: int) -> Tensor:
    """An even k x k grid in the unit square, (k k, 2): the cell centres (i + 1/2) / k."""
    k = checks.integer(k, "k", 1)
    ticks = (torch.arange(k) + 0.5) / k
    return torch.cartesian_prod(ticks, ticks).view(k * k, 2)


class ConvNet(nn.Sequential):
    """A small CNN: images (b, C, H, W) -> (b, outputs).

    With ``view`` (at least 4) it first averages the image down to view x view (a low-resolution
    look, as the locator takes), without it reads the image at full size. Then two 5 x 5
    convolutions (16 and 32 channels), each with ReLU and 2 x 2 max pooling, an adaptive max
    pooling to 7 x 7 (so the parameter count does not depend on the image size), a hidden layer
    of ``hidden`` ReLUs and a linear output.
    """

    def __init__(self, channels: int, outputs: int, view: int | None = None, hidden: int = 64):
        checks.counts(channels=channels, outputs=outputs, hidden=hidden)
        # the two 2 x 2 poolings need at least 4 x 4
        first = [] if view is None else [nn.AdaptiveAvgPool2d(checks.integer(view, "view", 4))]
        super().__init__(
            *first,
            nn.Conv2d(channels, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveMaxPool2d(7), nn.Flatten(),
            nn.Linear(32 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, outputs),
        )


def _locator(channels: int, outputs: int, view: int, height: int, width: int) -> ConvNet:
    """A :class:`ConvNet` on a view x view copy of images of height x width (or on the images
    themselves when they are no larger)."""
    return ConvNet(channels, outputs, view if view < max(height, width) else None)


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """Flatten, one hidden layer of ReLUs, linear output: (b, ...) with ``inputs`` numbers per
    instance -> (b, outputs). The classifier of every model here."""
    checks.counts(inputs=inputs, hidden=hidden, outputs=outputs)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


def place_boxes(raw: Tensor, size: Sequence[int]) -> Tensor:
    """Boxes from a locator's raw numbers: (b, 4 G) -> (b, G, 2, 2), [..., 0, :] the top-left
    corner (row, column) and [..., 1, :] the extent (height, width), in pixels of images of
    ``size`` (H, W). A sigmoid gives each axis a position and a side in (0, 1); the box is that
    side's share of the image, placed so that it stays inside."""
    b = raw.size(0)
    raw = raw.view(b, raw.size(1) // 4, 2, 2)  # (b, G, [position, side], 2)
    position, side = raw.sigmoid().unbind(-2)  # (b, G, 2) each
    top = sampling.constant(size, raw.device, raw.dtype) - 1  # (2,): size - 1
    return torch.stack([(1 - side) * position * top, side * top], dim=-2)


def box_points(boxes: Tensor, unit: Tensor) -> Tensor:
    """Points placed in boxes: boxes (b, G, 2, 2) (corner and extent, see :func:`place_boxes`)
    and positions ``unit`` in the unit square, (n, 2) or (G, n, 2) -> (b, G, n, 2) pixels,
    corner + extent * unit. The glimpse layer's means and the box STN's reads."""
    corner, extent = boxes.unsqueeze(2).unbind(-2)  # (b, G, 1, 2) each
    return corner + extent * unit


class GlimpseLayer(HyperLayer):
    """G glimpses of k x k points: images (b, C, H, W) -> glimpses (b, G, C, k, k).

    Args:
        in_shape: (C, H, W) of the images.
        glimpses, k: G glimpses of k x k points each (the paper: G = 4, k = 3).
        locator: the hypernetwork, images (b, C, H, W) -> (b, 4 G) raw box numbers (position
            and side per axis); default a :class:`ConvNet` on a ``view`` x ``view`` copy.
        learn_values: learn one value per point (default: every value fixed to 1).
        g, l, region, sigma_scale, min_sigma, check_finite: as for
            :class:`~hyperlib.layers.HyperLayer` (the paper: g = l = 8, region 8); the finite
            check covers the locator's output and the layer's own parameters.

    ``self.k`` is the hyperlayer's number of tuples, G C k k; the glimpse side is ``side``.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        glimpses: int = 4,
        k: int = 3,
        *,
        locator: nn.Module | None = None,
        view: int = VIEW,
        learn_values: bool = False,
        g: int = 8,
        l: int = 8,  # noqa: E741 (the paper's name)
        region: int = 8,
        sigma_scale: float = 0.1,
        min_sigma: float = 1e-3,
        check_finite: bool = True,
    ) -> None:
        channels, height, width = checks.shape(in_shape, "in_shape (C, H, W)", 3)
        glimpses, k = checks.counts(glimpses=glimpses, k=k)
        super().__init__(
            (channels, height, width), (glimpses, channels, k, k), glimpses * channels * k * k,
            learn_cols=(5, 6), template=glimpse_template(glimpses, channels, k), g=g, l=l,
            region=region, sigma_scale=sigma_scale, min_sigma=min_sigma,
            check_finite=check_finite,
        )
        self.glimpses, self.side = glimpses, k
        if locator is None:
            locator = _locator(channels, 4 * glimpses, view, height, width)
        self.locator = locator
        self.raw_points = nn.Parameter(grid(k).logit().repeat(glimpses, 1, 1))  # (G, k k, 2)
        self.raw_sigmas = nn.Parameter(torch.zeros(glimpses))  # (G,)
        values = torch.ones(glimpses, k * k)  # (G, k k)
        if learn_values:
            self.values = nn.Parameter(values)
        else:
            self.register_buffer("values", values)

    def boxes(self, x: Tensor) -> Tensor:
        """Each glimpse's box for images x (b, C, H, W): (b, G, 2, 2), [..., 0, :] the top-left
        corner (row, column) and [..., 1, :] the extent (height, width), in pixels."""
        raw = self.locator(x)  # (b, 4 G)
        if self.check_finite:  # NaN here would become garbage pixel indices in evaluation
            own = {"raw_points": self.raw_points, "raw_sigmas": self.raw_sigmas}
            checks.finite({"the locator's output": raw, **own, "values": self.values},
                          "the glimpse layer found")  # the one host-device synchronisation
        return place_boxes(raw, self.size)

    def _means(self, boxes: Tensor) -> Tensor:
        """The points' means for boxes (b, G, 2, 2): (b, G, k k, 2), inside the image."""
        return box_points(boxes, self.raw_points.sigmoid())

    def _sigmas(self) -> Tensor:
        """One standard deviation per glimpse and axis: (G, 2)."""
        return sampling.transform_sigmas(
            self.raw_sigmas, self.size, self.sigma_scale, self.min_sigma
        )

    def _check(self, x: Tensor) -> None:
        check_input(x, self.in_shape, self.template.device)
        if x.dtype != self.raw_points.dtype:
            raise TypeError(f"x is {x.dtype} but the layer is {self.raw_points.dtype}: .to(x)")

    def tuples(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The continuous tuples for images x (b, C, H, W): means (b, K, 2), sigmas (b, K, 2),
        values (b, K), K = G C k k in template order (every channel reads the same points)."""
        self._check(x)
        (b, c), (big_g, kk) = x.shape[:2], self.values.shape
        means = self._means(self.boxes(x))[:, :, None].expand(b, big_g, c, kk, 2)
        sigmas = self._sigmas()[None, :, None].expand(b, big_g, c * kk, 2)
        values = self.values[None, :, None].expand(b, big_g, c, kk)
        return means.reshape(b, self.k, 2), sigmas.reshape(b, self.k, 2), values.reshape(b, self.k)

    @torch.no_grad()
    def look(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Where the glimpses read images x (b, C, H, W), for pictures:

        * ``boxes``   (b, G, 2, 2): corner and extent in pixels (see :meth:`boxes`),
        * ``means``   (b, G, k k, 2): the points' continuous positions (row, column),
        * ``points``  (b, G, k k, 2) long: the pixels evaluation mode reads, round(means),
        * ``sigmas``  (G, 2): each glimpse's standard deviation per axis,
        * ``samples`` (b, G, k k, m, 2) long and ``weights`` (b, G, k k, m): what one training
          step would read, each point's m = 4 + g + l samples and their normalised weights.
        """
        self._check(x)
        boxes = self.boxes(x)
        means, sigmas = self._means(boxes), self._sigmas()
        samples = sampling.sample(means, self.size, self.g, self.l, self.region, generator)
        weights = sampling.weights(
            samples, means, sigmas[:, None].expand_as(means), self.values.expand(means.shape[:-1]),
            self.size,
        )
        return {"boxes": boxes, "means": means, "points": means.round().long(), "sigmas": sigmas,
                "samples": samples, "weights": weights}


class ImageClassifier(nn.Module):
    """Images (b, C, H, W) of one size -> class logits (b, classes). Subclasses implement
    :meth:`logits`; ``forward`` checks the input first (shape, device, dtype)."""

    def __init__(self, in_shape: Sequence[int]) -> None:
        super().__init__()
        self.in_shape = checks.shape(in_shape, "in_shape (C, H, W)", 3)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def param_groups(self, lr: float) -> list[dict]:
        """The optimiser's parameter groups at learning rate ``lr``: every parameter at ``lr``
        (models whose parts learn at other rates override this)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Logits (b, classes) for images x (b, C, H, W); ``generator`` feeds the random
        numbers of models that sample in training (the glimpse model)."""
        parameter = next(self.parameters())
        check_input(x, self.in_shape, parameter.device)
        if x.dtype != parameter.dtype:
            raise TypeError(f"x is {x.dtype} but the model is {parameter.dtype}: use .to(x)")
        return self.logits(x, generator)


class GlimpseClassifier(ImageClassifier):
    """The paper's attention model: a :class:`GlimpseLayer` reads G k x k glimpses, an MLP
    with ``hidden`` ReLUs classifies their G C k k values. ``options`` go to the layer."""

    def __init__(
        self, in_shape: Sequence[int], classes: int = 10, glimpses: int = 4, k: int = 3,
        hidden: int = 64, **options,
    ) -> None:
        super().__init__(in_shape)
        checks.counts(classes=classes, hidden=hidden)
        self.glimpse = GlimpseLayer(self.in_shape, glimpses, k, **options)
        self.classify = mlp(glimpses * self.in_shape[0] * k * k, hidden, classes)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.classify(self.glimpse(x, generator))


class BoxesClassifier(ImageClassifier):
    """Control: the glimpse model without its pixels. The same locator CNN (on the ``view`` x
    ``view`` copy) places G boxes; the same MLP classifies only their 4 G numbers (corner and
    extent per axis, as fractions of the image's side), so whatever it gets right, the locator's
    view got right."""

    def __init__(
        self, in_shape: Sequence[int], classes: int = 10, glimpses: int = 4, hidden: int = 64,
        view: int = VIEW,
    ) -> None:
        super().__init__(in_shape)
        checks.counts(classes=classes, glimpses=glimpses, hidden=hidden, view=view)
        channels, height, width = self.in_shape
        self.locator = _locator(channels, 4 * glimpses, view, height, width)
        self.classify = mlp(4 * glimpses, hidden, classes)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        size = self.in_shape[1:]
        boxes = place_boxes(self.locator(x), size)  # (b, G, 2, 2) in pixels
        return self.classify(boxes / (sampling.constant(size, x.device, x.dtype) - 1))


TRANSFORMS = ("affine", "box")  # the spatial transformer's maps


class SpatialTransformer(ImageClassifier):
    """Baseline: the glimpse model with each glimpse read by a spatial transformer
    (Jaderberg et al. 2015).

    The same locator CNN (on the ``view`` x ``view`` copy) gives every glimpse a map from a
    k x k grid to the image, and ``grid_sample`` reads the grid's points by bilinear
    interpolation (each read mixes 4 pixels: a dense gradient, no sampling); each point is the
    mean of ``supersample`` x ``supersample`` reads over its cell, and the same MLP classifies
    the G C k k values. The map (``transform``) is

    * ``"affine"``: 6 free numbers per glimpse (the authors' general STN). As they train it,
      the localisation network starts at the identity (its last layer's weights zero, its bias
      the identity: every glimpse reads the whole image); it can move the grid off the image,
      where every read is 0 and no gradient brings it back;
    * ``"box"``: the glimpse model's own box (:func:`place_boxes`: a position and a side per
      axis, inside the image by construction; the STN paper's attention-restricted scale and
      translation), started at a centred box of 88 % of each side (raw side 2). Then the two
      models differ only in how they read their points.

    The localisation network learns at ``locator_lr`` times the model's learning rate (see
    :meth:`param_groups`).
    """

    def __init__(
        self, in_shape: Sequence[int], classes: int = 10, glimpses: int = 4, k: int = 3,
        hidden: int = 64, view: int = VIEW, locator_lr: float = 1.0, supersample: int = 16,
        transform: str = "affine",
    ) -> None:
        super().__init__(in_shape)
        checks.counts(classes=classes, glimpses=glimpses, k=k, hidden=hidden, view=view)
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        self.locator_lr = checks.positive(locator_lr, "locator_lr")
        channels, height, width = self.in_shape
        self.glimpses, self.side, self.transform = glimpses, k, transform
        self.supersample = checks.integer(supersample, "supersample", 1)
        start = (torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]) if transform == "affine"
                 else torch.tensor([0.0, 0.0, 2.0, 2.0]))  # the identity; position 0, side 2
        self.locator = _locator(channels, len(start) * glimpses, view, height, width)
        with torch.no_grad():
            self.locator[-1].weight.zero_()
            self.locator[-1].bias.copy_(start.repeat(glimpses))
        self.classify = mlp(glimpses * channels * k * k, hidden, classes)

    def param_groups(self, lr: float) -> list[dict]:
        """The localisation network at ``lr * locator_lr``, the classifier at ``lr``."""
        return [{"params": list(self.locator.parameters()), "lr": lr * self.locator_lr},
                {"params": list(self.classify.parameters()), "lr": lr}]

    def _points(self, x: Tensor, side: int) -> Tensor:
        """Where each glimpse reads images x (b, C, H, W): (b G, side, side, 2), the points'
        (x, y) in grid_sample's coordinates (-1 and 1 the outer edges of the outer pixels)."""
        b, raw = x.size(0), self.locator(x)
        if self.transform == "affine":
            theta = raw.view(b * self.glimpses, 2, 3)
            if b == 0:  # F.affine_grid refuses an empty batch
                return theta.new_zeros(0, side, side, 2)
            return F.affine_grid(theta, [b * self.glimpses, 1, side, side], align_corners=False)
        boxes = place_boxes(raw, self.in_shape[1:])  # (b, G, 2, 2)
        rows_cols = box_points(boxes, grid(side).to(raw))  # (b, G, side side, 2) in pixels
        size = sampling.constant(self.in_shape[1:], raw.device, raw.dtype)  # (2,): H, W
        xy = ((2 * rows_cols + 1) / size - 1).flip(-1)  # pixel centres; (row, col) -> (x, y)
        return xy.reshape(b * self.glimpses, side, side, 2)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        b, side = x.size(0), self.side * self.supersample  # s k points a side
        points = self._points(x, side).view(b, self.glimpses * side, side, 2)  # glimpses stacked
        read = F.grid_sample(x, points, align_corners=False)  # (b, C, G s k, s k)
        return self.classify(F.avg_pool2d(read, self.supersample))  # from (b, C, G k, k)


class ConvClassifier(ImageClassifier):
    """Baseline: a :class:`ConvNet` reading the whole image at full resolution (about the
    glimpse model's parameter count: its locator is the same network)."""

    def __init__(self, in_shape: Sequence[int], classes: int = 10, hidden: int = 64) -> None:
        super().__init__(in_shape)
        checks.counts(classes=classes, hidden=hidden)
        self.net = ConvNet(self.in_shape[0], classes, hidden=hidden)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.net(x)


class MLPClassifier(ImageClassifier):
    """Baseline: the glimpse model's classifier on every pixel instead of G C k k of them."""

    def __init__(self, in_shape: Sequence[int], classes: int = 10, hidden: int = 64) -> None:
        super().__init__(in_shape)
        checks.counts(classes=classes, hidden=hidden)
        self.classify = mlp(math.prod(self.in_shape), hidden, classes)

    def logits(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.classify(x)
