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

A sparse tensor can also be a list of *boxes* (:func:`contract_boxes`): lower and upper corners
(n, R) and one weight per box, every entry inside a box carrying that weight. A box of any
volume costs 2^R reads and writes, through cumulative sums of x and of y.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hyperlib import checks
from hyperlib.sampling import linear_index


def _check(indices: Tensor, weights: Tensor, x: Tensor, out_shape: tuple[int, ...]) -> None:
    if not isinstance(indices, Tensor):
        raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
    if indices.dtype != torch.long:
        raise TypeError(f"indices must be int64 (torch.long), got {indices.dtype}")
    checks.floating(weights, "weights")
    checks.floating(x, "x")
    if weights.dtype != x.dtype:
        raise TypeError(f"weights ({weights.dtype}) and x ({x.dtype}) must share a dtype")
    for name, tensor in (("indices", indices), ("weights", weights)):
        if tensor.device != x.device:
            raise ValueError(f"{name} is on {tensor.device} but x is on {x.device}")
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


def contract_boxes(
    lower: Tensor, upper: Tensor, weights: Tensor, x: Tensor, out_shape: Sequence[int]
) -> Tensor:
    """y = W x for a W that is a sum of boxes, batched or shared.

    lower, upper (b, n, R) or (n, R) long, weights (b, n) or (n,), x (b, *in_shape)
    -> y (b, *out_shape). Box j holds the entries t with lower_j <= t < upper_j in every column
    (empty where upper_j <= lower_j in some column), each with weight w_j:

        y[o] = sum over boxes j that hold o in their output columns of  w_j * S_j,

    S_j the sum of x over box j's input columns. S_j is read from the summed-area table of x
    (cumulative sums along every input axis, 2^r_in reads by inclusion-exclusion), and each
    box enters y through a difference array (2^r_out signed writes, then cumulative sums along
    every output axis): time O(b (n 2^R + N_in + N_out)) whatever the boxes' volume. The
    running sums are taken in float32 at least. Corners must satisfy 0 <= lower <= upper <=
    size (not checked: that would need a sync).
    """
    out_shape = checks.shape(out_shape, "out_shape")
    _check(lower, weights, x, out_shape)
    _check(upper, weights, x, out_shape)
    b, in_shape, split = x.size(0), tuple(x.shape[1:]), len(out_shape)
    shared = lower.dim() == 2
    wide = torch.promote_types(x.dtype, torch.float32)  # 16-bit running sums lose x
    table = x.to(wide)  # (b, *in_shape) -> summed-area table (b, *(in_shape + 1)), zeros first
    for axis in range(1, x.dim()):
        zero = table.new_zeros(*table.shape[:axis], 1, *table.shape[axis + 1 :])
        table = torch.cat([zero, table.cumsum(axis)], axis)
    table = table.reshape(b, -1)
    sums = 0  # (b, n): the sum of x over each box's input columns
    for corner, sign in _corners(lower[..., split:], upper[..., split:]):
        offset = linear_index(corner, [s + 1 for s in in_shape])  # (b, n) or (n,)
        read = table.index_select(1, offset) if shared else table.gather(1, offset)
        sums = sums + (-sign if len(in_shape) % 2 else sign) * read
    boxed = sums * weights.to(wide)  # (b, n)
    diff = table.new_zeros(b, math.prod(s + 1 for s in out_shape))  # difference array of y
    for corner, sign in _corners(lower[..., :split], upper[..., :split]):
        offset = linear_index(corner, [s + 1 for s in out_shape])
        signed = boxed if sign > 0 else -boxed
        diff = diff.index_add(1, offset, signed) if shared else diff.scatter_add(1, offset, signed)
    y = diff.view(b, *(s + 1 for s in out_shape))
    for axis in range(1, y.dim()):
        y = y.cumsum(axis)
    y = y[(slice(None), *(slice(0, s) for s in out_shape))]
    return y.reshape(b, *out_shape).to(x.dtype)


def _corners(lower: Tensor, upper: Tensor):
    """The 2^c corners (.., n, c) of boxes with c columns, each with the sign (-1)^(number of
    upper columns it takes)."""
    for bits in itertools.product((False, True), repeat=lower.size(-1)):
        take = torch.tensor(bits, device=lower.device)
        yield torch.where(take, upper, lower), -1 if sum(bits) % 2 else 1


def densify_boxes(lower: Tensor, upper: Tensor, weights: Tensor, shape: Sequence[int]) -> Tensor:
    """The dense tensor of a list of boxes, overlapping boxes summed (for small shapes only).

    lower, upper (..., n, R) long, weights (..., n) -> (..., *shape), R = len(shape).
    """
    shape = checks.shape(shape, "shape")
    dense = weights.view(*weights.shape, *([1] * len(shape)))  # (..., n, 1, ..., 1)
    for column, size in enumerate(shape):
        t = torch.arange(size, device=weights.device)  # (size,)
        inside = (lower[..., column, None] <= t) & (t < upper[..., column, None])  # (..., n, size)
        axes = [size if d == column else 1 for d in range(len(shape))]
        dense = dense * inside.view(*inside.shape[:-1], *axes)
    return dense.sum(weights.dim() - 1)


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
