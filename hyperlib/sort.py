"""Differentiable quicksort: sort s items by scalar keys, with gradients through the splits.

A list of s = 2^L items is sorted by L split layers. At depth d the list is in n = 2^d
contiguous buckets of h = s / n items. In each bucket every item j compares its key z_j with
the bucket's median z_med (the mean of the two middle keys, so exactly h/2 keys lie on either
side when the keys are distinct):

    o_j = sigmoid(c * (z_j - z_med)),    c = ``certainty``,

the probability that item j goes to the upper half. A *half-split* is a balanced binary
vector beta in {0, 1}^h with h/2 ones; it has probability

    p(beta) = prod_j o_j^beta_j (1 - o_j)^(1 - beta_j)   (computed as a sum of log-sigmoids),

and moves the items by a *stable partition*: those with beta = 0 first, then those with beta = 1,
each group in its old order. Each bucket gets m = ``candidates`` half-splits: the hard split
(beta = 1 for the h/2 largest keys, which is the most probable balanced beta) and m - 1 others,
chosen by the ``proposal``:

* ``"swaps"`` (the default): the m - 1 most probable *one-swap neighbours* of the hard split,
  each sending one item of the lower half up and one of the upper half down; swapping the
  upper item u with the lower item l costs log p(hard) - log p(beta) = c * (z_u - z_l),
  so the cheapest swaps are those of the items nearest the median (found among the
  min(h/2, m - 1) nearest on either side);
* ``"uniform"`` (the paper's): m - 1 uniformly random balanced half-splits, drawn per
  instance and bucket (7 of the 70 balanced splits of 8 items, of 12,870 of 16).

Their probabilities are normalised over the *distinct* candidates (a repeated one gets 0),
and the bucket's items and keys become the probability-weighted mix of the candidate
partitions: a doubly stochastic (h, h) matrix per bucket. The mixed keys feed the next depth.
With the hard split and one swap of u and l the mix gives the swap the probability
sigmoid(-c * (z_u - z_l)): a soft comparison of the two items, whose gradient reaches
both keys. A uniform candidate is mostly far from the hard split (most of its h/2 swaps
across the median are improbable), gets a probability near 0, and carries almost no gradient.

Because every candidate is balanced, the pivot cancels: log(o_j / (1 - o_j)) = c * (z_j - z_med), so

    log p(beta) = sum_j log(1 - o_j) + c * sum_j beta_j z_j - c * z_med * h/2,

and the first and last terms are the same for every candidate. The normalised probabilities
are a softmax of c * (sum of the keys that beta sends up): the median gives o its meaning, but
neither its value nor its gradient (kept, not detached) changes the result. It also follows
that the hard split is the most probable balanced beta.

Any s >= 2 works: a list whose length is not a power of two is padded to the next one with
items of zeros whose keys lie above all the real keys (by their range plus one, so their
certainty-scaled distance does not shrink with the keys' scale); they sort to the end and
are cut off again. In evaluation that is exact; in training a little of their weight can
mix into the real positions (the soft output's rows then sum to slightly less than 1).

Keys must be finite (checked). Finite keys of any size give finite results: the median
halves its two middle keys before adding them when their sum would overflow, padding keys
stop at the dtype's largest value (tied there, they still sort last, as ties go by position),
and the mixed keys are clamped to it; c * (key - m) may reach +-inf, which the log-sigmoids
take exactly (a probability of 1 or 0).

Training (``train()``): the soft mixture; gradients reach the keys through the
probabilities (the partitions themselves are integer and carry none), and the items through
the mix. Evaluation (``eval()``): only the hard split, so the layer is an exact quicksort
with median pivots; ties are broken by position, which makes it a *stable* sort: the result
is the keys and items gathered by ``keys.argsort(dim=1, stable=True)``.

Shapes: b instances, s items, ``*item`` any item shape, n buckets of h items, m candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperlib import checks

PROPOSALS = ("swaps", "uniform")  # how the candidates beside the hard split are chosen


def median_split(keys: Tensor) -> tuple[Tensor, Tensor]:
    """The median of each bucket and its hard half-split.

    keys (..., h), h even -> median (...), the mean of the two middle keys, and upper
    (..., h) bool, True for the h/2 largest keys. Equal keys are ordered by position (the
    later ones count as larger), so exactly h/2 are True even with ties.
    """
    h = keys.size(-1)
    ordered, order = keys.sort(dim=-1, stable=True)
    low, high = ordered[..., h // 2 - 1], ordered[..., h // 2]
    total = low + high  # inf when both lie near the dtype's largest value: halve them first
    median = torch.where(total.isfinite(), total / 2, low / 2 + high / 2)
    return median, order.argsort(dim=-1) >= h // 2


def random_splits(
    shape: tuple[int, ...],
    h: int,
    device: torch.device,
    generator: torch.Generator | None,
    pinned: Tensor | None = None,
    upper: Tensor | None = None,
) -> Tensor:
    """Uniformly random balanced half-splits: (*shape, h) bool with h/2 True per row: the h/2
    positions with the largest of h uniform random scores.

    Positions where ``pinned`` (shape[:-1] + (h,), bool) is True take the value of ``upper``
    (same shape) in every split (their scores are set above or below every random one); the
    other positions share the remaining ups uniformly. The layer pins its padding this way.
    """
    scores = torch.rand((*shape, h), generator=generator, device=device)
    if pinned is not None:
        fixed = torch.where(upper, 2.0, -1.0).to(scores.dtype).unsqueeze(-2)  # (..., 1, h)
        scores = torch.where(pinned.unsqueeze(-2), fixed, scores)
    return scores.argsort(dim=-1).argsort(dim=-1) >= h // 2


def swap_splits(
    keys: Tensor, upper: Tensor, count: int, pinned: Tensor | None = None
) -> Tensor:
    """The ``count`` most probable one-swap neighbours of the hard split: (..., count, h) bool.

    keys (..., h), upper (..., h) bool the hard split. Each candidate sends one lower item l
    up and one upper item u down, at a cost z_u - z_l >= 0 (its log-probability below the
    hard split's, divided by the certainty); the ``count`` cheapest pairs are taken among the
    q = min(h/2, count) items nearest the median on either side (the cheapest ``count`` pairs
    of a sorted q x q grid always lie within it). Items where ``pinned`` is True never move.
    When fewer than ``count`` swaps exist (q^2 < count, or pinned items) the rest repeat the
    hard split, which the normalisation then drops as duplicates. Keys are not differentiated.
    """
    h = keys.size(-1)
    q = min(h // 2, count)
    keys = keys.detach()
    order = keys.sort(dim=-1, stable=True).indices  # (..., h) ascending, as in median_split
    lower = order[..., h // 2 - q : h // 2].flip(-1)  # (..., q) nearest the median first
    higher = order[..., h // 2 : h // 2 + q]  # (..., q)
    gap = keys.gather(-1, higher).unsqueeze(-1) - keys.gather(-1, lower).unsqueeze(-2)
    if pinned is not None:
        fixed = pinned.gather(-1, higher).unsqueeze(-1) | pinned.gather(-1, lower).unsqueeze(-2)
        gap = gap.masked_fill(fixed, float("inf"))  # (..., q, q): up item i, down item j
    cost, pair = gap.flatten(-2).topk(min(count, q * q), dim=-1, largest=False)  # (..., c)
    up_item = higher.gather(-1, pair // q)  # (..., c): goes down
    down_item = lower.gather(-1, pair % q)  # (..., c): goes up
    splits = upper.unsqueeze(-2).repeat_interleave(cost.size(-1), dim=-2)  # (..., c, h)
    real = cost.isfinite().unsqueeze(-1)  # (..., c, 1): a pinned pair stays the hard split
    splits.scatter_(-1, up_item.unsqueeze(-1), ~real)
    splits.scatter_(-1, down_item.unsqueeze(-1), real)
    if cost.size(-1) < count:  # too few swaps: repeat the hard split
        rest = upper.unsqueeze(-2).expand(*upper.shape[:-1], count - cost.size(-1), h)
        splits = torch.cat([splits, rest], dim=-2)
    return splits


def duplicates(splits: Tensor) -> Tensor:
    """True for every candidate equal to an earlier one of its bucket.

    splits (..., m, h) bool -> (..., m) bool. Exact: compares the binary vectors pairwise,
    O(m^2 h) per bucket.
    """
    m = splits.size(-2)
    same = (splits.unsqueeze(-2) == splits.unsqueeze(-3)).all(dim=-1)  # (..., m, m)
    earlier = torch.ones(m, m, dtype=torch.bool, device=splits.device).tril(-1)
    return (same & earlier).any(dim=-1)


def split_probabilities(logits: Tensor, splits: Tensor) -> Tensor:
    """p(beta) normalised over each bucket's distinct candidates; repeats get 0.

    logits (..., h) = c * (key - median), so o = sigmoid(logits); splits (..., m, h) bool
    -> (..., m), summing to 1. log p(beta) = sum_j beta_j log o_j + (1 - beta_j) log(1 - o_j),
    finite for any finite logits; the softmax makes the normalisation stable.
    """
    up, down = F.logsigmoid(logits).unsqueeze(-2), F.logsigmoid(-logits).unsqueeze(-2)
    log_p = torch.where(splits, up, down).sum(dim=-1)  # (..., m)
    return torch.softmax(log_p.masked_fill(duplicates(splits), float("-inf")), dim=-1)


def partition(splits: Tensor) -> Tensor:
    """The stable partition of each half-split as gather indices: (..., h) bool -> long.

    Output position i takes input item ``partition(beta)[i]``: first the items with beta = 0,
    then those with beta = 1, each group in its original order.
    """
    return splits.to(torch.uint8).argsort(dim=-1, stable=True)


def mixing(splits: Tensor, probs: Tensor) -> Tensor:
    """sum_beta p(beta) P_beta, the probability-weighted mix of the candidates' partition matrices.

    splits (..., m, h) bool, probs (..., m) -> (..., h, h), with P_beta[i, partition(beta)[i]] = 1.
    Built by a scatter-add, so backward keeps only the integer indices.
    """
    *prefix, m, h = splits.shape
    rows = torch.arange(h, device=splits.device) * h  # (h,)
    index = (partition(splits) + rows).flatten(-2)  # (..., m * h)
    values = probs.unsqueeze(-1).expand(*prefix, m, h).flatten(-2)  # (..., m * h)
    flat = probs.new_zeros((*prefix, h * h)).scatter_add(-1, index, values)
    return flat.unflatten(-1, (h, h))


def _check(items: Tensor, keys: Tensor, size: int) -> None:
    checks.floating(items, "items")
    checks.floating(keys, "keys")
    if keys.dim() != 2 or keys.size(1) != size:
        raise ValueError(f"keys must have shape (b, {size}), got {tuple(keys.shape)}")
    if items.dim() < 2 or items.shape[:2] != keys.shape:
        raise ValueError(
            f"items must have shape (b, s, *item) = {tuple(keys.shape)} + item shape, matching "
            f"keys (b, s), got {tuple(items.shape)}"
        )
    if items.dtype != keys.dtype or items.device != keys.device:
        raise TypeError(
            f"items ({items.dtype} on {items.device}) and keys ({keys.dtype} on {keys.device}) "
            "must have the same dtype and device"
        )


class SortLayer(nn.Module):
    """Differentiable quicksort of s items by scalar keys, ascending.

    Args:
        size: s >= 2, the list length (padded inside to a power of two; see above).
        certainty: c > 0 in o = sigmoid(c * (key - median)); larger means harder splits.
        candidates: m >= 1 half-splits per bucket and depth in training: the hard split plus
            m - 1 others. m = 1 makes training equal to evaluation.
        proposal: how the other m - 1 are chosen: "swaps", the most probable one-swap
            neighbours of the hard split, or "uniform", uniformly random balanced splits
            (the paper's).
        check_finite: raise a ValueError when a key is NaN or infinite (one host-device
            synchronisation per call on a GPU).

    Finite keys of any size give finite results, even near the dtype's largest value.
    """

    def __init__(
        self,
        size: int,
        *,
        certainty: float = 10.0,
        candidates: int = 8,
        proposal: str = "swaps",
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.size = checks.integer(size, "size", 2)
        self.certainty = checks.positive(certainty, "certainty")
        self.candidates = checks.integer(candidates, "candidates", 1)
        if proposal not in PROPOSALS:
            raise ValueError(f"proposal must be one of {PROPOSALS}, got {proposal!r}")
        self.proposal = proposal
        self.check_finite = check_finite
        self.padded = 1 << (size - 1).bit_length()  # the next power of two, >= size
        self.depth = self.padded.bit_length() - 1  # log2 of it: the number of split layers

    def forward(
        self, items: Tensor, keys: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Sort items (b, s, *item) by keys (b, s): -> sorted items (b, s, *item), keys (b, s).

        items and keys share dtype and device. Training: soft, a convex mix of permutations
        of the items (and keys). Evaluation: exact and stable. Random candidates come from
        ``generator`` (on the keys' device) when given; evaluation draws none.
        """
        _check(items, keys, self.size)
        if self.check_finite:
            checks.finite({"keys": keys}, "SortLayer got")  # the one host-device synchronisation
        if generator is not None and generator.device != keys.device:
            raise ValueError(f"generator is on {generator.device} but keys is on {keys.device}")
        items, keys = self._pad(items, keys)
        if self.training:
            items, keys = self._soft(items, keys, generator)
        else:
            items, keys = self._hard(items, keys)
        return items[:, : self.size], keys[:, : self.size]

    def _pad(self, items: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """(b, s, *item), (b, s) -> (b, p, *item), (b, p): p - s items of zeros with keys above
        all real keys, distinct and ascending."""
        extra = self.padded - self.size
        if extra == 0:
            return items, keys
        low, high = keys.detach().aminmax(dim=1, keepdim=True)  # (b, 1) each
        steps = torch.arange(1, extra + 1, dtype=keys.dtype, device=keys.device)  # (p - s,)
        top = torch.finfo(keys.dtype).max  # near it, the pads tie at it: they still sort last
        pad_keys = (high + (high - low + 1) * steps).clamp(max=top)  # (b, p - s)
        pad_items = items.new_zeros(items.size(0), extra, *items.shape[2:])
        return torch.cat([items, pad_items], 1), torch.cat([keys, pad_keys], 1)

    def _hard(self, items: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """Quicksort with median pivots, composing the hard partitions into one gather.
        items (b, p, *item), keys (b, p), p a power of two."""
        b, s = keys.shape
        order = torch.arange(s, device=keys.device).expand(b, s)  # (b, s) source of each slot
        for d in range(self.depth):
            n, h = 2**d, s >> d
            _, upper = median_split(keys.reshape(b, n, h))
            offsets = torch.arange(0, s, h, device=keys.device).unsqueeze(-1)  # (n, 1)
            source = (partition(upper) + offsets).view(b, s)
            keys, order = keys.gather(1, source), order.gather(1, source)
        index = order.view(b, s, *[1] * (items.dim() - 2))
        return items.take_along_dim(index, dim=1), keys

    def _soft(
        self, items: Tensor, keys: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """The soft mixture: the last depth's composed mix (b, p, p) applied to the items."""
        b, s = keys.shape
        *_, last = self.soft_steps(keys, generator)
        sorted_items = last["mix"] @ items.reshape(b, s, math.prod(items.shape[2:]))  # (b, s, f)
        return sorted_items.view(items.shape), last["sorted"]

    def soft_steps(
        self, keys: Tensor, generator: torch.Generator | None = None
    ) -> Iterator[dict[str, Tensor]]:
        """The training-mode split layers one depth at a time, for padded keys (b, p).

        Yields per depth d (n = 2^d buckets of h = p / n keys, m candidates): keys (b, p)
        entering it, median (b, n), splits (b, n, m, h) bool (candidate 0 the hard split),
        probs (b, n, m), sorted (b, p) the mixed keys leaving it, and mix (b, p, p) the
        composition of the depths' mixes so far (the last one is the soft permutation).

        Candidates leave the padding where the hard split puts it: a candidate that moved
        a padding item would get practically no probability (its key is far above the others),
        and would waste the draw."""
        b, s = keys.shape
        top = torch.finfo(keys.dtype).max  # a mix of keys near it can round past it, to inf
        mix = torch.eye(s, dtype=keys.dtype, device=keys.device).expand(b, s, s)
        pad = (torch.arange(s, device=keys.device) >= self.size).expand(b, s)  # (b, p)
        for d in range(self.depth):
            n, h = 2**d, s >> d
            buckets, pinned = keys.reshape(b, n, h), pad.reshape(b, n, h)
            median, upper = median_split(buckets)
            if self.proposal == "swaps":
                extra = swap_splits(buckets, upper, self.candidates - 1, pinned)
            else:
                extra = random_splits(
                    (b, n, self.candidates - 1), h, keys.device, generator, pinned, upper
                )
            pad = pinned.gather(-1, partition(upper)).view(b, s)  # every candidate moves it so
            splits = torch.cat([upper.unsqueeze(2), extra], dim=2)  # (b, n, m, h)
            logits = self.certainty * (buckets - median.unsqueeze(-1))  # (b, n, h)
            probs = split_probabilities(logits, splits)  # (b, n, m)
            step = mixing(splits, probs)  # (b, n, h, h)
            entering, keys = keys, (step @ buckets.unsqueeze(-1)).view(b, s).clamp(-top, top)
            mix = (step @ mix.reshape(b, n, h, s)).view(b, s, s)
            yield {"keys": entering, "median": median, "splits": splits, "probs": probs,
                   "sorted": keys, "mix": mix}

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, certainty={self.certainty}, candidates={self.candidates}, "
            f"proposal={self.proposal!r}"
        )
