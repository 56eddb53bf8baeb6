"""`MaxAtomsBatchSampler`: batches packed to an atom budget, the same on every rank, each
structure once per epoch, equal batch counts per rank."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch.utils.data import DistributedSampler, SequentialSampler

from matforge.data.sampler import (
    EpochRandomSampler,
    MaxAtomsBatchSampler,
    UnpaddedDistributedSampler,
)

SIZES = np.random.default_rng(0).integers(3, 30, size=203)  # QM9-like molecule sizes


def rank_samplers(sizes, max_atoms, world, *, seed=0, epoch=0, shuffle=True, drop_last=False):
    samplers = []
    for rank in range(world):
        order = DistributedSampler(range(len(sizes)), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
        order.set_epoch(epoch)
        samplers.append(MaxAtomsBatchSampler(order, sizes, max_atoms, drop_last=drop_last))
    return samplers


@pytest.mark.parametrize("max_atoms", [29, 64, 500])
def test_no_batch_exceeds_the_budget(max_atoms):
    sampler = MaxAtomsBatchSampler(EpochRandomSampler(range(len(SIZES))), SIZES, max_atoms)
    batches = list(sampler)
    assert max(SIZES[b].sum() for b in batches) <= max_atoms
    assert len(batches) == len(sampler)


def test_a_batch_closes_only_when_the_next_structure_would_not_fit():
    batches = list(MaxAtomsBatchSampler(SequentialSampler(range(len(SIZES))), SIZES, 200))
    assert [i for b in batches for i in b] == list(range(len(SIZES)))
    for batch, following in itertools.pairwise(batches):
        assert SIZES[batch].sum() + SIZES[following[0]] > 200


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_every_structure_once_per_epoch_across_ranks(world):
    seen = [i for s in rank_samplers(SIZES, 64, world) for batch in s for i in batch]
    assert sorted(seen) == list(range(len(SIZES)))


@pytest.mark.parametrize("world", [2, 3, 4, 7])
def test_ranks_get_equal_batch_counts(world):
    counts = [len(list(s)) for s in rank_samplers(SIZES, 100, world)]
    assert len(set(counts)) == 1, counts
    assert counts == [len(s) for s in rank_samplers(SIZES, 100, world)]


def test_drop_last_drops_the_tail_that_does_not_fill_the_ranks():
    samplers = rank_samplers(SIZES, 100, 3, drop_last=True)
    counts = [len(list(s)) for s in samplers]
    assert len(set(counts)) == 1
    packed = len(rank_samplers(SIZES, 100, 1)[0])
    assert counts[0] == packed // 3


def test_ranks_pack_the_same_global_batches():
    a, b = rank_samplers(SIZES, 64, 2)
    assert a.global_batches() == b.global_batches()
    assert list(a) == a.global_batches()[0::2] and list(b) == a.global_batches()[1::2]


def test_seeded_per_epoch_and_reproducible():
    first = list(rank_samplers(SIZES, 64, 2, epoch=0)[0])
    again = list(rank_samplers(SIZES, 64, 2, epoch=0)[0])
    other_epoch = list(rank_samplers(SIZES, 64, 2, epoch=1)[0])
    other_seed = list(rank_samplers(SIZES, 64, 2, seed=5)[0])
    assert first == again
    assert first != other_epoch and first != other_seed


def test_one_process_packs_like_rank_zero_of_one():
    """A single process with EpochRandomSampler shuffles exactly as DistributedSampler(1 rank)
    does, so the same seed gives the same batches with and without DDP."""
    single = EpochRandomSampler(range(len(SIZES)), seed=3)
    single.set_epoch(2)
    (ddp,) = rank_samplers(SIZES, 64, 1, seed=3, epoch=2)
    assert list(MaxAtomsBatchSampler(single, SIZES, 64)) == list(ddp)
    assert list(single) == list(ddp.sampler)


def test_a_structure_larger_than_the_budget_is_named():
    with pytest.raises(ValueError, match=r"structure \d+ has \d+ atoms, more than max_atoms=10"):
        MaxAtomsBatchSampler(SequentialSampler(range(len(SIZES))), SIZES, 10)


def test_too_few_structures_for_the_ranks_is_an_error():
    with pytest.raises(ValueError, match="cannot fill 4 ranks"):
        list(rank_samplers(np.array([5, 5, 5]), 100, 4)[0])


@pytest.mark.parametrize(("n", "world"), list(itertools.product([7, 8, 9], [2, 3])))
def test_unpadded_shares_cover_an_evaluation_set_once(n, world):
    shares = [list(UnpaddedDistributedSampler(range(n), world, rank)) for rank in range(world)]
    assert sorted(i for s in shares for i in s) == list(range(n))
    assert [len(s) for s in shares] == [len(UnpaddedDistributedSampler(range(n), world, r)) for r in range(world)]
