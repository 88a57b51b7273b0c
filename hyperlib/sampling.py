"""From continuous index tuples to integer samples and their normalised weights.

A continuous index tuple i has a mean mu_i in R^r (r learned index columns), a standard
deviation sigma_i in R^r (one per column) and a value v_i. In training it is replaced by m
integer tuples t (its *samples*), each with a weight

    w_it = v_i * p_it / sum_t' p_it',   p_it = exp(-1/2 sum_d ((t_d - mu_id) / sigma_id)^2),

the sum running over the tuple's *distinct* samples (a repeated sample gets weight 0). The
weights of one tuple sum to v_i, and gradients reach mu and sigma through the densities p.

Shapes: ``...`` is any batch prefix, k the number of tuples, r the number of learned columns,
m = 2^r + g + l the number of samples per tuple. ``size`` is the tuple of the r learned sizes.
sigma is a standard deviation everywhere (the paper's reference code used it as a variance).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hyperlib import checks

SIGMA_BOOST = 2.0  # softplus(rho + 2): a fresh layer starts wide enough to carry density


def _check_last(tensor: Tensor, r: int, name: str) -> None:
    if tensor.dim() < 2 or tensor.size(-1) != r:
        raise ValueError(f"{name} must have shape (..., k, {r}), got {tuple(tensor.shape)}")
    if tensor.size(-2) < 1:
        raise ValueError(f"{name} holds k = 0 tuples; k must be >= 1")


def constant(values: Sequence, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """A small constant tensor on ``device`` without a host-device synchronisation.

    A plain CPU-to-CUDA copy waits for the stream; a copy from pinned memory does not.
    """
    tensor = torch.tensor(values, dtype=dtype)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _sizes(size: Sequence[int], like: Tensor) -> Tensor:
    return constant(size, like.device, like.dtype)


def transform_means(raw: Tensor, size: Sequence[int]) -> Tensor:
    """mu = sigmoid(raw) * (size - 1): any real number maps inside the index range.

    raw: (..., k, r) -> (..., k, r), each column d in [0, size[d] - 1].
    """
    size = checks.shape(size, "size")
    _check_last(checks.floating(raw, "means"), len(size), "means")
    return torch.sigmoid(raw) * (_sizes(size, raw) - 1)


def transform_sigmas(
    raw: Tensor, size: Sequence[int], sigma_scale: float = 0.1, min_sigma: float = 1e-3
) -> Tensor:
    """sigma_d = softplus(raw + 2) * size[d] * sigma_scale + min_sigma, a standard deviation.

    raw: (..., k) -> (..., k, r). One raw number per tuple, scaled by each column's size.
    min_sigma > 0 keeps sigma positive when softplus underflows (else 0 / 0 = NaN densities).
    """
    size = checks.shape(size, "size")
    checks.floating(raw, "sigmas")
    sigma_scale = checks.positive(sigma_scale, "sigma_scale")
    min_sigma = checks.positive(min_sigma, "min_sigma")
    spread = F.softplus(raw + SIGMA_BOOST) * sigma_scale  # (..., k)
    return spread.unsqueeze(-1) * _sizes(size, raw) + min_sigma


def sample(
    means: Tensor,
    size: Sequence[int],
    g: int = 4,
    l: int = 4,  # noqa: E741 (the paper's name)
    region: int | Sequence[int] = 4,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Integer samples for each continuous tuple: (..., k, r) float -> (..., k, m, r) long.

    The samples of a tuple with mean mu are, in this order:

    * the 2^r corners of the unit cell around mu (floor(mu) or floor(mu) + 1 in each column, so an
      integer-valued mean takes itself and the next index),
    * g uniform samples from the whole index range ("global"),
    * l uniform samples from a box of side ``region`` around round(mu) ("local"); the box is
      shifted (its corner clamped) to lie inside the tensor, so it never leaves the range.

    Random numbers come from ``generator`` when given (it must live on ``means.device``).
    Every sample is in bounds: 0 <= t_d < size[d]. No host-device synchronisation.
    """
    size = checks.shape(size, "size")
    _check_last(checks.floating(means, "means"), len(size), "means")
    regions = checks.region(region, size)
    g, l = checks.integer(g, "g", 0), checks.integer(l, "l", 0)  # noqa: E741
    if generator is not None and generator.device != means.device:
        raise ValueError(f"generator is on {generator.device} but means is on {means.device}")
    r, prefix, device = len(size), means.shape[:-1], means.device
    upper = constant(size, device) - 1  # (r,)
    means = means.detach()

    # (2^r, r) binary table: column d takes floor + 1 where bit d is 1
    bits = constant(list(itertools.product((0, 1), repeat=r)), device)
    corners = means.floor().long().unsqueeze(-2) + bits  # (..., k, 2^r, r)

    rand = torch.rand((*prefix, g + l, r), generator=generator, device=device)  # (..., k, g+l, r)
    glob = (rand[..., :g, :] * (upper + 1)).long()  # (..., k, g, r)

    box, half = constant(regions, device), constant([x // 2 for x in regions], device)  # (r,)
    corner = (means.round().long() - half).clamp(min=0)
    corner = torch.minimum(corner, upper + 1 - box).unsqueeze(-2)  # (..., k, 1, r)
    local = corner + (rand[..., g:, :] * box).long()  # (..., k, l, r)

    samples = torch.cat([corners, glob, local], dim=-2)  # (..., k, m, r)
    # floor + 1 of mu = size - 1, or float rounding of rand * size, can reach size: clamp
    return torch.clamp(samples, min=torch.zeros_like(upper), max=upper)


def pool(samples: Tensor, chunk: int) -> Tensor:
    """Pooled sampling: every tuple sees the samples of all tuples in its chunk.

    (..., k, m, r) -> (..., k, chunk * m, r); chunks are consecutive runs of ``chunk`` tuples
    (k must be a multiple of ``chunk``). Each tuple still normalises over its own (now larger)
    set of distinct samples, which costs O(chunk^2 * m) per chunk. chunk = 1 changes nothing.
    """
    *prefix, k, m, r = samples.shape
    checks.chunk(chunk, k)
    shared = samples.reshape(*prefix, k // chunk, 1, chunk * m, r)
    shared = shared.expand(*prefix, k // chunk, chunk, chunk * m, r)
    return shared.reshape(*prefix, k, chunk * m, r)


def window(samples: Tensor, width: int) -> Tensor:
    """Windowed pooling: every tuple sees the samples of the ``width`` tuples around it in
    their order (tuples i - width // 2 onwards, the window shifted inwards at the ends).

    (..., k, m, r) -> (..., k, width * m, r), O(k * width * m) for any k >= width: unlike
    :func:`pool`, the windows overlap, and no two tuples need share one.
    """
    *prefix, k, m, r = samples.shape
    width = checks.window(width, k, "width")
    start = (torch.arange(k, device=samples.device) - width // 2).clamp(0, k - width)  # (k,)
    index = start.unsqueeze(-1) + torch.arange(width, device=samples.device)  # (k, width)
    return samples[..., index, :, :].reshape(*prefix, k, width * m, r)


def boxes(
    means: Tensor,
    sigmas: Tensor,
    size: Sequence[int],
    q: int = 12,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Each continuous tuple as q boxes per column spanning mu +- 3 sigma, and its mass in each.

    means, sigmas (..., k, r) -> lower, upper (..., k, r, q) long, mass (..., k, r, q).

    In column d the boxes are q consecutive runs of s_d = clamp(floor(6 sigma_d / q), 1, size_d)
    indices (q = 6: runs of sigma; q = 12: of sigma / 2). The grid is centred on mu_d to within
    s_d / 2: its start is shifted by a uniform random fraction of s_d, drawn anew for every tuple
    and column (from ``generator`` when given), so that tuples with the same mean and sigma still
    see different boxes. It spans q s_d indices, about mu +- 3 sigma while 6 sigma > q, and is
    shifted to lie inside the range, as the local samples' box is; where q s_d > size_d it starts
    at 0, the box over the end is cut and those past it are empty (mass 0). Entry t stands for
    the interval [t - 1/2, t + 1/2), so the box lower..upper - 1 holds the Gaussian's mass
    Phi((upper - 1/2 - mu) / sigma) - Phi((lower - 1/2 - mu) / sigma), normalised over the q
    boxes of the column. The tuple is the outer product of its columns: q^r boxes, box
    (j_1, .., j_r) holding the product of the columns' masses (they sum to 1). The corners are
    detached; the masses carry gradients to mu and sigma. When 6 sigma < 2 q every box is one
    index, and the tuple is a Gaussian on the q^r indices around mu. Half and bfloat16 tuples
    get their masses in float32. No host-device synchronisation.
    """
    size = checks.shape(size, "size")
    r = len(size)
    _check_last(checks.floating(means, "means"), r, "means")
    _check_last(checks.floating(sigmas, "sigmas"), r, "sigmas")
    q = checks.integer(q, "q (boxes per column)", 1)
    if generator is not None and generator.device != means.device:
        raise ValueError(f"generator is on {generator.device} but means is on {means.device}")
    sizes = _sizes(size, means)  # (r,)
    side = (6 * sigmas.detach() / q).floor().clamp(min=1).minimum(sizes)  # (..., k, r)
    shift = torch.rand(side.shape, generator=generator, device=means.device).to(side.dtype)
    start = (means.detach() + 1 - q * side / 2 + (shift - 0.5) * side).floor()  # (..., k, r)
    start = start.minimum(sizes - q * side).clamp(min=0)
    step = torch.arange(q, device=means.device, dtype=means.dtype)  # (q,)
    lower = start.unsqueeze(-1) + step * side.unsqueeze(-1)  # (..., k, r, q)
    upper = (lower + side.unsqueeze(-1)).minimum(sizes.unsqueeze(-1))
    lower = lower.minimum(sizes.unsqueeze(-1))
    wide = torch.promote_types(means.dtype, torch.float32)  # 16-bit erfc: too coarse
    mu, sigma = means.to(wide).unsqueeze(-1), sigmas.to(wide).unsqueeze(-1)  # (..., k, r, 1)
    mass = _interval_mass(lower.to(wide) - 0.5, upper.to(wide) - 0.5, mu, sigma)
    mass = mass / mass.sum(-1, keepdim=True).clamp(min=torch.finfo(wide).tiny)
    return lower.long(), upper.long(), mass.to(means.dtype)


def _interval_mass(a: Tensor, b: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """The mass of N(mu, sigma^2) on [a, b] (a <= b), accurate in both tails (no 1 - 1)."""
    za, zb = (a - mu) / (sigma * 2**0.5), (b - mu) / (sigma * 2**0.5)
    upper_tail = 0.5 * (torch.erfc(za) - torch.erfc(zb))  # exact when za > 0
    lower_tail = 0.5 * (torch.erfc(-zb) - torch.erfc(-za))  # exact when zb < 0
    return torch.where(za > 0, upper_tail, lower_tail)


def z_order(indices: Tensor, size: Sequence[int]) -> Tensor:
    """The Morton (Z-order) key of integer tuples: (..., r) long -> (...) long.

    The bits of the r columns interleaved, most significant first: tuples close in every column
    get close keys, so sorting by the key groups neighbours in the tensor (row-major order
    would group a row's tuples however far apart their columns are).
    """
    bits = max(int(s - 1).bit_length() for s in size)
    if bits * len(size) > 62:
        raise ValueError(f"a Z-order key of sizes {tuple(size)} does not fit in int64")
    key = torch.zeros_like(indices[..., 0])
    for bit in reversed(range(bits)):
        for column in range(len(size)):
            key = key * 2 + (indices[..., column] >> bit & 1)
    return key


def linear_index(indices: Tensor, size: Sequence[int]) -> Tensor:
    """Row-major offset of integer tuples: (..., r) long -> (...) long.

    Horner's scheme, offset = (t_0 size_1 + t_1) size_2 + t_2 ...: on a CPU twice as fast as
    multiplying by the strides and summing over the short last axis.
    """
    offset = indices[..., 0]
    for column, s in enumerate(size[1:], start=1):
        offset = offset * s + indices[..., column]
    return offset


def duplicates(samples: Tensor, size: Sequence[int]) -> Tensor:
    """True for every sample that repeats an earlier one of the same tuple.

    (..., k, m, r) long -> (..., k, m) bool. Exact: sort the flattened integer offsets (stable,
    so the first copy in sample order comes first) and compare neighbours.
    """
    flat = linear_index(samples, checks.shape(size, "size"))  # (..., k, m)
    ordered, order = flat.sort(dim=-1, stable=True)
    repeat = ordered[..., 1:] == ordered[..., :-1]  # (..., k, m - 1)
    first = torch.zeros_like(ordered[..., :1], dtype=torch.bool)  # (..., k, 1): m >= 1
    repeat = torch.cat([first, repeat], -1)  # the first of a run is kept
    return torch.zeros_like(repeat).scatter(-1, order, repeat)


def log_densities(samples: Tensor, means: Tensor, sigmas: Tensor) -> Tensor:
    """log p_it = -1/2 sum_d ((t_d - mu_id) / sigma_id)^2 (unnormalised Gaussian, sigma a std).

    samples (..., k, m, r) long, means and sigmas (..., k, r) -> (..., k, m).
    """
    z = (samples.to(means.dtype) - means.unsqueeze(-2)) / sigmas.unsqueeze(-2)  # (..., k, m, r)
    return -0.5 * z.pow(2).sum(-1)


def weights(
    samples: Tensor, means: Tensor, sigmas: Tensor, values: Tensor, size: Sequence[int]
) -> Tensor:
    """w_it = v_i * p_it / sum over distinct t' of p_it'; repeated samples get weight 0.

    samples (..., k, m, r) long, means and sigmas (..., k, r), values (..., k) -> (..., k, m).
    The normalisation is a softmax over log-densities (duplicates masked to -inf), so it stays
    finite however far the samples lie from the mean: the nearest one takes the weight. Half
    and bfloat16 tuples get their densities in float32: in 16 bits ((t - mu) / sigma)^2
    overflows to inf at a distance of 256 sigma, which a narrow sigma reaches at every sample.
    """
    wide = torch.promote_types(means.dtype, torch.float32)
    logp = log_densities(samples, means.to(wide), sigmas.to(wide))
    logp = logp.masked_fill(duplicates(samples, size), float("-inf"))
    return torch.softmax(logp, dim=-1).to(means.dtype) * values.unsqueeze(-1)
