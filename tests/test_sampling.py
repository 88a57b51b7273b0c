"""Continuous tuples -> integer samples -> normalised weights (hyperlib.sampling)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperlib.sampling import (
    boxes,
    duplicates,
    log_densities,
    pool,
    sample,
    transform_means,
    transform_sigmas,
    weights,
)

FEW = settings(max_examples=25, deadline=None)


@st.composite
def tuples(draw, max_r=3, max_size=9, max_k=4):
    """Random continuous tuples: (means (k, r), sigmas (k, r), values (k,), size, g, l, region)."""
    r = draw(st.integers(1, max_r))
    size = tuple(draw(st.lists(st.integers(1, max_size), min_size=r, max_size=r)))
    k = draw(st.integers(1, max_k))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    # raw means spread wide, so some tuples sit exactly on the edges of the range
    raw = torch.randn(k, r, generator=gen, dtype=torch.float64) * 6
    means = transform_means(raw, size)
    sigmas = transform_sigmas(torch.randn(k, generator=gen, dtype=torch.float64), size, 0.1, 1e-3)
    values = torch.randn(k, generator=gen, dtype=torch.float64)
    g, l = draw(st.integers(0, 5)), draw(st.integers(0, 5))  # noqa: E741
    region = draw(st.integers(1, min(size)))
    return means, sigmas, values, size, g, l, region, gen


def test_transforms_follow_the_formulas():
    raw = torch.tensor([[-1e4, 0.0], [1e4, 2.0]])
    means = transform_means(raw, (5, 3))
    top = 2 * torch.sigmoid(torch.tensor(2.0))
    torch.testing.assert_close(means, torch.tensor([[0.0, 1.0], [4.0, top]]))
    s = torch.tensor([0.0, -3.0])
    sigmas = transform_sigmas(s, (5, 3), sigma_scale=0.1, min_sigma=0.01)
    expected = F.softplus(s + 2).unsqueeze(-1) * torch.tensor([5.0, 3.0]) * 0.1 + 0.01
    torch.testing.assert_close(sigmas, expected)
    assert sigmas.shape == (2, 2)


@FEW
@given(tuples())
def test_samples_are_in_bounds_and_structured(case):
    means, _, _, size, g, l, region, gen = case  # noqa: E741
    r = len(size)
    samples = sample(means, size, g, l, region, generator=gen)
    assert samples.dtype == torch.long and samples.shape == (len(means), 2**r + g + l, r)
    upper = torch.tensor(size)
    assert (samples >= 0).all() and (samples < upper).all()
    # the first 2^r are the floor/ceil corners of mu (clamped into range)
    corners, mu = samples[:, : 2**r], means.unsqueeze(1)  # (k, 2^r, r), (k, 1, r)
    assert ((corners == mu.floor()) | (corners == mu.ceil().clamp(max=upper - 1))).all()
    assert len({tuple(c) for c in corners[0].tolist()}) == 2 ** (mu[0, 0] % 1 != 0).sum()
    # the last l lie within a box of side `region` that contains round(mu)
    local = samples[:, 2**r + g :].float()
    spread = local.amax(1) - local.amin(1) if l else torch.zeros(1)
    assert (spread <= region - 1).all()
    assert ((local - means.round().unsqueeze(1)).abs() <= region - 1).all()


def test_samples_are_clamped_when_random_numbers_hit_the_top(monkeypatch):
    """rand() * size can round up to size in float32; the sampler must clamp it back."""
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.ones(*shape, device=kw["device"]))
    means = torch.tensor([[6.0, 0.0]])  # on the upper and lower edges
    samples = sample(means, (7, 3), g=3, l=3, region=3)
    assert samples[..., 0].max() == 6 and samples[..., 1].max() == 2
    assert (samples >= 0).all()


def test_same_generator_seed_gives_same_samples():
    means = transform_means(torch.randn(5, 2), (10, 10))
    draw = [sample(means, (10, 10), 4, 4, 4, torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(draw[0], draw[1])
    assert not torch.equal(draw[0], draw[2])


@FEW
@given(st.integers(1, 3), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_duplicates_keep_exactly_the_first_copy(r, m, seed):
    size = (3,) * r
    samples = torch.randint(0, 3, (4, m, r), generator=torch.Generator().manual_seed(seed))
    dup = duplicates(samples, size)
    for tuple_samples, tuple_dup in zip(samples.tolist(), dup.tolist(), strict=True):
        seen = set()
        for position, is_dup in zip(map(tuple, tuple_samples), tuple_dup, strict=True):
            assert is_dup == (position in seen)
            seen.add(position)


def test_duplicates_are_exact_for_large_offsets():
    """Neighbouring offsets beyond float precision (2^24 + 1 vs 2^24) stay distinct."""
    size = (2**13, 2**12)
    samples = torch.tensor([[[4096, 0], [4096, 1], [4096, 0]]])
    assert duplicates(samples, size).tolist() == [[False, False, True]]


def _brute_weights(samples, means, sigmas, values):
    """The formula, one tuple and one sample at a time, in Python."""
    out = []
    for t_i, mu, sd, v in zip(samples.tolist(), means.tolist(), sigmas.tolist(), values.tolist(),
                              strict=True):
        seen, dens = set(), []
        for t in map(tuple, t_i):
            p = math.exp(-0.5 * sum(((a - b) / c) ** 2 for a, b, c in zip(t, mu, sd, strict=True)))
            dens.append(0.0 if t in seen else p)
            seen.add(t)
        out.append([v * p / sum(dens) for p in dens])
    return torch.tensor(out, dtype=torch.float64)


@FEW
@given(tuples())
def test_weights_match_formula_sum_to_value_and_skip_duplicates(case):
    means, sigmas, values, size, g, l, region, gen = case  # noqa: E741
    samples = sample(means, size, g, l, region, generator=gen)
    w = weights(samples, means, sigmas, values, size)
    torch.testing.assert_close(w, _brute_weights(samples, means, sigmas, values))
    torch.testing.assert_close(w.sum(-1), values)
    dup = duplicates(samples, size)
    assert (w[dup] == 0).all()
    # no two samples of a tuple with non-zero weight share a position
    for t_i, w_i in zip(samples, w, strict=True):
        live = t_i[w_i != 0]
        assert len(set(map(tuple, live.tolist()))) == len(live)


def test_weights_stay_finite_far_from_the_mean():
    """All densities underflow exp(); the normalisation must still be finite (softmax)."""
    samples = torch.tensor([[[0], [1], [90]]])
    means, sigmas = torch.tensor([[50.0]]), torch.tensor([[1e-3]])
    w = weights(samples, means, sigmas, torch.tensor([2.0]), (100,))
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w, torch.tensor([[0.0, 0.0, 2.0]]))  # 90 is nearest


def test_log_densities_use_sigma_as_standard_deviation():
    samples = torch.tensor([[[3, 4]]])
    means, sigmas = torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 3.0]])
    torch.testing.assert_close(log_densities(samples, means, sigmas), torch.tensor([[-1.0]]))


def test_gradcheck_weights_wrt_means_sigmas_values():
    gen = torch.Generator().manual_seed(0)
    size = (6, 5)
    means = transform_means(torch.randn(3, 2, generator=gen, dtype=torch.float64), size)
    samples = sample(means, size, 3, 3, 3, generator=gen)
    sigmas = torch.rand(3, 2, generator=gen, dtype=torch.float64) + 0.5
    values = torch.randn(3, generator=gen, dtype=torch.float64)
    inputs = tuple(t.clone().requires_grad_() for t in (means, sigmas, values))
    assert torch.autograd.gradcheck(lambda m, s, v: weights(samples, m, s, v, size), inputs)


def test_gradcheck_through_the_raw_transforms():
    gen = torch.Generator().manual_seed(1)
    size = (7,)
    raw_m = torch.randn(4, 1, generator=gen, dtype=torch.float64, requires_grad=True)
    raw_s = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    samples = sample(transform_means(raw_m, size), size, 2, 2, 3, generator=gen)
    values = torch.ones(4, dtype=torch.float64)

    def fn(a, s):
        return weights(samples, transform_means(a, size), transform_sigmas(s, size), values, size)

    assert torch.autograd.gradcheck(fn, (raw_m, raw_s))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_have_finite_gradients_when_sigma_collapses(dtype):
    """sigma = min_sigma: in 16 bits ((t - mu) / sigma)^2 overflowed for every sample, and the
    softmax over all -inf made every weight and gradient NaN."""
    size = (9, 9)
    raw = torch.tensor([[0.3, -0.2], [1.1, 0.4]], dtype=dtype, requires_grad=True)
    raw_sigmas = torch.full((2,), -10.0, dtype=dtype, requires_grad=True)
    values = torch.ones(2, dtype=dtype, requires_grad=True)
    means, sigmas = transform_means(raw, size), transform_sigmas(raw_sigmas, size)
    samples = sample(means, size, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    w = weights(samples, means, sigmas, values, size)
    assert w.dtype == dtype and torch.isfinite(w).all()
    torch.testing.assert_close(w.float().sum(-1), torch.ones(2))
    w.mul(torch.linspace(-1, 1, w.size(-1), dtype=dtype)).sum().backward()
    for t in (raw, raw_sigmas, values):
        assert torch.isfinite(t.grad).all()


def test_empty_batches_pool_and_weigh_to_empty_tensors():
    means = torch.zeros(0, 4, 2)
    samples = pool(sample(means, (5, 5), 2, 2, 2), 2)
    assert samples.shape == (0, 4, 2 * 8, 2)
    w = weights(samples, means, torch.ones(0, 4, 2), torch.ones(0, 4), (5, 5))
    assert w.shape == (0, 4, 16)


def test_pool_shares_the_chunk_samples():
    samples = torch.arange(4 * 2 * 1).view(4, 2, 1)
    assert torch.equal(pool(samples, 1), samples)
    pooled = pool(samples, 2)
    assert pooled.shape == (4, 4, 1)
    assert pooled[0].flatten().tolist() == [0, 1, 2, 3] == pooled[1].flatten().tolist()
    assert pooled[3].flatten().tolist() == [4, 5, 6, 7]


@FEW
@given(tuples(max_k=4))
def test_pooled_weights_sum_to_value(case):
    means, sigmas, values, size, g, l, region, gen = case  # noqa: E741
    k = len(means)
    samples = pool(sample(means, size, g, l, region, generator=gen), k)
    w = weights(samples, means, sigmas, values, size)
    torch.testing.assert_close(w.sum(-1), values)
    assert (w[duplicates(samples, size)] == 0).all()


CPU_GEN = torch.Generator()
NAN, ZERO = float("nan"), torch.zeros(2)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: sample(torch.zeros(0, 2), (3, 3)), ValueError, "k = 0"),
        (lambda: sample(torch.zeros(2, 3), (3, 3)), ValueError, "means"),
        (lambda: sample(torch.zeros(2), (3,)), ValueError, "means"),
        (lambda: sample(torch.zeros(2, 2, dtype=torch.long), (3, 3)), TypeError, "means"),
        (lambda: sample(torch.zeros(2, 2).tolist(), (3, 3)), TypeError, "means"),
        (lambda: sample(torch.zeros(2, 2), (3, 0)), ValueError, "size"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), region=4), ValueError, "region"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), region=0), ValueError, "region"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), region=(2, 2, 2)), ValueError, "region"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), region=2.5), TypeError, "region"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), region=(2, True)), TypeError, "region"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), g=-1, region=2), ValueError, "g must"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), g=2.5, region=2), TypeError, "g must"),
        (lambda: sample(torch.zeros(2, 2), (3, 3), l=True, region=2), TypeError, "l must"),
        (lambda: sample(torch.zeros(2, 2), (3, 2.5), region=2), TypeError, "size"),
        (lambda: transform_means(torch.zeros(2, 1), (0,)), ValueError, "size"),
        (lambda: transform_sigmas(torch.zeros(2), (3,), sigma_scale=0), ValueError, "sigma_scale"),
        (lambda: transform_sigmas(torch.zeros(2), (3,), min_sigma=0), ValueError, "min_sigma"),
        (lambda: transform_sigmas(ZERO, (3,), sigma_scale=NAN), ValueError, "sigma_scale"),
        (lambda: transform_sigmas(ZERO, (3,), min_sigma=NAN), ValueError, "min_sigma"),
        (lambda: transform_sigmas(ZERO, (3,), min_sigma=math.inf), ValueError, "min_sigma"),
        (lambda: transform_sigmas(ZERO, (3,), sigma_scale=True), TypeError, "sigma_scale"),
        (lambda: duplicates(torch.zeros(2, 3, 1, dtype=torch.long), (2.5,)), TypeError, "size"),
        (
            lambda: sample(torch.zeros(2, 2, device="meta"), (3, 3), region=2, generator=CPU_GEN),
            ValueError,
            "generator is on cpu",
        ),
        (lambda: transform_sigmas(torch.zeros(2, dtype=torch.int32), (3,)), TypeError, "sigmas"),
        (lambda: pool(torch.zeros(3, 2, 1, dtype=torch.long), 2), ValueError, "chunk"),
        (lambda: pool(torch.zeros(4, 2, 1, dtype=torch.long), 2.0), TypeError, "chunk"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


@pytest.mark.cuda
def test_samples_on_cuda_follow_the_input_device():
    means = transform_means(torch.randn(64, 3, 2, device="cuda"), (9, 9))
    gen = torch.Generator(device="cuda").manual_seed(0)
    samples = sample(means, (9, 9), 4, 4, 4, generator=gen)
    assert samples.device.type == "cuda" and (samples >= 0).all() and (samples < 9).all()
    sigmas = transform_sigmas(torch.zeros(64, 3, device="cuda"), (9, 9))
    w = weights(samples, means, sigmas, torch.ones(64, 3, device="cuda"), (9, 9))
    torch.testing.assert_close(w.sum(-1), torch.ones(64, 3, device="cuda"))


def test_z_order_interleaves_the_bits_most_significant_first():
    from hyperlib.sampling import z_order

    grid = torch.cartesian_prod(torch.arange(4), torch.arange(4))  # (16, 2) row-major
    keys = z_order(grid, (4, 4)).view(4, 4)
    assert keys.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    bits = 0b000_011_101  # bit 2 of each column, then bit 1, then bit 0
    assert z_order(torch.tensor([[1, 2, 3]]), (2, 4, 8)).tolist() == [bits]


def _phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@FEW
@given(tuples(), st.integers(1, 7))
def test_boxes_tile_a_grid_around_the_mean_and_hold_the_gaussians_mass(case, q):
    means, sigmas, _, size, *_ = case
    lower, upper, mass = boxes(means, sigmas, size, q)
    k, r = means.shape
    assert lower.shape == upper.shape == mass.shape == (k, r, q)
    top = torch.tensor(size)[:, None]
    assert (lower >= 0).all() and (lower <= upper).all() and (upper <= top).all()
    assert (mass >= 0).all()
    torch.testing.assert_close(mass.sum(-1), torch.ones(k, r, dtype=mass.dtype))
    for i in range(k):
        for d in range(r):  # column d: q runs of side s, consecutive, cut only at the end
            side = min(max(math.floor(6 * sigmas[i, d] / q), 1), size[d])
            runs = list(zip(lower[i, d].tolist(), upper[i, d].tolist(), strict=True))
            for (_, hi), (next_lo, _) in itertools.pairwise(runs):
                assert hi == next_lo or hi == next_lo == size[d]
            for lo, hi in runs:
                assert hi - lo == side or hi == size[d]
            if q > 1:  # the grid holds mu; its start is shifted by less than one side
                assert runs[0][0] <= means[i, d].round() < runs[-1][1]
            covered = runs[-1][1] - runs[0][0]
            assert covered == min(q * side, size[d]) or runs[0][0] == 0  # shifted inside
            expected = torch.tensor(
                [_phi((hi - 0.5 - means[i, d].item()) / sigmas[i, d].item())
                 - _phi((lo - 0.5 - means[i, d].item()) / sigmas[i, d].item()) for lo, hi in runs],
                dtype=mass.dtype)
            if expected.sum() > 1e-12:  # else the tails underflow in math.erf
                torch.testing.assert_close(mass[i, d], expected / expected.sum())


def test_boxes_of_a_narrow_tuple_put_its_mass_on_its_rounded_mean():
    means = torch.tensor([[3.2, 6.7], [0.0, 9.0]], dtype=torch.float64)
    lower, upper, mass = boxes(means, torch.full_like(means, 0.02), (10, 10), 5)
    best = mass.argmax(-1, keepdim=True)  # (k, r, 1)
    assert mass.max(-1).values.gt(1 - 1e-9).all()  # 10 sigma from the next entry at least
    assert lower.gather(-1, best)[..., 0].tolist() == [[3, 7], [0, 9]]
    assert (upper - lower).gather(-1, best).eq(1).all()


def test_boxes_of_a_wide_tuple_are_sigma_wide_and_keep_far_masses_accurate():
    """sigma 10.7 in a range of 200: 6 boxes of 10 around mu = 100, the grid's start shifted
    by a random fraction of a side. Far tails come from erfc: at 17.5 sigma a box holds
    ~1e-69, which 1 - Phi would round to exactly 0."""
    means, sigmas = torch.tensor([[100.0], [10.7]], dtype=torch.float64).split(1)
    starts = set()
    for seed in range(20):
        lower, upper, mass = boxes(means, sigmas, (200,), 6, torch.Generator().manual_seed(seed))
        assert lower.shape == (1, 1, 6) and (upper - lower).eq(10).all()
        lo, hi = lower[0, 0, 0].item(), upper[0, 0, -1].item()
        starts.add(lo)
        first = _phi((lo + 9.5 - 100) / 10.7) - _phi((lo - 0.5 - 100) / 10.7)
        total = _phi((hi - 0.5 - 100) / 10.7) - _phi((lo - 0.5 - 100) / 10.7)
        assert math.isclose(mass[0, 0, 0].item(), first / total, rel_tol=1e-9)
    assert min(starts) >= 66 and max(starts) <= 75 and len(starts) > 3  # 71 +- half a side
    mu, sigma = torch.tensor([[3.0], [0.2]], dtype=torch.float64).split(1)
    far = boxes(mu, sigma, (20,), 8)
    assert 0 < far[2][0, 0, -1] < 1e-60 and far[1][0, 0, -1] == 8  # entry 7: [6.5, 7.5)


def test_same_generator_seed_gives_the_same_boxes():
    means = torch.rand(5, 2, generator=torch.Generator().manual_seed(0)) * 60 + 20
    sigmas = torch.full((5, 2), 6.5)
    first = boxes(means, sigmas, (100, 100), 6, torch.Generator().manual_seed(3))
    again = boxes(means, sigmas, (100, 100), 6, torch.Generator().manual_seed(3))
    other = boxes(means, sigmas, (100, 100), 6, torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_gradcheck_box_masses_wrt_means_and_sigmas():
    means = torch.tensor([[2.3, 5.5], [7.9, 0.4]], dtype=torch.float64, requires_grad=True)
    sigmas = torch.tensor([[1.3, 0.7], [3.1, 2.2]], dtype=torch.float64, requires_grad=True)
    def mass(m, s):  # the same shifts at every call
        return boxes(m, s, (9, 8), 4, torch.Generator().manual_seed(0))[2]

    assert torch.autograd.gradcheck(mass, (means, sigmas))


def test_boxes_in_half_precision_take_their_masses_in_float32():
    means = torch.tensor([[30.4]], dtype=torch.float16, requires_grad=True)
    sigmas = torch.tensor([[0.002]], dtype=torch.float16)
    mass = boxes(means, sigmas, (64,), 6)[2]
    assert mass.dtype == torch.float16 and mass.sum().item() == 1.0
    mass[0, 0, 0].backward()
    assert torch.isfinite(means.grad).all()
