"""Batches packed to a budget of atoms, identical on every DDP rank and balanced across them.

A fixed number of structures per batch gives batches of very different cost when structure
sizes vary (QM9 molecules of 3–29 atoms, OC20 slabs of 20–200). :class:`MaxAtomsBatchSampler`
packs structures, in a seeded random order, into batches of at most ``max_atoms`` atoms.

Under DDP every rank packs the *same global* batches (same seed and epoch), splits them into
groups of ``world_size`` consecutive batches and takes its own member of each group: every
structure is seen exactly once per epoch across ranks, with no padding or duplicates (unlike
``DistributedSampler``, which repeats samples to even out the ranks), and every rank gets the
same number of batches. When the batch count is not a multiple of ``world_size`` the largest
batches are halved until it is (halves still respect the budget).

It follows the ``BatchSampler`` API with a ``sampler`` argument, so Lightning, which replaces
the sampler by a ``DistributedSampler`` under DDP, hands it the rank, world size, seed and
epoch; from those it computes the global packing itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DistributedSampler, RandomSampler, Sampler

from matforge.data.errors import DatasetError


class EpochRandomSampler(RandomSampler):
    """A ``RandomSampler`` with a seed and ``set_epoch`` (Lightning calls it every epoch), so
    a single process shuffles reproducibly, like ``DistributedSampler`` does."""

    def __init__(self, data_source: Sequence, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(len(self.data_source), generator=generator).tolist())


class MaxAtomsBatchSampler(BatchSampler):
    """Batches of dataset indices with at most ``max_atoms`` atoms each.

    Args:
        sampler: where the shuffling and the distribution come from: a
            ``DistributedSampler`` (Lightning's, under DDP: its ``num_replicas``, ``rank``,
            ``shuffle``, ``seed`` and ``epoch`` are used), a :class:`EpochRandomSampler`
            (shuffled with its seed and epoch) or any other sampler (dataset order).
        num_atoms: [len(dataset)] atoms of each structure.
        max_atoms: the budget of one batch; a structure larger than it is an error.
        drop_last: drop the global tail of batches that does not fill a group of ranks
            (instead of splitting batches to even the ranks out).
    """

    def __init__(self, sampler: Sampler[int], num_atoms: Sequence[int] | np.ndarray, max_atoms: int, drop_last: bool = False) -> None:
        self.sampler = sampler
        self.num_atoms = np.asarray(num_atoms, dtype=np.int64).reshape(-1)
        self.max_atoms = int(max_atoms)
        self.drop_last = drop_last
        self.batch_size = None  # not a fixed count; Lightning reads the attribute
        self._cache: tuple[tuple, list[list[int]]] | None = None
        if self.max_atoms < 1:
            raise DatasetError(f"max_atoms must be >= 1, got {max_atoms}")
        too_big = np.flatnonzero(self.num_atoms > self.max_atoms)
        if too_big.size:
            i = int(too_big[0])
            raise DatasetError(
                f"structure {i} has {int(self.num_atoms[i])} atoms, more than max_atoms={self.max_atoms} "
                f"({too_big.size} structures do; the largest has {int(self.num_atoms.max())}): raise max_atoms"
            )

    # -- where this rank stands ------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return self.sampler.num_replicas if isinstance(self.sampler, DistributedSampler) else 1

    @property
    def rank(self) -> int:
        return self.sampler.rank if isinstance(self.sampler, DistributedSampler) else 0

    def _order(self) -> np.ndarray:
        s = self.sampler
        if isinstance(s, DistributedSampler):
            shuffled = s.shuffle
        elif isinstance(s, EpochRandomSampler):
            shuffled = True
        else:  # a single process with any other sampler: its order
            return np.fromiter(iter(s), dtype=np.int64)
        if not shuffled:
            return np.arange(len(self.num_atoms))
        generator = torch.Generator().manual_seed(int(s.seed) + int(s.epoch))
        return torch.randperm(len(self.num_atoms), generator=generator).numpy()

    # -- the batches -------------------------------------------------------------------------

    def global_batches(self) -> list[list[int]]:
        """Every rank's batches of this epoch, in step order (rank ``r`` takes ``r::world``)."""
        key = (getattr(self.sampler, "seed", None), getattr(self.sampler, "epoch", None))
        if key[1] is not None and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        batches = self._pack()
        if key[1] is not None:
            self._cache = (key, batches)
        return batches

    def _pack(self) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        atoms = 0
        for i in self._order().tolist():
            size = int(self.num_atoms[i])
            if current and atoms + size > self.max_atoms:
                batches.append(current)
                current, atoms = [], 0
            current.append(i)
            atoms += size
        if current:
            batches.append(current)
        world = self.world_size
        if world > 1 and len(batches) % world:
            if self.drop_last:
                batches = batches[: len(batches) - len(batches) % world]
            else:
                batches = self._split_until_divisible(batches, world)
        return batches

    def _split_until_divisible(self, batches: list[list[int]], world: int) -> list[list[int]]:
        while len(batches) % world:
            sizes = [(int(self.num_atoms[b].sum()), k) for k, b in enumerate(batches) if len(b) > 1]
            if not sizes:
                raise DatasetError(
                    f"{len(self.num_atoms)} structures cannot fill {world} ranks with at least one batch each"
                )
            _, k = max(sizes)
            batch = batches[k]
            half = len(batch) // 2
            batches[k : k + 1] = [batch[:half], batch[half:]]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches()
        yield from batches[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.global_batches()) // self.world_size


def structure_sizes(dataset: Sequence) -> np.ndarray:
    """[len(dataset)] atoms of each structure (reads every record once)."""
    return np.fromiter((len(dataset[i].atomic_numbers) for i in range(len(dataset))), dtype=np.int64, count=len(dataset))


class UnpaddedDistributedSampler(DistributedSampler):
    """Rank ``r``'s share ``r::world`` of an evaluation set, in order, without the repeated
    samples ``DistributedSampler`` pads with; shares differ by at most one structure."""

    def __init__(self, dataset: Sequence, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))
