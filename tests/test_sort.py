"""Differentiable quicksort (hyperlib.sort): exact in eval, a convex mix of sorts in training."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperlib.sort import (
    PROPOSALS,
    SortLayer,
    duplicates,
    median_split,
    mixing,
    partition,
    random_splits,
    split_probabilities,
    swap_splits,
)

FEW = settings(max_examples=25, deadline=None)


def _argsorted(items, keys):
    """The reference: items and keys gathered by a stable argsort of the keys."""
    order = keys.argsort(dim=1, stable=True)  # (b, s)
    index = order.view(*order.shape, *[1] * (items.dim() - 2))
    return items.take_along_dim(index, dim=1), keys.gather(1, order)


def _soft_matrix(layer, keys, seed=0):
    """The training-mode mix as a (b, s, s) matrix: sort the one-hot identity items."""
    b, s = keys.shape
    eye = torch.eye(s, dtype=keys.dtype).expand(b, s, s)
    return layer.train()(eye, keys, torch.Generator().manual_seed(seed))


# ---- eval: an exact (stable) sort -------------------------------------------------------


@FEW
@given(
    st.sampled_from([2, 4, 8, 16]),
    st.integers(1, 4),
    st.integers(0, 2**31 - 1),
    st.booleans(),
    st.sampled_from([(), (3,), (2, 3)]),
    st.sampled_from(PROPOSALS),
)
def test_eval_is_an_exact_stable_sort(s, b, seed, ties, item_shape, proposal):
    gen = torch.Generator().manual_seed(seed)
    if ties:  # few distinct values: many equal keys, ordered by position
        keys = torch.randint(0, 3, (b, s), generator=gen).double()
    else:
        keys = torch.randn(b, s, generator=gen, dtype=torch.float64)
    items = torch.randn(b, s, *item_shape, generator=gen, dtype=torch.float64)
    sorted_items, sorted_keys = SortLayer(s, proposal=proposal).eval()(items, keys)
    expected_items, expected_keys = _argsorted(items, keys)
    assert torch.equal(sorted_items, expected_items)
    assert torch.equal(sorted_keys, expected_keys)


@pytest.mark.parametrize("training", [True, False])
def test_non_contiguous_inputs_are_sorted(training):
    keys = torch.randn(4, 3, dtype=torch.float64).t()  # (3, 4), a transposed view
    items = torch.randn(2, 4, 3, dtype=torch.float64).permute(2, 1, 0)  # (3, 4, 2)
    assert not keys.is_contiguous() and not items.is_contiguous()
    layer = SortLayer(4, candidates=1).train(training)
    sorted_items, sorted_keys = layer(items, keys, torch.Generator().manual_seed(0))
    expected_items, expected_keys = _argsorted(items, keys)
    torch.testing.assert_close(sorted_items, expected_items)
    torch.testing.assert_close(sorted_keys, expected_keys)


def test_one_candidate_makes_training_equal_evaluation():
    gen = torch.Generator().manual_seed(3)
    keys, items = torch.randn(5, 8, generator=gen), torch.randn(5, 8, 2, generator=gen)
    layer = SortLayer(8, candidates=1).train()
    sorted_items, sorted_keys = layer(items, keys, gen)
    expected_items, expected_keys = _argsorted(items, keys)
    torch.testing.assert_close(sorted_items, expected_items, rtol=0, atol=1e-6)
    torch.testing.assert_close(sorted_keys, expected_keys, rtol=0, atol=1e-6)


# ---- training: a convex mix of permutations -----------------------------------------------


@FEW
@given(st.sampled_from([2, 4, 8, 16]), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_training_output_is_doubly_stochastic(s, b, seed):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(b, s, generator=gen, dtype=torch.float64)
    layer = SortLayer(s, certainty=1.0)  # soft: many candidates carry weight
    matrix, sorted_keys = _soft_matrix(layer, keys, seed)
    assert matrix.shape == (b, s, s) and (matrix >= 0).all()
    ones = torch.ones(b, s, dtype=torch.float64)
    torch.testing.assert_close(matrix.sum(1), ones)
    torch.testing.assert_close(matrix.sum(2), ones)
    # the keys are mixed by the same matrix as the items
    torch.testing.assert_close(sorted_keys, (matrix @ keys.unsqueeze(-1)).squeeze(-1))


def test_training_approaches_the_hard_sort_as_certainty_grows():
    gen = torch.Generator().manual_seed(0)
    keys = torch.stack([torch.randperm(8, generator=gen) for _ in range(4)]).double()  # gap 1
    hard = SortLayer(8).eval()(torch.eye(8, dtype=keys.dtype).expand(4, 8, 8), keys)[0]
    errors = []
    for certainty in (0.5, 2.0, 8.0, 32.0):
        matrix, _ = _soft_matrix(SortLayer(8, certainty=certainty), keys)
        errors.append((matrix - hard).abs().max().item())
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[0] > 0.1 and errors[-1] < 1e-6, errors


def test_large_certainty_and_equal_keys_stay_finite():
    items = torch.randn(3, 8, 2, dtype=torch.float64)
    spread = torch.randn(3, 8, dtype=torch.float64) * 100
    for keys in (torch.zeros(3, 8, dtype=torch.float64), spread):
        keys.requires_grad_(True)
        layer = SortLayer(8, certainty=1e4).train()
        sorted_items, sorted_keys = layer(items, keys, torch.Generator().manual_seed(0))
        (sorted_items.pow(2).sum() + sorted_keys.sum()).backward()
        assert torch.isfinite(sorted_items).all() and torch.isfinite(sorted_keys).all()
        assert torch.isfinite(keys.grad).all()


TOP = torch.finfo(torch.float32).max


@pytest.mark.parametrize(
    "keys",
    [
        [3e38, -3e38, TOP, -TOP],  # the median's two keys summed overflowed
        [TOP, -TOP, 2e38],  # padded: the padding keys overflowed to inf
        [TOP, 2e38, -TOP, -2e38, 3e38, -1e38, 1e38, -3e38],
        [-TOP, 1e38, TOP, -2e38, 3e38, 2e38],
        [TOP, TOP, -TOP, -TOP, 3e38, TOP, 1e38, TOP],  # ties at the top: their mix can round up
    ],
)
def test_keys_near_the_largest_float_give_a_finite_sort(keys):
    """Distinct keys this far apart saturate every split: training equals the exact sort, with
    finite gradients. Tied keys share their places in training, as tied keys of any size do;
    near the largest float the keys' own gradient then exceeds it (not checked)."""
    keys = torch.tensor([keys, [-k for k in keys]], requires_grad=True)
    s = keys.size(1)
    items = torch.randn(2, s, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    layer = SortLayer(s)
    sorted_items, sorted_keys = layer.train()(items, keys, torch.Generator().manual_seed(1))
    assert torch.isfinite(sorted_items).all() and torch.isfinite(sorted_keys).all()
    sorted_items.pow(2).sum().backward()
    assert torch.isfinite(items.grad).all()
    if len(set(keys[0].tolist())) == s:
        expected_items, expected_keys = _argsorted(items.detach(), keys.detach())
        assert torch.equal(sorted_items, expected_items)
        assert torch.equal(sorted_keys, expected_keys) and torch.isfinite(keys.grad).all()


def test_the_median_of_two_huge_keys_does_not_overflow():
    median, upper = median_split(torch.tensor([[TOP, TOP], [TOP, 1.0], [3.0, 4.0]]))
    assert median.tolist() == [TOP, TOP / 2, 3.5] and upper.tolist()[0] == [False, True]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("training", [True, False])
def test_non_finite_keys_are_refused(bad, training):
    """One NaN or inf key made every soft output NaN, silently."""
    keys = torch.tensor([[0.0, 1.0, bad, 2.0]])
    with pytest.raises(ValueError, match="non-finite numbers in keys"):
        SortLayer(4).train(training)(torch.eye(4)[None], keys)
    SortLayer(4, check_finite=False).train(training)(torch.eye(4)[None], keys)  # on request


@pytest.mark.parametrize("s", [4, 5])
@pytest.mark.parametrize("training", [True, False])
def test_empty_batch_gives_an_empty_sort(s, training):
    items, keys = torch.zeros(0, s, 3, requires_grad=True), torch.zeros(0, s, requires_grad=True)
    sorted_items, sorted_keys = SortLayer(s).train(training)(items, keys)
    assert sorted_items.shape == (0, s, 3) and sorted_keys.shape == (0, s)
    (sorted_items.sum() + sorted_keys.sum()).backward()
    assert items.grad.shape == items.shape


def test_equal_keys_give_equal_weight_to_all_distinct_candidates():
    logits = torch.zeros(1, 4, dtype=torch.float64)  # o = 1/2 for every item
    splits = torch.tensor([[[0, 0, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1], [0, 1, 1, 0]]]).bool()
    probs = split_probabilities(logits, splits)
    third = 1 / 3
    torch.testing.assert_close(probs, torch.tensor([[third, third, 0.0, third]]).double())


# ---- the pieces ---------------------------------------------------------------------------


def test_median_split_takes_the_upper_half_with_ties_by_position():
    keys = torch.tensor([[3.0, 1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0], [5.0, 2.0, 2.0, 9.0]])
    median, upper = median_split(keys)
    torch.testing.assert_close(median, torch.tensor([1.5, 1.0, 3.5]))
    expected = [[True, False, True, False], [False, False, True, True], [True, False, False, True]]
    assert upper.tolist() == expected


def test_partition_is_stable():
    splits = torch.tensor([True, False, False, True, True, False])
    assert partition(splits).tolist() == [1, 2, 5, 0, 3, 4]


def test_random_splits_are_balanced_and_uniform():
    gen = torch.Generator().manual_seed(0)
    splits = random_splits((6000,), 4, torch.device("cpu"), gen)  # (6000, 4)
    assert (splits.sum(-1) == 2).all()
    codes = (splits.long() * torch.tensor([1, 2, 4, 8])).sum(-1)
    counts = torch.bincount(codes, minlength=16)
    patterns = counts[counts > 0]
    assert len(patterns) == math.comb(4, 2)
    assert patterns.min() > 850 and patterns.max() < 1150  # 1000 expected each


def test_duplicates_mark_exact_repeats_after_the_first():
    splits = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    assert duplicates(splits.bool()).tolist() == [False, False, True, False, True]


def test_split_probabilities_follow_the_formula():
    logits = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    o = torch.sigmoid(logits[0])
    splits = torch.tensor([[[False, True], [True, False], [False, True]]])
    probs = split_probabilities(logits, splits)
    low_high, high_low = (1 - o[0]) * o[1], o[0] * (1 - o[1])
    total = low_high + high_low
    expected = torch.stack([low_high / total, high_low / total, torch.zeros_like(total)])
    torch.testing.assert_close(probs[0], expected)


def test_the_pivot_cancels_for_balanced_candidates():
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    median, upper = median_split(keys)
    splits = torch.cat([upper.unsqueeze(1), random_splits((3, 6), 8, keys.device, gen)], 1)
    probs = split_probabilities(4.0 * (keys - median.unsqueeze(-1)), splits)
    shifted = split_probabilities(4.0 * (keys - 17.0), splits)
    up_sums = (splits * keys.unsqueeze(1)).sum(-1)  # (3, 7): sum of the keys sent up
    direct = torch.softmax((4.0 * up_sums).masked_fill(duplicates(splits), float("-inf")), -1)
    torch.testing.assert_close(probs, shifted)
    torch.testing.assert_close(probs, direct)


def test_identical_candidates_normalise_to_a_single_one():
    logits = torch.randn(2, 3, 8, dtype=torch.float64) * 5
    _, upper = median_split(logits)
    splits = upper.unsqueeze(2).expand(2, 3, 5, 8)  # five copies of the hard split
    probs = split_probabilities(logits, splits)
    expected = torch.zeros(2, 3, 5, dtype=torch.float64)
    expected[..., 0] = 1
    torch.testing.assert_close(probs, expected)


@FEW
@given(st.sampled_from([2, 4, 8]), st.integers(1, 10), st.integers(0, 2**31 - 1))
def test_probabilities_sum_to_one_and_the_hard_split_is_the_most_probable(h, m, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, h, generator=gen, dtype=torch.float64) * 3
    _, upper = median_split(logits)
    splits = torch.cat([upper.unsqueeze(1), random_splits((3, m), h, logits.device, gen)], 1)
    probs = split_probabilities(logits, splits)  # (3, m + 1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, dtype=torch.float64))
    assert (probs[:, :1] >= probs - 1e-12).all()


def test_mixing_places_each_candidates_probability_on_its_permutation():
    splits = torch.tensor([[True, False, True, False], [False, True, False, True]])
    probs = torch.tensor([0.25, 0.75])
    perms = torch.eye(4)[partition(splits)]  # (2, 4, 4): row i is one-hot at partition[i]
    torch.testing.assert_close(mixing(splits, probs), 0.25 * perms[0] + 0.75 * perms[1])


# ---- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("proposal", ["swaps", "uniform"])
@pytest.mark.parametrize(("s", "candidates"), [(8, 4), (4, 8), (6, 3)])  # (4, 8): many repeats
def test_gradcheck_on_keys_and_items(s, candidates, proposal):
    gen = torch.Generator().manual_seed(1)
    keys = torch.randn(2, s, generator=gen, dtype=torch.float64).requires_grad_(True)
    items = torch.randn(2, s, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    layer = SortLayer(s, certainty=2.0, candidates=candidates, proposal=proposal).train()

    def sort(items, keys):  # the same random candidates on every evaluation
        return layer(items, keys, torch.Generator().manual_seed(0))

    assert torch.autograd.gradcheck(sort, (items, keys))


def test_key_gradients_come_only_from_the_candidate_probabilities():
    keys = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    items = torch.randn(4, 8, 2, dtype=torch.float64)
    layer = SortLayer(8, certainty=1.0)
    layer.train()(items, keys, torch.Generator().manual_seed(0))[0].pow(2).sum().backward()
    grad = keys.grad
    assert grad.abs().min() > 0
    # balanced splits: a common shift of all keys moves no item, so the gradient of any loss
    # on the sorted items sums to zero per list
    torch.testing.assert_close(grad.sum(1), torch.zeros(4, dtype=torch.float64))
    # a hard sort moves the items by an integer permutation: they do not depend on the keys
    assert not layer.eval()(items, keys)[0].requires_grad


def test_a_linear_key_model_learns_to_sort():
    """Only the target sorted lists are shown; the key direction is never given."""
    direction = torch.tensor([1.0, -2.0, 0.5])  # the true key: x @ direction

    def target(x):  # (b, 4, 3) -> x sorted by the true key
        return x.take_along_dim((x @ direction).argsort(dim=1).unsqueeze(-1), dim=1)

    def accuracy(w, gen):
        x = torch.randn(1000, 4, 3, generator=gen)
        with torch.no_grad():
            sorted_x, _ = layer.eval()(x, x @ w)
        return (sorted_x == target(x)).all(-1).all(-1).float().mean().item()

    gen = torch.Generator().manual_seed(0)
    layer = SortLayer(4)
    w = torch.nn.Parameter(-0.1 * direction)  # starts sorting every list in reverse
    assert accuracy(w, gen) == 0
    optimiser = torch.optim.Adam([w], lr=0.05)
    layer.train()
    for _ in range(200):
        x = torch.randn(64, 4, 3, generator=gen)
        sorted_x, _ = layer(x, x @ w, gen)
        loss = F.mse_loss(sorted_x, target(x))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert accuracy(w, gen) >= 0.9


# ---- generator, dtype, device ---------------------------------------------------------------


def test_same_seed_same_output_and_another_seed_differs():
    keys, items = torch.randn(3, 16), torch.randn(3, 16, 4)
    layer = SortLayer(16, certainty=1.0, proposal="uniform").train()
    first = layer(items, keys, torch.Generator().manual_seed(7))
    again = layer(items, keys, torch.Generator().manual_seed(7))
    other = layer(items, keys, torch.Generator().manual_seed(8))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [True, False])
def test_dtype_follows_the_input(dtype, training):
    keys, items = torch.randn(2, 4, dtype=dtype), torch.randn(2, 4, 5, dtype=dtype)
    layer = SortLayer(4).train(training)
    sorted_items, sorted_keys = layer(items, keys, torch.Generator().manual_seed(0))
    assert sorted_items.dtype == dtype and sorted_keys.dtype == dtype
    assert sorted_items.shape == (2, 4, 5) and sorted_keys.shape == (2, 4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("training", [True, False])
def test_device_follows_the_input(training):
    keys, items = torch.randn(2, 8, device="cuda"), torch.randn(2, 8, 3, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    sorted_items, sorted_keys = SortLayer(8).train(training)(items, keys, gen)
    assert sorted_items.device == keys.device and sorted_keys.device == keys.device
    if not training:
        assert torch.equal(sorted_items.cpu(), _argsorted(items.cpu(), keys.cpu())[0])
    with pytest.raises(ValueError, match="generator is on"):
        SortLayer(8)(items, keys, torch.Generator())


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "error"), [(0, ValueError), (1, ValueError), (4.0, TypeError),
                                             ("8", TypeError), (True, TypeError)])
def test_size_must_be_an_int_of_at_least_two(size, error):
    with pytest.raises(error, match="size must be an int"):
        SortLayer(size)


@pytest.mark.parametrize("proposal", ["swaps", "uniform"])
@pytest.mark.parametrize("s", [3, 5, 6, 7, 9, 15])
def test_other_lengths_are_padded_exact_in_eval_nearly_stochastic_in_training(s, proposal):
    gen = torch.Generator().manual_seed(s)
    keys = torch.randn(4, s, generator=gen, dtype=torch.float64) * 0.01  # small scale
    items = torch.randn(4, s, 2, generator=gen, dtype=torch.float64)
    layer = SortLayer(s, proposal=proposal)
    assert layer.padded == 1 << (s - 1).bit_length() and layer.padded >= s
    sorted_items, sorted_keys = layer.eval()(items, keys)
    expected_items, expected_keys = _argsorted(items, keys)
    assert torch.equal(sorted_items, expected_items) and torch.equal(sorted_keys, expected_keys)
    mix = _soft_matrix(layer, keys)[0]  # (b, s, s): the real items' share of each position
    assert mix.shape == (4, s, s) and (mix >= 0).all()
    # no candidate moves the padding, so none of its weight mixes into the real positions
    torch.testing.assert_close(mix.sum(1), torch.ones(4, s, dtype=torch.float64))
    torch.testing.assert_close(mix.sum(2), torch.ones(4, s, dtype=torch.float64))


def test_pinned_positions_keep_their_value_in_every_random_split():
    upper = torch.tensor([[False, True, False, True, True, False]])  # (1, h)
    pinned = torch.tensor([[False, False, False, True, True, True]])
    gen = torch.Generator().manual_seed(0)
    splits = random_splits((1, 500), 6, torch.device("cpu"), gen, pinned, upper)  # (1, 500, 6)
    assert (splits.sum(-1) == 3).all()
    assert (splits[..., 3:] == upper[:, None, 3:]).all()  # pinned: as in upper
    assert len(splits[0, :, :3].unique(dim=0)) == 3  # the one free up lands anywhere


# ---- the swap proposal ----------------------------------------------------------------------


def _one_swaps(keys, upper):
    """Every one-swap neighbour of the hard split by brute force: [(cost, split)] cheapest first.
    keys (h,), upper (h,) bool."""
    ups, downs = upper.nonzero().flatten().tolist(), (~upper).nonzero().flatten().tolist()
    found = []
    for u, d in itertools.product(ups, downs):
        split = upper.clone()
        split[u], split[d] = False, True
        found.append(((keys[u] - keys[d]).item(), split))
    return sorted(found, key=lambda pair: pair[0])


@FEW
@given(st.sampled_from([2, 4, 8, 16]), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_swaps_are_the_cheapest_one_swap_neighbours(h, count, seed):
    keys = torch.randn(3, h, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    _, upper = median_split(keys)
    splits = swap_splits(keys, upper, count)  # (3, count, h)
    assert splits.shape == (3, count, h) and (splits.sum(-1) == h // 2).all()  # balanced
    for b in range(3):
        expected = _one_swaps(keys[b], upper[b])
        real = min(count, len(expected))
        costs = [(keys[b] * (upper[b].double() - z.double())).sum().item() for z in splits[b]]
        # the first `real` are distinct one-swap neighbours at the smallest costs, in order
        assert ((splits[b, :real] != upper[b]).sum(-1) == 2).all()
        assert not duplicates(splits[b, :real]).any()
        torch.testing.assert_close(torch.tensor(costs[:real]),
                                   torch.tensor([c for c, _ in expected[:real]]))
        assert (splits[b, real:] == upper[b]).all()  # too few swaps: the hard split again


def test_swaps_never_move_pinned_items():
    keys = torch.tensor([[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0]])
    _, upper = median_split(keys)
    pinned = torch.tensor([[False] * 5 + [True] * 3])  # three padding items at the top
    splits = swap_splits(keys, upper, 7, pinned)
    assert (splits[..., 5:] == upper[..., 5:]).all()
    # one free upper item (key 10) and four lower ones: four real swaps, three repeats
    moved = (splits[0] != upper[0]).any(-1)  # (7,)
    assert moved.tolist() == [True] * 4 + [False] * 3 and not duplicates(splits[0, :4]).any()


def test_one_swap_candidate_is_a_soft_comparison():
    """Hard split and one swap: the swap gets sigmoid(-c (key_u - key_l)) of the weight."""
    keys = torch.tensor([[0.0, 0.3, 0.5, 2.0]], dtype=torch.float64)  # u = 0.5, l = 0.3
    layer = SortLayer(4, certainty=3.0, candidates=2).train()
    first = next(iter(layer.soft_steps(keys)))
    expected = torch.sigmoid(torch.tensor(-3.0 * (0.5 - 0.3), dtype=torch.float64))
    torch.testing.assert_close(first["probs"][0, 0, 1], expected)


def test_swaps_draw_nothing_from_the_generator():
    keys, items = torch.randn(3, 16), torch.randn(3, 16, 4)
    layer = SortLayer(16, certainty=1.0).train()
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    first = layer(items, keys, gen)
    assert torch.equal(gen.get_state(), state)
    assert torch.equal(first[0], layer(items, keys, torch.Generator().manual_seed(8))[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"certainty": 0.0}, ValueError, "certainty"),
        ({"certainty": float("inf")}, ValueError, "certainty"),
        ({"certainty": float("nan")}, ValueError, "certainty"),
        ({"candidates": 0}, ValueError, "candidates"),
        ({"candidates": 2.0}, TypeError, "candidates"),
        ({"candidates": True}, TypeError, "candidates"),
        ({"certainty": "10"}, TypeError, "certainty"),
        ({"certainty": True}, TypeError, "certainty"),
        ({"proposal": "gumbel"}, ValueError, "proposal"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        SortLayer(4, **kwargs)


@pytest.mark.parametrize(
    ("items", "keys", "error", "match"),
    [
        (torch.zeros(2, 4, 3), torch.zeros(2, 8), ValueError, r"keys must have shape \(b, 4\)"),
        (torch.zeros(2, 4, 3), torch.zeros(2, 4, 1), ValueError, "keys must have shape"),
        (torch.zeros(3, 4, 3), torch.zeros(2, 4), ValueError, "items must have shape"),
        (torch.zeros(2, 8, 3), torch.zeros(2, 4), ValueError, "items must have shape"),
        (torch.zeros(2, 4, 3), torch.zeros(2, 4, dtype=torch.long), TypeError, "floating"),
        (torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4), TypeError, "floating"),
        (torch.zeros(2, 4).double(), torch.zeros(2, 4), TypeError, "same dtype"),
        ([[0.0] * 4] * 2, torch.zeros(2, 4), TypeError, "torch.Tensor"),
    ],
)
def test_bad_inputs_are_refused(items, keys, error, match):
    for training in (True, False):
        with pytest.raises(error, match=match):
            SortLayer(4).train(training)(items, keys)
