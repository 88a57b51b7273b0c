"""Contract a sparse tensor with a dense input: the forward pass of every sparse layer.

A sparse tensor W of shape ``out_shape + in_shape`` (rank R) is a list of n entries: integer
index tuples (n, R) and weights (n,). Applied to an input x of shape ``in_shape`` it gives

    y[o] = sum over entries j with out(j) = o of  w_j * x[in(j)],

where out(j) and in(j) are the first len(out_shape) and the last len(in_shape) columns of
tuple j. The fast path flattens both parts to row-major offsets, gathers x at the input
offsets and adds w * x into y at the output offsets (``gather`` + ``scatter_add``, or
``index_select`` + ``index_add`` on whole rows when the batch shares the entries): time and
memory linear in n, gradients to the weights and to x, no host-device synchronisation.
Repeated entries add up, as they would in a dense tensor.

Two layouts: *batched* (indices (b, n, R), weights (b, n): every instance has its own sparse
tensor) and *shared* (indices (n, R), weights (n,): one sparse tensor for the whole batch).
The dense reference (:func:`densify`, :func:`contract_dense`) builds W explicitly; it is
meant for tests and small examples.

A tensor can also be a sum of k *separable profiles* (:func:`contract_profiles`): tuple i is
the outer product over the R columns of a piecewise-constant profile of q pieces per column, a
grid of q^R boxes of entries. A box of any volume costs 2^R reads and writes, through running
sums of x and of y, so the product is linear in k whatever the boxes' sizes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hyperlib import checks
from hyperlib.sampling import constant, linear_index


def _check_operands(name: str, values: Tensor, x: Tensor, **integers: Tensor) -> None:
    """Floating values and x of one dtype, every operand on x's device."""
    checks.floating(values, name)
    checks.floating(x, "x")
    if values.dtype != x.dtype:
        raise TypeError(f"{name} ({values.dtype}) and x ({x.dtype}) must share a dtype")
    for label, tensor in {**integers, name: values}.items():
        if tensor.device != x.device:
            raise ValueError(f"{label} is on {tensor.device} but x is on {x.device}")


def _check(indices: Tensor, weights: Tensor, x: Tensor, out_shape: tuple[int, ...]) -> None:
    if not isinstance(indices, Tensor):
        raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
    if indices.dtype != torch.long:
        raise TypeError(f"indices must be int64 (torch.long), got {indices.dtype}")
    _check_operands("weights", weights, x, indices=indices)
    if indices.dim() not in (2, 3) or indices.shape[:-1] != weights.shape:
        raise ValueError(
            "indices and weights must have shapes (b, n, R) and (b, n), or (n, R) and (n,); "
            f"got {tuple(indices.shape)} and {tuple(weights.shape)}"
        )
    if x.dim() < 2:
        raise ValueError(f"x must have shape (b, *in_shape), got {tuple(x.shape)}")
    if indices.dim() == 3 and indices.size(0) != x.size(0):
        raise ValueError(f"indices has batch size {indices.size(0)} but x has {x.size(0)}")
    rank = len(out_shape) + x.dim() - 1
    if indices.size(-1) != rank:
        raise ValueError(
            f"indices must have R = len(out_shape) + len(in_shape) = {rank} columns, "
            f"got {indices.size(-1)}"
        )


def contract(indices: Tensor, weights: Tensor, x: Tensor, out_shape: Sequence[int]) -> Tensor:
    """y = W x for a sparse W given by entries, batched or shared (see the module docstring).

    indices (b, n, R) or (n, R) long, weights (b, n) or (n,), x (b, *in_shape)
    -> y (b, *out_shape). Indices must be in bounds (not checked: that would need a sync).
    """
    out_shape = checks.shape(out_shape, "out_shape")
    _check(indices, weights, x, out_shape)
    b, in_shape = x.size(0), tuple(x.shape[1:])
    out = linear_index(indices[..., : len(out_shape)], out_shape)  # (b, n) or (n,)
    inp = linear_index(indices[..., len(out_shape) :], in_shape)  # (b, n) or (n,)
    x = x.reshape(b, math.prod(in_shape))  # (b, N_in), also for b = 0
    if indices.dim() == 2:
        y = _SharedContract.apply(out, inp, weights, x, math.prod(out_shape))
    else:
        y = x.new_zeros(b, math.prod(out_shape))  # (b, N_out)
        y = y.scatter_add(1, out, x.gather(1, inp) * weights)
    return y.view(b, *out_shape)


def _check_profiles(lower: Tensor, upper: Tensor, heights: Tensor, x: Tensor,
                    out_shape: tuple[int, ...]) -> None:
    for name, tensor in (("lower", lower), ("upper", upper)):
        if not isinstance(tensor, Tensor) or tensor.dtype != torch.long:
            raise TypeError(f"{name} must be an int64 (torch.long) tensor")
    _check_operands("heights", heights, x, lower=lower, upper=upper)
    if lower.dim() not in (3, 4) or not lower.shape == upper.shape == heights.shape:
        raise ValueError(
            "lower, upper and heights must share a shape (k, R, q) or (b, k, R, q); got "
            f"{tuple(lower.shape)}, {tuple(upper.shape)}, {tuple(heights.shape)}"
        )
    if x.dim() < 2:
        raise ValueError(f"x must have shape (b, *in_shape), got {tuple(x.shape)}")
    if lower.dim() == 4 and lower.size(0) != x.size(0):
        raise ValueError(f"the profiles have batch size {lower.size(0)} but x has {x.size(0)}")
    if lower.size(-2) != len(out_shape) + x.dim() - 1:
        raise ValueError(f"the profiles must have R = {len(out_shape) + x.dim() - 1} columns "
                         f"(len(out_shape) + len(in_shape)), got {lower.size(-2)}")


def contract_profiles(
    lower: Tensor, upper: Tensor, heights: Tensor, x: Tensor, out_shape: Sequence[int]
) -> Tensor:
    """y = W x for W a sum of k separable tensors with piecewise-constant profiles.

    lower, upper (k, R, q) or (b, k, R, q) long, heights of the same shape, x (b, *in_shape)
    -> y (b, *out_shape). Tuple i contributes the outer product over columns d of its profile

        p_id(t) = sum over pieces j of  heights[i, d, j] * [lower[i, d, j] <= t < upper[i, d, j]]

    (a piece with upper <= lower is empty), a grid of q^R boxes. Its input profiles meet x
    through the summed-area table of x (running sums along every input axis: a box's sum of x
    in 2^r_in reads), the result spreads over its output profiles through a difference array
    (2^r_out signed writes per box, then running sums along every output axis): time
    O(b (k q^r_in 2^r_in + k q^r_out 2^r_out + N_in + N_out)) whatever the boxes' volume. The
    running sums are taken in float32 at least. Pieces must satisfy 0 <= lower <= upper <= size
    (not checked: that would need a sync).
    """
    out_shape = checks.shape(out_shape, "out_shape")
    _check_profiles(lower, upper, heights, x, out_shape)
    b, in_shape, split = x.size(0), tuple(x.shape[1:]), len(out_shape)
    shared = lower.dim() == 3
    # batch last, as in the entry product: every box moves whole rows of b numbers
    wide = torch.promote_types(x.dtype, torch.float32)  # 16-bit running sums lose x
    heights = heights.to(wide)
    table = _running_sums(x.to(wide).reshape(b, -1).t().reshape(*in_shape, b))  # (M_in, b)
    box_lower, box_upper, box_heights = _grid(lower, upper, heights, slice(split, None))
    sums = 0  # (k Q_in, b): the sum of x over each input box, Q_in = q^r_in
    for corner, sign in _corners(box_lower, box_upper):
        offset = linear_index(corner, [s + 1 for s in in_shape])  # (k Q_in,) or (b, k Q_in)
        read = table.index_select(0, offset) if shared else table.gather(0, offset.t())
        sums = sums + (-sign if len(in_shape) % 2 else sign) * read
    k = heights.size(-3)
    boxed = (sums * _rows(box_heights)).unflatten(0, (k, -1)).sum(1)  # (k, b): <x, profile>

    box_lower, box_upper, box_heights = _grid(lower, upper, heights, slice(0, split))
    spread = (_rows(box_heights).unflatten(0, (k, -1)) * boxed.unsqueeze(1)).flatten(0, 1)
    diff = table.new_zeros(math.prod(s + 1 for s in out_shape), b)  # difference array of y
    for corner, sign in _corners(box_lower, box_upper):
        offset = linear_index(corner, [s + 1 for s in out_shape])  # (k Q_out,) or (b, k Q_out)
        signed = spread if sign > 0 else -spread  # (k Q_out, b)
        if shared:
            diff = diff.index_add(0, offset, signed)
        else:
            diff = diff.scatter_add(0, offset.t(), signed)
    y = diff.view(*(s + 1 for s in out_shape), b)
    for axis in range(split):
        y = y.cumsum(axis)
    y = y[tuple(slice(0, s) for s in out_shape)].reshape(-1, b)  # (N_out, b)
    return y.t().reshape(b, *out_shape).to(x.dtype)


def _grid(lower: Tensor, upper: Tensor, heights: Tensor, columns: slice):
    """The boxes of the pieces of ``columns`` (c of them): every choice of one piece per
    column. (.., k, R, q) -> corners (.., k Q, c) long and heights (.., k Q), Q = q^c."""
    lower, upper, heights = lower[..., columns, :], upper[..., columns, :], heights[..., columns, :]
    c, q = lower.shape[-2:]
    choice = torch.cartesian_prod(*[torch.arange(q, device=lower.device)] * c).view(-1, c)
    pick = (..., torch.arange(c, device=lower.device), choice)  # piece choice[j, d] of column d
    corners = (lower[pick].flatten(-3, -2), upper[pick].flatten(-3, -2))  # (.., k Q, c)
    return *corners, heights[pick].prod(-1).flatten(-2)


def _rows(heights: Tensor) -> Tensor:
    """Per-box numbers (n,) or (b, n) as a column against rows of b: (n, 1) or (n, b)."""
    return heights.unsqueeze(-1) if heights.dim() == 1 else heights.t()


def _running_sums(x: Tensor) -> Tensor:
    """The summed-area table of x (*shape, b) along its leading axes, a zero slice first in
    each: (*(shape + 1), b) flattened to (M, b); entry t holds the sum of x over [0, t)."""
    for axis in range(x.dim() - 1):
        zero = x.new_zeros(*x.shape[:axis], 1, *x.shape[axis + 1 :])
        x = torch.cat([zero, x.cumsum(axis)], axis)
    return x.reshape(-1, x.size(-1))


def _corners(lower: Tensor, upper: Tensor):
    """The 2^c corners (.., n, c) of boxes with c columns, each with the sign (-1)^(number of
    upper columns it takes)."""
    for bits in itertools.product((False, True), repeat=lower.size(-1)):
        take = constant(bits, lower.device, torch.bool)  # (c,), without a sync on a GPU
        yield torch.where(take, upper, lower), -1 if sum(bits) % 2 else 1


def densify_profiles(lower: Tensor, upper: Tensor, heights: Tensor,
                     shape: Sequence[int]) -> Tensor:
    """The dense tensor of a sum of separable profiles (for small shapes only).

    lower, upper, heights (..., k, R, q) -> (..., *shape), R = len(shape).
    """
    shape = checks.shape(shape, "shape")
    dense = None  # (..., k, *shape) built one column at a time
    for column, size in enumerate(shape):
        t = torch.arange(size, device=heights.device)  # (size,)
        inside = (lower[..., column, :, None] <= t) & (t < upper[..., column, :, None])
        profile = (heights[..., column, :, None] * inside).sum(-2)  # (..., k, size)
        axes = [size if d == column else 1 for d in range(len(shape))]
        profile = profile.view(*profile.shape[:-1], *axes)
        dense = profile if dense is None else dense * profile
    return dense.sum(heights.dim() - 3)


# The gathered rows of one block of entries take at most this many bytes: on a CPU they stay
# in cache (2 MiB; measured on the project's CPU: 2-3x faster than one pass over all entries,
# which writes and reads back the whole (n, b) array); on a GPU a block is large enough to
# keep every kernel launch busy and bounds the extra memory of very large layers.
BLOCK_BYTES = {"cpu": 2**21, "cuda": 2**28}


def block_rows(device: torch.device, b: int, element_size: int) -> int:
    """Entries per block for rows of b numbers of ``element_size`` bytes on ``device``."""
    budget = BLOCK_BYTES.get(device.type, BLOCK_BYTES["cuda"])  # other accelerators: as CUDA
    return max(1, budget // (max(b, 1) * element_size))  # b = 0: any block size will do


def _blocks(n: int, rows: int) -> list[slice]:
    return [slice(start, start + rows) for start in range(0, n, rows)]


class _SharedContract(torch.autograd.Function):
    """y[:, out_j] += w_j * x[:, in_j] for one entry list shared by the batch.

    Works on x^T, so that every entry moves a whole contiguous row of b numbers
    (``index_select`` + ``index_add_``), and keeps the gradients contiguous too (autograd
    would hand the backward pass transposed, strided gradients, several times slower on CPU).
    The entries go in blocks of :func:`block_rows`, so the gathered rows (block, b) never
    exist for all n entries at once; they are recomputed in the backward pass, not stored.

        dL/dw_j = <g^T[out_j], x^T[in_j]>,   dL/dx^T[i] = sum over j with in_j = i of w_j g^T[out_j]
    """

    @staticmethod
    def forward(ctx, out: Tensor, inp: Tensor, w: Tensor, x: Tensor, n_out: int) -> Tensor:
        xt = x.t().contiguous()  # (N_in, b)
        ctx.save_for_backward(out, inp, w, xt)
        yt = xt.new_zeros(n_out, xt.size(1))  # (N_out, b)
        for part in _blocks(len(w), block_rows(x.device, x.size(0), x.element_size())):
            rows = xt.index_select(0, inp[part]).mul_(w[part].unsqueeze(1))  # (block, b)
            yt.index_add_(0, out[part], rows)
        return yt.t().contiguous()  # (b, N_out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        out, inp, w, xt = ctx.saved_tensors
        gt = grad.t().contiguous()  # (N_out, b)
        need_w, need_x = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        grad_w = torch.empty_like(w) if need_w else None  # (n,)
        grad_xt = torch.zeros_like(xt) if need_x else None  # (N_in, b)
        for part in _blocks(len(w), block_rows(gt.device, gt.size(1), gt.element_size())):
            rows = gt.index_select(0, out[part])  # (block, b): g^T[out_j]
            if need_w:
                torch.sum(xt.index_select(0, inp[part]).mul_(rows), 1, out=grad_w[part])
            if need_x:
                grad_xt.index_add_(0, inp[part], rows.mul_(w[part].unsqueeze(1)))
        return None, None, grad_w, None if grad_xt is None else grad_xt.t(), None


def densify(indices: Tensor, weights: Tensor, shape: Sequence[int]) -> Tensor:
    """The dense tensor of a list of entries, repeated entries summed.

    indices (..., n, R) long, weights (..., n) -> (..., *shape), R = len(shape).
    """
    shape = checks.shape(shape, "shape")
    if indices.size(-1) != len(shape) or indices.shape[:-1] != weights.shape:
        raise ValueError(
            f"indices {tuple(indices.shape)} and weights {tuple(weights.shape)} do not fit "
            f"shape {shape}"
        )
    prefix = weights.shape[:-1]
    batch = [torch.arange(s, device=weights.device) for s in prefix]
    batch = [i.view(-1, *([1] * (len(prefix) - d))) for d, i in enumerate(batch)]
    dense = weights.new_zeros(*prefix, *shape)
    return dense.index_put((*batch, *indices.unbind(-1)), weights, accumulate=True)


def contract_dense(dense: Tensor, x: Tensor, out_shape: Sequence[int]) -> Tensor:
    """Reference y = W x with W dense: (b, *out_shape, *in_shape) or (*out_shape, *in_shape).

    x (b, *in_shape) -> (b, *out_shape), by an ordinary matrix product.
    """
    b, n_out = x.size(0), math.prod(checks.shape(out_shape, "out_shape"))
    x = x.reshape(b, math.prod(x.shape[1:]), 1)  # (b, N_in, 1), also for b = 0
    matrix = dense.reshape(-1, n_out, x.size(1))  # (b or 1, N_out, N_in)
    return (matrix @ x).view(b, *out_shape)
