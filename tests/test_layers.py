"""Sparse hyperlayers as modules (hyperlib.layers)."""

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hyperlib.layers
from hyperlib import sampling
from hyperlib.contract import contract, densify
from hyperlib.layers import HyperLayer, SparseLayer, output_template

FEW = settings(max_examples=20, deadline=None)


class Adaptive(HyperLayer):
    """A minimal adaptive layer: a linear hypernetwork from the flattened input."""

    def __init__(self, in_shape, out_shape, k, **kwargs):
        super().__init__(in_shape, out_shape, k, **kwargs)
        self.r = len(self.size)
        self.net = nn.Linear(math.prod(self.in_shape), k * (self.r + 2))

    def hyper(self, x):
        h = self.net(x.flatten(1)).view(x.size(0), self.k, self.r + 2)  # (b, k, r + 2)
        return h[..., : self.r], h[..., self.r], h[..., self.r + 1]


def _layer(seed, adaptive, **kwargs):
    """A random layer (rank 2..4, maybe templated, maybe pooled) in float64, and an input."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    rank = rng.randint(2, 4)
    shape = [rng.randint(1, 5) for _ in range(rank)]
    split = rng.randint(1, rank - 1)
    out_shape, in_shape = shape[:split], shape[split:]
    k = rng.choice([1, 2, 4, 6])
    learn_cols = sorted(rng.sample(range(rank), rng.randint(1, rank)))
    template = None
    if len(learn_cols) < rank:
        template = torch.stack([torch.randint(0, s, (k,)) for s in shape], dim=1)
    size = [shape[c] for c in learn_cols]
    kwargs = {
        "learn_cols": learn_cols,
        "template": template,
        "g": rng.randint(0, 3),
        "l": rng.randint(0, 3),
        "region": rng.randint(1, min(size)),
        "chunk": rng.choice([c for c in (1, 2) if k % c == 0]),
        "pooling": rng.choice(hyperlib.layers.POOLINGS),
        "bias": rng.random() < 0.5,
        **kwargs,
    }
    cls = Adaptive if adaptive else SparseLayer
    layer = cls(in_shape, out_shape, k, **kwargs).double()
    if layer.bias is not None:
        nn.init.normal_(layer.bias)
    x = torch.randn(rng.randint(1, 3), *in_shape, dtype=torch.float64)
    return layer, x


def _grads(layer, x, y):
    return torch.autograd.grad(y.sum(), [x, *layer.parameters()], allow_unused=True)


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_fast_path_equals_dense_reference(seed, adaptive):
    layer, x = _layer(seed, adaptive)
    x.requires_grad_()
    fast = layer(x, generator=torch.Generator().manual_seed(seed))
    dense = layer.forward_dense(x, generator=torch.Generator().manual_seed(seed))
    assert fast.shape == (x.size(0), *layer.out_shape)
    torch.testing.assert_close(fast, dense)
    for a, b in zip(_grads(layer, x, fast), _grads(layer, x, dense), strict=True):
        torch.testing.assert_close(a, b)


def test_gradients_reach_means_sigmas_values_and_input():
    layer, x = _layer(0, adaptive=False, learn_cols=None, template=None, g=2, l=2, region=1)
    x.requires_grad_()
    layer(x).pow(2).sum().backward()
    for name, p in [("x", x), *layer.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_eval_is_the_rounded_sparse_matrix(seed, adaptive):
    layer, x = _layer(seed, adaptive)
    layer.eval()
    means, _, values = layer.tuples(x)
    index = layer.template.expand(*means.shape[:-2], -1, -1).clone()  # (.., k, R)
    index[..., layer.learn_cols] = means.round().long()
    dense = densify(index, values, layer.out_shape + layer.in_shape)  # (.., *out, *in)
    n_out = math.prod(layer.out_shape)
    expected = (dense.reshape(-1, n_out, x[0].numel()) @ x.reshape(x.size(0), -1, 1))
    expected = expected.view(x.size(0), *layer.out_shape)
    if layer.bias is not None:
        expected = expected + layer.bias
    torch.testing.assert_close(layer(x), expected)
    entries, _ = layer.sparse(x)
    assert entries.size(-2) == layer.k  # one connection per tuple


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_training_entries_are_in_bounds_follow_the_template_and_sum_to_values(seed, adaptive):
    layer, x = _layer(seed, adaptive)
    indices, weights = layer.sparse(x)
    shape = torch.tensor(layer.out_shape + layer.in_shape)
    assert (indices >= 0).all() and (indices < shape).all()
    k = layer.k
    per_tuple = indices.unflatten(-2, (k, -1))  # (.., k, m, R)
    fixed = [c for c in range(layer.rank) if c not in layer.learn_cols]
    sums = weights.unflatten(-1, (k, -1)).sum(-1)  # (.., k)
    _, _, values = layer.tuples(x)
    if layer.pooling == "fixed" or layer.chunk == 1:  # the tuples in their own order
        assert (per_tuple[..., fixed] == layer.template[:, None, fixed]).all()
        torch.testing.assert_close(sums, values)
        return
    rows = per_tuple[..., 0, fixed]  # (.., k, F): regrouped, each tuple keeps its own row
    assert (per_tuple[..., fixed] == rows.unsqueeze(-2)).all()
    template = layer.template[:, fixed].expand(*rows.shape)

    def pairs(rows, numbers):  # the (instance, template row, value) of every tuple, sorted
        numbers = numbers.reshape(-1, k)
        rows = rows.reshape(len(numbers), k, len(fixed))
        return sorted((i, *row, round(v, 9)) for i in range(len(rows))
                      for row, v in zip(rows[i].tolist(), numbers[i].tolist(), strict=True))

    assert pairs(rows, sums) == pairs(template, values.expand(*sums.shape))


def test_same_seed_gives_same_output():
    layer, x = _layer(5, adaptive=True)
    outs = [layer(x, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(first, layer(x))


def test_shared_layer_samples_once_for_the_whole_batch():
    layer = SparseLayer(6, 5, 4)
    indices, weights = layer.sparse(torch.randn(9, 6))
    assert indices.shape == (4 * (4 + 4 + 4), 2) and weights.shape == (4 * 12,)


def test_fixed_values_are_ones_and_not_parameters():
    layer = SparseLayer(6, 6, 6, learn_values=False)
    assert {n for n, _ in layer.named_parameters()} == {"raw_means", "raw_sigmas"}
    _, _, values = layer.tuples(torch.randn(2, 6))
    assert torch.equal(values, torch.ones(6))


def test_output_template_fixes_each_output_unit():
    template = output_template((2, 3), in_rank=1, per_output=2)
    assert template.shape == (12, 3)
    assert template[:4].tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 1, 0]]
    layer = SparseLayer(7, (2, 3), 12, learn_cols=[2], template=template).eval()
    x = torch.randn(3, 7)
    indices, _ = layer.sparse(x)
    assert torch.equal(indices[:, :2], template[:, :2])
    assert layer.raw_means.shape == (12, 1)


def test_dtype_and_device_follow_the_parameters():
    layer = SparseLayer(4, 3, 3, bias=True, region=3).double()
    y = layer(torch.randn(2, 4, dtype=torch.float64))
    assert y.dtype == torch.float64
    with pytest.raises(TypeError, match="float32"):
        layer(torch.randn(2, 4))


class Broken(HyperLayer):
    """A hypernetwork that returns whatever the test puts in ``out``."""

    out = None

    def hyper(self, x):
        return self.out


def _broken(means, sigmas, values):
    layer = Broken(3, 3, 2, region=2)
    layer.out = (means, sigmas, values)
    return lambda: layer(torch.randn(4, 3))


M, S, V = torch.zeros(2, 2), torch.zeros(2), torch.ones(2)
NAN = float("nan")
NANS = torch.tensor([0.0, NAN])
INF = torch.tensor([[0.0, 0.0], [math.inf, 0.0]])


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: SparseLayer(0, 3, 2), ValueError, "in_shape"),
        (lambda: SparseLayer((3, 0), 3, 2), ValueError, "in_shape"),
        (lambda: SparseLayer(3, (), 2), ValueError, "out_shape"),
        (lambda: SparseLayer(3, 2.5, 2), TypeError, "out_shape"),
        (lambda: SparseLayer(3, 3, 0), ValueError, "k"),
        (lambda: SparseLayer(3, 3, 2, region=4), ValueError, "region"),
        (lambda: SparseLayer(3, 3, 2, region=0), ValueError, "region"),
        (lambda: SparseLayer(3, 3, 2, g=-1, region=2), ValueError, "g must"),
        (lambda: SparseLayer(3, 3, 4, chunk=3, region=2), ValueError, "chunk"),
        (lambda: SparseLayer(3, 3, 2, region=2, min_sigma=0), ValueError, "min_sigma"),
        (lambda: SparseLayer(3, 3, 2, region=2, min_sigma=NAN), ValueError, "min_sigma"),
        (lambda: SparseLayer(3, 3, 2, region=2, sigma_scale=NAN), ValueError, "sigma_scale"),
        (lambda: SparseLayer(3, 3, 2, region=2, sigma_scale=math.inf), ValueError, "sigma_scale"),
        (lambda: SparseLayer(3, 3, 2, region=2, sigma_scale="0.1"), TypeError, "sigma_scale"),
        (lambda: SparseLayer(3, 3, 2, region=2, g=2.5), TypeError, "g must"),
        (lambda: SparseLayer(3, 3, 2, region=2, l=True), TypeError, "l must"),
        (lambda: SparseLayer(3, 3, 2, region=2.5), TypeError, "region"),
        (lambda: SparseLayer(3, 3, 2, region=2, chunk=2.0), TypeError, "chunk"),
        (lambda: SparseLayer(3, 3, 2, region=2, grid=0), ValueError, "grid"),
        (lambda: SparseLayer(3, 3, 2, region=2, grid=2.0), TypeError, "grid"),
        (lambda: SparseLayer(3, 3, 2, region=2, grid=3, chunk=2), ValueError, "grid of boxes"),
        (lambda: SparseLayer(3, 3, 2, region=2, grid=3).sparse(torch.zeros(1, 3)), ValueError,
         "profiles"),
        (lambda: SparseLayer(3, 3, True, region=2), TypeError, "k"),
        (lambda: SparseLayer(3, 3, 2.0, region=2), TypeError, "k"),
        (lambda: SparseLayer((3, True), 3, 2, region=2), TypeError, "in_shape"),
        (lambda: SparseLayer(3, 3, 2, learn_cols=[True], region=2), TypeError, "learn_cols"),
        (lambda: output_template((2, 3), 1.0, 2), TypeError, "in_rank"),
        (lambda: output_template((2, 3), 1, True), TypeError, "per_output"),
        (lambda: SparseLayer(3, 3, 2, learn_cols=[2], region=2), ValueError, "learn_cols"),
        (lambda: SparseLayer(3, 3, 2, learn_cols=[], region=2), ValueError, "learn_cols"),
        (lambda: SparseLayer(3, 3, 2, learn_cols=[1], region=2), ValueError, "template"),
        (
            lambda: SparseLayer(3, 3, 2, learn_cols=[1], template=torch.zeros(2, 2), region=2),
            TypeError,
            "template",
        ),
        (
            lambda: SparseLayer(3, 3, 2, learn_cols=[1], template=torch.zeros(3, 2).long()),
            ValueError,
            "template",
        ),
        (
            lambda: SparseLayer(3, 3, 2, learn_cols=[1], template=torch.full((2, 2), 3)),
            ValueError,
            "template",
        ),
        (lambda: SparseLayer(3, 3, 2, region=2)(torch.zeros(4, 3).long()), TypeError, "x"),
        (lambda: SparseLayer(3, 3, 2, region=2)(torch.zeros(4, 2)), ValueError, "x"),
        (lambda: SparseLayer(3, 3, 2, region=2)(torch.zeros(3)), ValueError, "x"),
        (lambda: SparseLayer(3, 3, 2, region=2)([[0.0] * 3]), TypeError, "x"),
        (lambda: SparseLayer(3, 3, 2, region=2)(torch.zeros(4, 3, device="meta")), ValueError, "x"),
        (_broken(M[None], S, V), ValueError, "means"),
        (_broken(M, S[None], V), ValueError, "sigmas"),
        (_broken(M, S, V[:1]), ValueError, "values"),
        (_broken(M.long(), S, V), TypeError, "means"),
        (_broken(M.tolist(), S, V), TypeError, "means"),
        (_broken(M, S, V.long()), TypeError, "values"),
        (_broken(M.double(), S, V), TypeError, "means"),
        (_broken(INF, S, V), ValueError, "non-finite numbers in means"),
        (_broken(M, NANS, V), ValueError, "non-finite numbers in sigmas"),
        (_broken(M, S, NANS), ValueError, "non-finite numbers in values"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_base_class_needs_a_hypernetwork():
    with pytest.raises(NotImplementedError):
        HyperLayer(3, 3, 2, region=2)(torch.zeros(1, 3))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("adaptive", "options"),
    [(False, {}), (True, {}), (False, {"chunk": 2}), (True, {"chunk": 2}),
     (True, {"learn_cols": [1], "template": output_template((4,), 1, 1), "chunk": 2})],
)
def test_empty_batch_gives_an_empty_output(training, adaptive, options):
    layer = (Adaptive if adaptive else SparseLayer)(3, 4, 4, region=2, bias=True, **options)
    x = torch.zeros(0, 3, requires_grad=True)
    y = layer.train(training)(x)
    assert y.shape == (0, 4) and layer.forward_dense(x).shape == (0, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 3)


def test_half_precision_gradients_stay_finite_when_sigma_collapses():
    """raw sigmas <= -10 leave sigma = min_sigma; in float16 every density overflowed and every
    gradient was NaN. The densities are now computed in float32."""
    torch.manual_seed(0)
    layer = SparseLayer(6, 6, 4, region=3).half()
    with torch.no_grad():
        layer.raw_sigmas.fill_(-12)
    x = torch.randn(5, 6).half().requires_grad_()
    y = layer(x, generator=torch.Generator().manual_seed(0))
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    y.float().pow(2).sum().backward()
    for name, t in [("x", x), *layer.named_parameters()]:
        assert torch.isfinite(t.grad).all(), name


def test_pooled_layer_contracts_each_pool_once(monkeypatch):
    """Without template columns all tuples of a chunk share their entries: forward() adds
    their weights before contracting, and still equals the dense reference (which does not)."""
    contracted = []

    def spy(indices, weights, x, out_shape):
        contracted.append(indices.size(-2))
        return contract(indices, weights, x, out_shape)

    monkeypatch.setattr(hyperlib.layers, "contract", spy)
    torch.manual_seed(0)
    layer = SparseLayer(6, 5, 8, chunk=4, g=2, l=2, region=2).double()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    fast = layer(x, generator=torch.Generator().manual_seed(1))
    assert contracted == [2 * 4 * (4 + 2 + 2)]  # two pools of 4 tuples x 8 samples
    dense = layer.forward_dense(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fast, dense)
    for a, b in zip(_grads(layer, x, fast), _grads(layer, x, dense), strict=True):
        torch.testing.assert_close(a, b)
    indices, _ = layer.sparse(x)
    assert indices.size(0) == 8 * 4 * (4 + 2 + 2)  # every tuple over its chunk's pool


@pytest.mark.cuda
@pytest.mark.parametrize("adaptive", [False, True])
def test_cuda_matches_cpu_dense_reference(adaptive):
    for seed in range(5):
        layer, x = _layer(seed, adaptive)
        gen = torch.Generator(device="cuda")
        fast = layer.cuda()(x.cuda(), generator=gen.manual_seed(seed))
        dense = layer.forward_dense(x.cuda(), generator=gen.manual_seed(seed))
        torch.testing.assert_close(fast, dense)
        assert fast.device.type == "cuda"


@pytest.mark.cuda
def test_training_step_does_not_synchronise_on_cuda():
    layer = Adaptive((5, 4), 6, 8, check_finite=False).cuda()
    x = torch.randn(32, 5, 4, device="cuda")
    layer(x)  # warm-up: lazy initialisation may synchronise once
    torch.cuda.set_sync_debug_mode("error")
    try:
        layer(x).pow(2).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.cuda
@pytest.mark.parametrize("adaptive", [False, True])
def test_grid_layer_on_cuda_matches_its_dense_tensor_without_a_sync(adaptive):
    layer, x = _layer(0, adaptive, chunk=1, pooling="fixed", grid=4, check_finite=False)
    layer, x = layer.cuda(), x.cuda()
    gen = torch.Generator(device="cuda")
    fast = layer(x, generator=gen.manual_seed(0))
    torch.testing.assert_close(fast, layer.forward_dense(x, generator=gen.manual_seed(0)))
    torch.cuda.set_sync_debug_mode("error")
    try:
        layer(x, generator=gen).pow(2).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_sorted_pools_are_fixed_pools_of_the_tuples_in_z_order():
    """pooling="sorted" groups the tuples by the Z-order of their rounded means: the same
    sparse tensor as fixed pools over the tuples put in that order first."""
    torch.manual_seed(0)
    layer = SparseLayer(16, 16, 8, chunk=4, pooling="sorted", g=2, l=2).double()
    x = torch.randn(3, 16, dtype=torch.float64)
    means = layer.tuples(x)[0].detach().round().long()  # (8, 2)
    order = sampling.z_order(means, (16, 16)).argsort(stable=True)
    fixed = SparseLayer(16, 16, 8, chunk=4, g=2, l=2).double()
    with torch.no_grad():
        for name in ("raw_means", "raw_sigmas", "values"):
            getattr(fixed, name).copy_(getattr(layer, name)[order])
    y = layer(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y, fixed(x, generator=torch.Generator().manual_seed(1)))
    y.sum().backward()  # the regrouping passes the gradient through to every tuple
    assert layer.raw_means.grad.abs().sum(-1).gt(0).all()


def test_random_pools_are_drawn_anew_every_step_from_the_generator():
    torch.manual_seed(0)
    layer = SparseLayer(16, 16, 8, chunk=2, pooling="random", g=0, l=0)
    x = torch.randn(2, 16)
    generator = torch.Generator().manual_seed(0)
    first, second = (layer.sparse(x, generator)[0] for _ in range(2))
    assert not torch.equal(first, second)  # g = l = 0: only the grouping is random
    again = layer.sparse(x, torch.Generator().manual_seed(0))[0]
    assert torch.equal(first, again)
    layer.eval()  # evaluation: one connection per tuple, no pools
    assert layer.sparse(x)[0].shape == (8, 2)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling must be one of"):
        SparseLayer(4, 4, 4, chunk=2, pooling="nearest")


def test_window_pools_are_the_chunk_tuples_around_each_in_z_order():
    """pooling="window": tuple i of the Z-order is normalised over the samples of tuples
    i - chunk // 2 onwards (shifted inwards at the ends), and forward() equals the dense
    reference (no pools merged: the windows overlap)."""
    torch.manual_seed(0)
    layer = SparseLayer(16, 16, 6, chunk=3, pooling="window", g=1, l=1, learn_values=False)
    layer = layer.double()
    x = torch.randn(2, 16, dtype=torch.float64)
    indices, weights = layer.sparse(x, torch.Generator().manual_seed(2))
    m = 4 + 1 + 1
    assert indices.shape == (6 * 3 * m, 2)
    windows = indices.view(6, 3, m, 2)  # per tuple (in Z-order): its window's 3 tuples' samples
    own = windows[torch.arange(6), torch.tensor([0, 1, 1, 1, 1, 2])]  # each tuple's own samples
    for i, start in enumerate([0, 0, 1, 2, 3, 3]):
        assert torch.equal(windows[i], own[start : start + 3])
    torch.testing.assert_close(weights.view(6, -1).sum(-1), torch.ones(6, dtype=torch.float64))
    fast = layer(x, generator=torch.Generator().manual_seed(2))
    dense = layer.forward_dense(x, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(fast, dense)
    with pytest.raises(ValueError, match="chunk must be at most k = 6"):
        SparseLayer(16, 16, 6, chunk=7, pooling="window")


@FEW
@given(st.integers(0, 2**31 - 1), st.booleans(), st.integers(1, 4))
def test_grid_layer_equals_its_dense_tensor_and_spreads_each_value(seed, adaptive, q):
    """Training on a grid of boxes: the summed-area contraction equals the dense product,
    values and gradients; the pieces lie in the tensor, a template column is its one entry,
    and each tuple's boxes hold its value (sum over the tensor = sum of the values)."""
    layer, x = _layer(seed, adaptive, chunk=1, pooling="fixed", grid=q)
    x.requires_grad_()
    fast = layer(x, torch.Generator().manual_seed(seed))
    dense = layer.forward_dense(x, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(fast, dense)
    for a, b in zip(_grads(layer, x, fast), _grads(layer, x, dense), strict=True):
        torch.testing.assert_close(a, b)
    lower, upper, _ = layer.profiles(x, torch.Generator().manual_seed(seed))  # (.., k, R, q)
    shape = torch.tensor(layer.out_shape + layer.in_shape)[:, None]
    assert (lower >= 0).all() and (lower <= upper).all() and (upper <= shape).all()
    fixed = [c for c in range(layer.rank) if c not in layer.learn_cols]
    assert (lower[..., fixed, 0] == layer.template[:, fixed]).all()
    assert ((upper - lower)[..., fixed, :] == torch.arange(q).eq(0)).all()
    values = layer.tuples(x)[2].expand(*lower.shape[:-3], layer.k)
    totals = layer.dense(x, torch.Generator().manual_seed(seed)).flatten(-layer.rank).sum(-1)
    torch.testing.assert_close(totals, values.sum(-1))


def test_grid_layer_draws_its_shifts_from_the_generator_and_evaluates_rounded():
    torch.manual_seed(0)
    boxed = SparseLayer(40, 30, 5, grid=4, sigma_scale=0.05)  # runs of 4-5: the grid can move
    plain = SparseLayer(40, 30, 5, sigma_scale=0.05)
    plain.load_state_dict(boxed.state_dict())
    x = torch.randn(3, 40)
    same = [boxed(x, torch.Generator().manual_seed(1)) for _ in range(2)]
    torch.testing.assert_close(*same)
    assert not torch.equal(same[0], boxed(x, torch.Generator().manual_seed(2)))
    boxed.eval(), plain.eval()
    torch.testing.assert_close(boxed(x), plain(x))
    boxed(x).sum().backward()  # eval: the values get gradients, as without boxes
    assert boxed.values.grad.abs().sum() > 0


def test_grid_layer_gradients_reach_means_sigmas_and_values():
    torch.manual_seed(0)
    layer = SparseLayer(12, 12, 6, grid=6, sigma_scale=0.2)
    x = torch.randn(4, 12, requires_grad=True)
    (layer(x) - x).pow(2).sum().backward()
    for name, p in [("x", x), *layer.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_place_moves_tuples_onto_entries_with_the_given_sigma(dtype):
    """The corners too (the sigmoid reaches 0 and size - 1 only in the limit); sigma is set in
    the smallest learned column; the other tuples and every value stay."""
    torch.manual_seed(0)
    layer = SparseLayer(7, 5, 6, min_sigma=0.3).to(dtype)  # learned sizes (5, 7)
    before = [t.detach().clone() for t in layer.tuples(torch.zeros(1, 7, dtype=dtype))]
    entries = torch.tensor([[0, 0], [4, 6], [2, 3]])
    layer.place(torch.tensor([1, 3, 4]), entries, 0.5)
    means, sigmas, values = layer.tuples(torch.zeros(1, 7, dtype=dtype))
    assert torch.equal(means[[1, 3, 4]].detach().round().long(), entries)
    expected = torch.tensor([0.5, 0.3 + 0.2 * 7 / 5], dtype=dtype).expand(3, 2)
    torch.testing.assert_close(sigmas[[1, 3, 4]].detach(), expected)
    for old, new in zip(before[:2], (means, sigmas), strict=True):
        assert torch.equal(old[[0, 2, 5]], new[[0, 2, 5]].detach())
    assert torch.equal(values.detach(), before[2])
    with pytest.raises(ValueError, match="exceed min_sigma"):
        layer.place(torch.tensor([0]), torch.tensor([[1, 1]]), 0.3)
