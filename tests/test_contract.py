"""Sparse x dense contraction against the dense reference (hyperlib.contract)."""

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperlib.contract import (
    BLOCK_BYTES,
    block_rows,
    contract,
    contract_dense,
    contract_profiles,
    densify,
    densify_profiles,
)

FEW = settings(max_examples=30, deadline=None)


def _case(seed, shared, device="cpu", dtype=torch.float64):
    """A random sparse tensor (rank 2..5, with repeated entries) and a random input."""
    gen, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    rank = rng.randint(2, 5)
    split = rng.randint(1, rank - 1)
    shape = [rng.randint(1, 4) for _ in range(rank)]
    out_shape, in_shape = shape[:split], shape[split:]
    b, n = rng.randint(1, 3), rng.randint(1, 19)
    prefix = (n,) if shared else (b, n)
    indices = (torch.rand(*prefix, rank, generator=gen) * torch.tensor(shape)).long()
    indices[..., -1, :] = indices[..., 0, :]  # at least one repeated entry
    weights = torch.randn(prefix, generator=gen, dtype=dtype)
    x = torch.randn(b, *in_shape, generator=gen, dtype=dtype)
    return indices.to(device), weights.to(device), x.to(device), out_shape, in_shape


def _check_against_dense(seed, shared, device="cpu"):
    indices, weights, x, out_shape, in_shape = _case(seed, shared, device)
    w1, x1 = weights.clone().requires_grad_(), x.clone().requires_grad_()
    w2, x2 = weights.clone().requires_grad_(), x.clone().requires_grad_()
    fast = contract(indices, w1, x1, out_shape)
    dense = contract_dense(densify(indices, w2, out_shape + in_shape), x2, out_shape)
    assert fast.shape == (x.size(0), *out_shape)
    torch.testing.assert_close(fast, dense)
    grad = torch.randn_like(fast)
    fast.backward(grad)
    dense.backward(grad)
    torch.testing.assert_close(w1.grad, w2.grad)
    torch.testing.assert_close(x1.grad, x2.grad)


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_fast_path_equals_dense_reference(seed, shared):
    _check_against_dense(seed, shared)


@pytest.mark.parametrize("seed", range(5))
def test_blocks_of_entries_give_the_same_product(seed, monkeypatch):
    """With blocks of one or two entries (block_rows), the shared contraction still equals the
    dense reference, values and gradients; gradcheck in float64 too."""
    monkeypatch.setitem(BLOCK_BYTES, "cpu", 16)
    _, _, x, _, _ = _case(seed, True)
    assert block_rows(x.device, x.size(0), x.element_size()) <= 2
    _check_against_dense(seed, shared=True)
    indices, weights, x, out_shape, _ = _case(seed, True)
    inputs = (weights.requires_grad_(), x.requires_grad_())
    assert torch.autograd.gradcheck(lambda w, v: contract(indices, w, v, out_shape), inputs)


def test_block_rows_fit_the_device_budget():
    cpu = torch.device("cpu")
    assert block_rows(cpu, 64, 4) * 64 * 4 == BLOCK_BYTES["cpu"]
    assert block_rows(cpu, 2**30, 4) == 1  # never zero entries per block
    assert block_rows(torch.device("meta"), 1, 1) == 2**28  # other devices: one large block


def test_densify_sums_repeated_entries_and_matches_a_loop():
    indices = torch.tensor([[0, 1], [2, 0], [0, 1]])
    weights = torch.tensor([1.0, 2.0, 3.0])
    expected = torch.zeros(3, 2)
    for (i, j), w in zip(indices.tolist(), weights.tolist(), strict=True):
        expected[i, j] += w
    torch.testing.assert_close(densify(indices, weights, (3, 2)), expected)
    x = torch.randn(5, 2)
    torch.testing.assert_close(contract(indices, weights, x, (3,)), x @ expected.T)


def test_batched_entries_act_per_instance():
    indices = torch.tensor([[[0, 0]], [[1, 1]]])  # instance 0: y0 = 2 x0; instance 1: y1 = 3 x1
    weights = torch.tensor([[2.0], [3.0]])
    x = torch.tensor([[1.0, 10.0], [1.0, 10.0]])
    expected = torch.tensor([[2.0, 0.0], [0.0, 30.0]])
    torch.testing.assert_close(contract(indices, weights, x, (2,)), expected)


@pytest.mark.parametrize("shared", [False, True])
def test_gradcheck_contraction(shared):
    indices, weights, x, out_shape, _ = _case(3, shared)
    inputs = (weights.requires_grad_(), x.requires_grad_())
    assert torch.autograd.gradcheck(lambda w, v: contract(indices, w, v, out_shape), inputs)


def test_work_is_linear_in_the_entries():
    """A (1e6 x 1e6) sparse matrix with 1000 entries: never materialised."""
    n = 10**6
    indices = torch.randint(0, n, (1000, 2))
    y = contract(indices, torch.ones(1000), torch.ones(2, n), (n,))
    assert y.shape == (2, n) and math.isclose(float(y.sum()), 2000.0)


@pytest.mark.parametrize("shared", [False, True])
def test_empty_batch_gives_an_empty_output_and_gradients(shared):
    indices = torch.tensor([[0, 1, 2], [1, 0, 3]])  # out (2,), in (2, 4)
    if not shared:
        indices = indices[None][:0]  # (0, n, R)
    weights = torch.ones(indices.shape[:-1], requires_grad=True)
    x = torch.zeros(0, 2, 4, requires_grad=True)
    y = contract(indices, weights, x, (2,))
    assert y.shape == (0, 2)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 4) and not weights.grad.any()
    assert contract_dense(densify(indices, weights, (2, 2, 4)), x, (2,)).shape == (0, 2)


def _profiles(seed, shared, dtype=torch.float64):
    """Random separable profiles (rank 2..4, q 1..3 pieces per column, some empty, some the
    whole range) over a random shape, and an input."""
    gen, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    rank = rng.randint(2, 4)
    split = rng.randint(1, rank - 1)
    shape = [rng.randint(1, 5) for _ in range(rank)]
    b, k, q = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 3)
    prefix = (k,) if shared else (b, k)
    ends = torch.stack([torch.randint(0, s + 1, (*prefix, q, 2), generator=gen) for s in shape], -3)
    lower, upper = ends.min(-1).values, ends.max(-1).values  # (.., k, R, q)
    upper[..., 0, :, 0] = torch.tensor(shape)  # one piece reaches the far end of each column
    heights = torch.randn(lower.shape, generator=gen, dtype=dtype)
    x = torch.randn(b, *shape[split:], generator=gen, dtype=dtype)
    return lower, upper, heights, x, shape[:split], shape


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_profiles_equal_the_dense_sum_of_their_boxes(seed, shared):
    lower, upper, heights, x, out_shape, shape = _profiles(seed, shared)
    h1, x1 = heights.clone().requires_grad_(), x.clone().requires_grad_()
    h2, x2 = heights.clone().requires_grad_(), x.clone().requires_grad_()
    fast = contract_profiles(lower, upper, h1, x1, out_shape)
    dense = contract_dense(densify_profiles(lower, upper, h2, shape), x2, out_shape)
    assert fast.shape == (x.size(0), *out_shape)
    torch.testing.assert_close(fast, dense)
    grad = torch.randn_like(fast)
    fast.backward(grad)
    dense.backward(grad)
    torch.testing.assert_close(h1.grad, h2.grad)
    torch.testing.assert_close(x1.grad, x2.grad)


def test_densify_profiles_matches_a_loop_over_boxes():
    """Two tuples over a 3 x 4 matrix, two pieces per column; tuple 1's second row piece is
    empty (rows 2..1)."""
    lower = torch.tensor([[[0, 2], [1, 3]], [[1, 2], [0, 2]]])  # (k, R, q)
    upper = torch.tensor([[[2, 3], [3, 4]], [[2, 2], [2, 4]]])
    heights = torch.tensor([[[1.0, 2.0], [3.0, 5.0]], [[7.0, 11.0], [13.0, 17.0]]])
    expected = torch.zeros(3, 4)
    for i in range(2):
        for a in range(2):
            for c in range(2):
                rows = slice(lower[i, 0, a], upper[i, 0, a])
                cols = slice(lower[i, 1, c], upper[i, 1, c])
                expected[rows, cols] += heights[i, 0, a] * heights[i, 1, c]
    torch.testing.assert_close(densify_profiles(lower, upper, heights, (3, 4)), expected)


@pytest.mark.parametrize("shared", [False, True])
def test_gradcheck_profile_contraction(shared):
    lower, upper, heights, x, out_shape, _ = _profiles(4, shared)
    inputs = (heights.requires_grad_(), x.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda h, v: contract_profiles(lower, upper, h, v, out_shape), inputs
    )


def test_profile_work_does_not_grow_with_the_volume():
    """A (1e6 x 1e6) matrix, never materialised: tuple 0 sums the whole input into row 0,
    tuple 1 is the single entry (5, 7) of height 3."""
    n = 10**6
    lower = torch.tensor([[[0], [0]], [[5], [7]]])  # (k, R, q = 1)
    upper = torch.tensor([[[1], [n]], [[6], [8]]])
    heights = torch.tensor([[[1.0], [1.0]], [[3.0], [1.0]]], dtype=torch.float64)
    x = torch.arange(2 * n, dtype=torch.float64).view(2, n)
    y = contract_profiles(lower, upper, heights, x, (n,))
    assert y.shape == (2, n)
    torch.testing.assert_close(y[:, 0], x.sum(1))
    torch.testing.assert_close(y[:, 5], 3 * x[:, 7])
    assert y[:, 1:5].eq(0).all() and y[:, 6:].eq(0).all()


def test_half_precision_profiles_sum_in_float32():
    """16-bit running sums of 4,096 numbers near 1 lose their small parts; the table is
    kept in float32."""
    x = torch.full((1, 4096), 1.0 + 2**-9, dtype=torch.float16)
    lower, upper = torch.tensor([[[0], [0]]]), torch.tensor([[[1], [4096]]])
    y = contract_profiles(lower, upper, torch.ones(1, 2, 1, dtype=torch.float16), x, (1,))
    assert y.dtype == torch.float16 and y.item() == 4104  # 4096 (1 + 2^-9), rounded to half


IDX, W, X = torch.zeros(4, 2, dtype=torch.long), torch.zeros(4), torch.zeros(3, 5)


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        ((IDX.float(), W, X, (2,)), TypeError, "indices"),
        ((IDX.int(), W, X, (2,)), TypeError, "indices"),
        ((IDX, W.long(), X, (2,)), TypeError, "weights"),
        ((IDX, W, X.long(), (2,)), TypeError, "x"),
        ((IDX, W, X.double(), (2,)), TypeError, "dtype"),
        ((IDX, W, X.tolist(), (2,)), TypeError, "x"),
        ((IDX, W[:3], X, (2,)), ValueError, "weights"),
        ((IDX[None].expand(2, 4, 2), W[None].expand(2, 4), X, (2,)), ValueError, "batch size"),
        ((IDX, W, X, (2, 2)), ValueError, "columns"),
        ((IDX, W, X, (0,)), ValueError, "out_shape"),
        ((IDX, W, X, ()), ValueError, "out_shape"),
        ((IDX, W, X, (2.5,)), TypeError, "out_shape"),
        ((IDX, W, X[0], (2,)), ValueError, "x"),
        ((IDX, W.to("meta"), X, (2,)), ValueError, "weights is on meta"),
        ((IDX.to("meta"), W, X, (2,)), ValueError, "indices is on meta"),
    ],
)
def test_bad_input_raises_naming_the_argument(args, error, name):
    with pytest.raises(error, match=name):
        contract(*args)


PROFILE = torch.zeros(2, 2, 1, dtype=torch.long)


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        ((PROFILE.float(), PROFILE, PROFILE.float(), X, (2,)), TypeError, "lower"),
        ((PROFILE, PROFILE, PROFILE, X, (2,)), TypeError, "heights"),
        ((PROFILE, PROFILE, PROFILE.double(), X, (2,)), TypeError, "dtype"),
        ((PROFILE, PROFILE[..., :0], PROFILE.float(), X, (2,)), ValueError, "share a shape"),
        ((PROFILE[None].expand(2, 2, 2, 1), PROFILE[None].expand(2, 2, 2, 1),
          PROFILE[None].float().expand(2, 2, 2, 1), X, (2,)), ValueError, "batch size"),
        ((PROFILE, PROFILE, PROFILE.float(), X, (2, 2)), ValueError, "columns"),
        ((PROFILE, PROFILE, PROFILE.float().to("meta"), X, (2,)), ValueError, "heights is on"),
    ],
)
def test_bad_profiles_raise_naming_the_argument(args, error, name):
    with pytest.raises(error, match=name):
        contract_profiles(*args)


@pytest.mark.cuda
@pytest.mark.parametrize("shared", [False, True])
def test_fast_path_equals_dense_reference_on_cuda(shared):
    for seed in range(10):
        _check_against_dense(seed, shared, device="cuda")


@pytest.mark.cuda
def test_contraction_does_not_synchronise_on_cuda():
    indices, weights, x, out_shape, _ = _case(0, False, "cuda", torch.float32)
    weights.requires_grad_()
    torch.cuda.set_sync_debug_mode("error")
    try:
        contract(indices, weights, x, out_shape).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
