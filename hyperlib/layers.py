"""Sparse hyperlayers as ``nn.Module``s.

:class:`HyperLayer` is the base. A subclass supplies a hypernetwork ``hyper(x)`` that returns
*raw* (unconstrained) numbers for k continuous index tuples; the base turns them into tuples,

    mu = sigmoid(a) * (size - 1),   sigma = softplus(rho + 2) * size * sigma_scale + min_sigma,
    v = raw value,

(see :mod:`hyperlib.sampling`), then into a sparse tensor of shape ``out_shape + in_shape``,
and multiplies the input with it (see :mod:`hyperlib.contract`).

``hyper`` returns either

* per instance (adaptive): a (b, k, r), rho (b, k), v (b, k): each instance gets its own
  sparse tensor (attention, sorting); or
* shared (non-adaptive): a (k, r), rho (k,), v (k,): one sparse tensor for the whole batch,
  sampled once per step, which is much cheaper. :class:`SparseLayer` does this with free
  parameters.

r counts the *learned* index columns ``learn_cols``; the other columns come from a fixed
integer ``template`` of shape (k, R) (e.g. each output unit gets its own tuples).

``train()``: each tuple becomes m = 2^r + g + l weighted integer tuples (differentiable in
mu, sigma and v), or, with ``grid=q``, a grid of q^r boxes over mu +- 3 sigma that carry the
Gaussian's mass (:func:`hyperlib.sampling.boxes`, :func:`hyperlib.contract.contract_profiles`).
``eval()``: exactly sparse, one connection per tuple at round(mu) with
value v.

Checks: shapes, dtypes and devices are checked on every call (free: no synchronisation).
Whether the hypernetwork's numbers are finite is checked too when ``check_finite`` is True
(the default); that costs one host-device synchronisation per forward pass on a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyperlib import checks, sampling
from hyperlib.contract import (
    contract,
    contract_dense,
    contract_profiles,
    densify,
    densify_profiles,
)

POOLINGS = ("fixed", "sorted", "random", "window")


def check_input(x: Tensor, in_shape: tuple[int, ...], device: torch.device) -> None:
    """Refuse, with a clear message, anything but a float tensor x (b, *in_shape) on device."""
    checks.floating(x, "x")
    if x.dim() != len(in_shape) + 1 or tuple(x.shape[1:]) != in_shape:
        raise ValueError(f"x must have shape (b, *{in_shape}), got {tuple(x.shape)}")
    if x.device != device:
        raise ValueError(f"x is on {x.device} but the layer is on {device}")


class HyperLayer(nn.Module):
    """Base class of sparse hyperlayers: y = W(x) x (+ bias), W sparse of shape out + in.

    Args:
        in_shape, out_shape: the shapes of one input and one output instance.
        k: number of continuous index tuples.
        learn_cols: which of the R = len(out_shape) + len(in_shape) index columns are learned
            (default: all); the others are read from ``template``.
        template: (k, R) integer tensor giving the fixed columns of each tuple (its learned
            columns are ignored); required when some columns are not learned.
        g, l, region: global samples, local samples, side of the local box (in index units).
        sigma_scale, min_sigma: sigma = softplus(rho + 2) * size * sigma_scale + min_sigma.
        chunk: tuples per normalisation pool (1 = each tuple over its own samples).
        pooling: which tuples share a pool in training: "fixed", consecutive runs of ``chunk``
            tuples in their own order; "sorted", runs of tuples sorted anew every step by the
            Z-order of their rounded means (neighbours in the tensor pool together); "random",
            a random grouping drawn anew every step; "window", every tuple over the ``chunk``
            tuples around it in that Z-order (overlapping pools; chunk need not divide k).
        grid: train on a grid of q = ``grid`` boxes per learned column instead of samples:
            each tuple's value spread over q^r boxes spanning mu +- 3 sigma (side 6 sigma / q),
            each weighted by the Gaussian's mass in it (no pools; g, l and region unused).
            Linear in k whatever sigma. None (default): the samples.
        bias: add a learned dense bias of shape ``out_shape``.
        check_finite: raise a ValueError when the hypernetwork returns NaN or inf (one sync).
    """

    def __init__(
        self,
        in_shape: int | Sequence[int],
        out_shape: int | Sequence[int],
        k: int,
        *,
        learn_cols: Sequence[int] | None = None,
        template: Tensor | None = None,
        g: int = 4,
        l: int = 4,  # noqa: E741 (the paper's name)
        region: int | Sequence[int] = 4,
        sigma_scale: float = 0.1,
        min_sigma: float = 1e-3,
        chunk: int = 1,
        pooling: str = "fixed",
        grid: int | None = None,
        bias: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.in_shape = checks.shape(in_shape, "in_shape")
        self.out_shape = checks.shape(out_shape, "out_shape")
        shape = self.out_shape + self.in_shape
        self.k = checks.integer(k, "k (the number of tuples)", 1)
        cols = tuple(range(len(shape))) if learn_cols is None else tuple(learn_cols)
        if any(isinstance(c, bool) or not isinstance(c, int) for c in cols):
            raise TypeError(f"learn_cols must be column numbers (ints), got {cols}")
        if not cols or len(set(cols)) != len(cols) or not set(cols) <= set(range(len(shape))):
            raise ValueError(f"learn_cols must be distinct columns in 0..{len(shape) - 1}: {cols}")
        self.learn_cols, self.size = cols, tuple(shape[c] for c in cols)
        self.register_buffer("template", self._template(template, shape))  # (k, R)
        checks.integer(g, "g", 0)
        checks.integer(l, "l", 0)
        checks.region(region, self.size)
        (checks.window if pooling == "window" else checks.chunk)(chunk, self.k)
        checks.positive(sigma_scale, "sigma_scale")
        checks.positive(min_sigma, "min_sigma")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if grid is not None:
            checks.integer(grid, "grid (boxes per column)", 1)
            if chunk > 1:
                raise ValueError("a grid of boxes replaces the samples: pool them (chunk > 1) "
                                 "or use the grid")
        self.g, self.l, self.region, self.chunk, self.pooling = g, l, region, chunk, pooling
        self.grid = grid
        self.sigma_scale, self.min_sigma, self.check_finite = sigma_scale, min_sigma, check_finite
        self.register_buffer("learned", torch.tensor(cols))  # (r,)
        self.bias = nn.Parameter(torch.zeros(self.out_shape)) if bias else None

    def _template(self, template: Tensor | None, shape: tuple[int, ...]) -> Tensor:
        if template is None:
            if len(self.learn_cols) < len(shape):
                raise ValueError("template is required when learn_cols leaves columns fixed")
            return torch.zeros(self.k, len(shape), dtype=torch.long)
        if not isinstance(template, Tensor) or template.is_floating_point():
            raise TypeError(f"template must be an integer tensor, got {template!r:.80}")
        if tuple(template.shape) != (self.k, len(shape)):
            raise ValueError(
                f"template must have shape (k, R) = ({self.k}, {len(shape)}), "
                f"got {tuple(template.shape)}"
            )
        fixed = [c for c in range(len(shape)) if c not in self.learn_cols]
        column = template.long().cpu()[:, fixed]  # (k, R - r)
        if ((column < 0) | (column >= torch.tensor([shape[c] for c in fixed]))).any():
            raise ValueError(f"template's fixed columns must lie inside the shape {shape}")
        return template.long().clone()

    @property
    def rank(self) -> int:
        """R, the rank of the sparse tensor (number of index columns)."""
        return len(self.out_shape) + len(self.in_shape)

    def hyper(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw tuples for input x (b, *in_shape): a (b, k, r), rho (b, k), v (b, k), or shared
        a (k, r), rho (k,), v (k,). Subclasses implement it."""
        raise NotImplementedError

    def tuples(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The continuous tuples for input x: means (.., k, r), sigmas (.., k, r), values (.., k),
        where .. is (b,) for an adaptive layer and () for a shared one."""
        check_input(x, self.in_shape, self.template.device)
        raw_means, raw_sigmas, values = self.hyper(x)
        self._check_raw(raw_means, raw_sigmas, values, x)
        means = sampling.transform_means(raw_means, self.size)
        sigmas = sampling.transform_sigmas(raw_sigmas, self.size, self.sigma_scale, self.min_sigma)
        return means, sigmas, values

    def _check_raw(self, means: Tensor, sigmas: Tensor, values: Tensor, x: Tensor) -> None:
        r, k = len(self.size), self.k
        raw = {"means": means, "sigmas": sigmas, "values": values}
        for name, tensor in raw.items():
            if not isinstance(tensor, Tensor) or not tensor.is_floating_point():
                raise TypeError(f"hyper() must return floating-point tensors; {name} is not")
        prefix = (k,) if means.dim() == 2 else (x.size(0), k)  # shared or per instance
        expected = {"means": (*prefix, r), "sigmas": prefix, "values": prefix}
        for name, tensor in raw.items():
            if tuple(tensor.shape) != expected[name]:
                raise ValueError(
                    f"hyper() returned {name} of shape {tuple(tensor.shape)}, expected "
                    f"{expected[name]} (k = {k}, r = {r} learned columns)"
                )
            if tensor.device != x.device or tensor.dtype != x.dtype:
                raise TypeError(
                    f"hyper() returned {name} as {tensor.dtype} on {tensor.device}, but x is "
                    f"{x.dtype} on {x.device}; move the layer with .to(x)"
                )
        if self.check_finite:
            checks.finite(raw, "hyper() returned")  # the one host-device synchronisation

    def sparse(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The sparse tensor for input x as entries: indices (.., n, R) long, weights (.., n).

        Training: n = k * m sampled entries (m = chunk * (2^r + g + l)), each tuple's weights
        normalised over its pool; with ``pooling`` other than "fixed" the tuples come in their
        pooling order. Evaluation: n = k entries at round(mu) with weight v.
        """
        if self.training and self.grid:
            raise ValueError("a layer with a grid trains on boxes, not entries: see profiles()")
        means, sigmas, values = self.tuples(x)
        template = self.template  # (k, R), or (.., k, R) when the tuples are regrouped
        if self.training and self.chunk > 1 and self.pooling != "fixed":
            order = self._grouping(means, generator).unsqueeze(-1)  # (.., k, 1)
            means, sigmas = means.take_along_dim(order, -2), sigmas.take_along_dim(order, -2)
            values = values.take_along_dim(order[..., 0], -1)
            template = self.template[order[..., 0]]
        if self.training:
            samples = sampling.sample(means, self.size, self.g, self.l, self.region, generator)
            pooled = sampling.window if self.pooling == "window" else sampling.pool
            samples = pooled(samples, self.chunk)  # (.., k, m, r)
            weights = sampling.weights(samples, means, sigmas, values, self.size)  # (.., k, m)
        else:
            samples = means.detach().round().long().unsqueeze(-2)  # (.., k, 1, r)
            weights = values.unsqueeze(-1)  # (.., k, 1)
        indices = self._assemble(samples, template)  # (.., k, m, R)
        return indices.flatten(-3, -2), weights.flatten(-2)

    def profiles(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The training tensor of a layer with ``grid`` = q: per tuple and column, q pieces
        lower, upper (.., k, R, q) long and their heights (.., k, R, q) (see
        :func:`~hyperlib.contract.contract_profiles`). A learned column's pieces are the boxes
        of :func:`~hyperlib.sampling.boxes`, each of height mass / width (the value times it
        in the first learned column); a template column has one piece [t, t + 1) of height 1.
        The grids' random shifts come from ``generator`` when given."""
        means, sigmas, values = self.tuples(x)
        lower, upper, mass = sampling.boxes(means, sigmas, self.size, self.grid, generator)
        heights = mass / (upper - lower).clamp(min=1)  # (.., k, r, q)
        scaled = heights[..., :1, :] * values[..., None, None]  # the value, in the first column
        heights = torch.cat([scaled, heights[..., 1:, :]], -2)
        first = torch.arange(self.grid, device=x.device) == 0  # (q,)
        fixed = self.template.expand(*means.shape[:-1], self.rank).unsqueeze(-1)  # (.., k, R, 1)
        fixed = fixed.expand(*fixed.shape[:-1], self.grid)  # a fixed column's piece 0: its entry
        pieces = (fixed, fixed + first, first.to(heights.dtype).expand(fixed.shape))
        learned = (lower, upper, heights)  # into the learned columns
        pairs = zip(pieces, learned, strict=True)
        return tuple(piece.index_copy(-2, self.learned, column) for piece, column in pairs)

    def _grouping(self, means: Tensor, generator: torch.Generator | None) -> Tensor:
        """The order (.., k) in which consecutive runs of ``chunk`` tuples form the pools."""
        if self.pooling in ("sorted", "window"):
            key = sampling.z_order(means.detach().round().long(), self.size)  # (.., k)
            return key.argsort(dim=-1, stable=True)
        scores = torch.rand(means.shape[:-1], generator=generator, device=means.device)
        return scores.argsort(dim=-1)  # a uniformly random permutation per instance

    def _assemble(self, samples: Tensor, template: Tensor) -> Tensor:
        """Learned columns from samples (.., k, m, r), the others from template (.., k, R)."""
        if self.learn_cols == tuple(range(self.rank)):
            return samples  # every column learned: nothing to copy
        *prefix, k, m, _ = samples.shape
        full = template.unsqueeze(-2).expand(*prefix, k, m, self.rank)  # (.., k, m, R)
        return full.index_copy(-1, self.learned, samples)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """y = W x (+ bias): x (b, *in_shape) -> (b, *out_shape), by gather + scatter-add, or
        in training with a ``grid`` by summed-area tables (see :func:`contract_profiles`)."""
        if self.training and self.grid:
            y = contract_profiles(*self.profiles(x, generator), x, self.out_shape)
            return y if self.bias is None else y + self.bias
        indices, weights = self.sparse(x, generator)
        shared = self.pooling != "window"  # every tuple of a pool has the same entries
        if self.training and self.chunk > 1 and shared and len(self.learn_cols) == self.rank:
            indices, weights = self._merge_pools(indices, weights)
        y = contract(indices, weights, x, self.out_shape)
        return y if self.bias is None else y + self.bias

    def _merge_pools(self, indices: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Without template columns, every tuple of a chunk has the same entries (the pool):
        add their weights first, so the contraction moves chunk times fewer entries.

        indices (.., k * M, R), weights (.., k * M) -> (.., k / chunk * M, R), (.., k / chunk * M)
        with M = chunk * m. The same sparse tensor: repeated entries add up either way.
        """
        shape = (self.k // self.chunk, self.chunk, -1)  # (pools, chunk, M)
        indices = indices.unflatten(-2, shape)[..., 0, :, :].flatten(-3, -2)
        return indices, weights.unflatten(-1, shape).sum(-2).flatten(-2)

    def dense(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The sparse tensor as a dense one: (b, *out_shape, *in_shape), or without b if shared.

        For small sizes only: a reference to check the fast path against."""
        if self.training and self.grid:
            return densify_profiles(*self.profiles(x, generator), self.out_shape + self.in_shape)
        return densify(*self.sparse(x, generator), self.out_shape + self.in_shape)

    def forward_dense(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Reference forward pass through the dense tensor; equals forward() for one generator
        state (same samples)."""
        y = contract_dense(self.dense(x, generator), x, self.out_shape)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, out_shape={self.out_shape}, k={self.k}, "
            f"learn_cols={self.learn_cols}, g={self.g}, l={self.l}, region={self.region}, "
            f"sigma_scale={self.sigma_scale}, chunk={self.chunk}, grid={self.grid}, "
            f"bias={self.bias is not None}"
        )


class SparseLayer(HyperLayer):
    """A non-adaptive sparse layer: k tuples as free parameters, shared by the whole batch.

    One index set per step serves every instance: y[:, out] += w * x[:, in]. Raw means start
    N(0, 1) (means spread around the middle of the tensor), raw sigmas 0, values N(0, 1), or
    fixed to 1 with ``learn_values=False``. Other arguments as for :class:`HyperLayer`.
    """

    def __init__(
        self,
        in_shape: int | Sequence[int],
        out_shape: int | Sequence[int],
        k: int,
        *,
        learn_values: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(in_shape, out_shape, k, **kwargs)
        self.raw_means = nn.Parameter(torch.randn(k, len(self.size)))  # (k, r)
        self.raw_sigmas = nn.Parameter(torch.zeros(k))  # (k,)
        if learn_values:
            self.values = nn.Parameter(torch.randn(k))  # (k,)
        else:
            self.register_buffer("values", torch.ones(k))

    def hyper(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The free parameters, whatever x: a (k, r), rho (k,), v (k,)."""
        return self.raw_means, self.raw_sigmas, self.values

    @torch.no_grad()
    def place(self, tuples: Tensor, entries: Tensor, sigma: float) -> None:
        """Move tuples (j,) long onto the integer entries (j, r) of the learned columns: their
        means round to the entries (a quarter index inside the range at its ends, which the
        sigmoid only reaches in the limit) and their sigma is ``sigma`` (> min_sigma) in the
        smallest learned column. The values stay. The inverse of the transforms above."""
        sigma = checks.positive(sigma, "sigma")
        if sigma <= self.min_sigma:
            raise ValueError(f"sigma must exceed min_sigma = {self.min_sigma}, got {sigma}")
        sizes = sampling.constant(self.size, entries.device, torch.float64)  # (r,)
        means = entries.to(sizes.dtype).minimum(sizes - 1.25).clamp(min=0.25)  # (j, r)
        fraction = (means / (sizes - 1).clamp(min=1)).clamp(1e-6, 1 - 1e-6)
        spread = (sigma - self.min_sigma) / (self.sigma_scale * min(self.size))
        raw_sigma = math.log(math.expm1(spread)) - sampling.SIGMA_BOOST  # softplus's inverse
        self.raw_means[tuples] = fraction.logit().to(self.raw_means.dtype)
        self.raw_sigmas[tuples] = raw_sigma


def output_template(out_shape: Sequence[int], in_rank: int, per_output: int) -> Tensor:
    """A template that gives every output position ``per_output`` tuples of its own.

    (k, R) long with k = prod(out_shape) * per_output; the output columns enumerate the
    output positions (row-major), the input columns are zero (to be learned):
    use it with ``learn_cols = range(len(out_shape), len(out_shape) + in_rank)``.
    """
    out_shape = checks.shape(out_shape, "out_shape")
    in_rank = checks.integer(in_rank, "in_rank", 1)
    per_output = checks.integer(per_output, "per_output", 1)
    grid = torch.cartesian_prod(*[torch.arange(s) for s in out_shape]).view(-1, len(out_shape))
    outputs = grid.repeat_interleave(per_output, dim=0)  # (k, len(out_shape))
    return torch.cat([outputs, outputs.new_zeros(len(outputs), in_rank)], dim=1)
