"""The ``pointcloud`` representation: structure → atom-centred neighbourhoods → `PointCloudBatch`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from matforge.atoms_representation import resolve_dtype
from matforge.errors import InvalidValueError
from matforge.neighbors import neighbor_pairs
from matforge.structure import AtomicStructure
from matforge_pointcloud.batch import PointCloudBatch
from matforge_pointcloud.centres import CENTRE_MODES, CentreMode, select_centres

#: Integer cell shifts are stored as int8: they are the largest per-slot field otherwise
#: (24 of 33 bytes with int64), and no valid structure has a neighbour 128 cells away (its
#: own periodic image would sit closer than any minimum distance).
SHIFT_DTYPE = np.int8
SHIFT_LIMIT = int(np.iinfo(SHIFT_DTYPE).max)


@dataclass
class PointCloudSample:
    """One structure's point clouds, as numpy (cheap to pickle out of DataLoader workers).

    Attributes:
        structure: the structure.
        centres: [C] int64 atom indices (sorted).
        neighbours: [C, K] int64, padded with the centre's own index.
        shifts: [C, K, 3] int8, zero in padded slots.
        mask: [C, K] bool, True for a real neighbour.
    """

    structure: AtomicStructure
    centres: np.ndarray
    neighbours: np.ndarray
    shifts: np.ndarray
    mask: np.ndarray


class PointCloudRepresentation:
    """Atom-centred point clouds under the structure's periodic boundaries (registered as
    ``pointcloud``).

    Neighbourhoods come from :func:`matforge.neighbors.neighbor_pairs`, the graph's neighbour
    lists: every atom (any periodic image, never the centre itself at zero shift) closer than
    ``cutoff``; with ``max_neighbors`` only the nearest, ties broken by atom index then shift.

    Args:
        cutoff: radius in Å.
        max_neighbors: K, at most this many neighbours per centre (nearest first); ``None``
            keeps all within the cutoff (then ordered by atom index and shift).
        centres: ``"all"`` (every atom) or ``"oc20"`` (tags 2 and 1 and a seeded sample of
            tag-0 atoms, :func:`~matforge_pointcloud.centres.select_centres`).
        subsurface_centres: number of tag-0 atoms sampled per structure in ``"oc20"`` mode.
        seed: seed of that sample (with the epoch, :meth:`set_epoch`, and the structure's id).
        one_hot: also store the paper's pair one-hot features [C, K, 2·num_elements] in the
            batch (``pair_features``); off by default, models embed atomic numbers instead.
        num_elements: one-hot width per atom (the paper: 100, so 200 per pair).
        dtype: floating dtype of positions, cells and float targets in the batch.
    """

    name: ClassVar[str] = "pointcloud"

    def __init__(
        self,
        cutoff: float = 6.0,
        max_neighbors: int | None = None,
        centres: CentreMode = "all",
        subsurface_centres: int = 4,
        seed: int = 0,
        one_hot: bool = False,
        num_elements: int = 100,
        dtype: torch.dtype | str = torch.float32,
    ) -> None:
        if not cutoff > 0:
            raise InvalidValueError(f"PointCloudRepresentation: cutoff must be a positive distance in Å, got {cutoff!r}")
        if max_neighbors is not None and max_neighbors < 1:
            raise InvalidValueError(f"PointCloudRepresentation: max_neighbors must be >= 1 or None, got {max_neighbors!r}")
        if centres not in CENTRE_MODES:
            raise InvalidValueError(f"PointCloudRepresentation: centres must be one of {list(CENTRE_MODES)}, got {centres!r}")
        if subsurface_centres < 0:
            raise InvalidValueError(f"PointCloudRepresentation: subsurface_centres must be >= 0, got {subsurface_centres!r}")
        if num_elements < 1:
            raise InvalidValueError(f"PointCloudRepresentation: num_elements must be >= 1, got {num_elements!r}")
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors
        self.centres = centres
        self.subsurface_centres = int(subsurface_centres)
        self.seed = int(seed)
        self.one_hot = bool(one_hot)
        self.num_elements = int(num_elements)
        self.dtype = resolve_dtype(dtype)
        self.epoch = 0

    def __repr__(self) -> str:
        return (
            f"PointCloudRepresentation(cutoff={self.cutoff}, max_neighbors={self.max_neighbors}, "
            f"centres={self.centres!r}, subsurface_centres={self.subsurface_centres}, seed={self.seed}, "
            f"one_hot={self.one_hot}, dtype={self.dtype})"
        )

    def set_epoch(self, epoch: int) -> None:
        """Draw the ``"oc20"`` subsurface sample for ``epoch`` (DataLoader workers copy the
        representation when they start, so call this before an epoch's loaders start)."""
        self.epoch = int(epoch)

    def __call__(self, structure: AtomicStructure) -> PointCloudSample:
        centre_atoms = select_centres(
            structure, self.centres, subsurface_centres=self.subsurface_centres, seed=self.seed, epoch=self.epoch
        )
        i, j, shifts, _ = neighbor_pairs(
            structure.positions, structure.cell, structure.pbc, self.cutoff, max_neighbors=self.max_neighbors
        )
        keep = np.isin(i, centre_atoms)  # i is sorted, so pairs stay grouped by centre
        i, j, shifts = i[keep], j[keep], shifts[keep]
        row = np.searchsorted(centre_atoms, i)
        counts = np.bincount(row, minlength=len(centre_atoms))
        starts = np.cumsum(counts) - counts
        slot = np.arange(len(i)) - starts[row]
        k = int(counts.max(initial=0))
        neighbours = np.repeat(centre_atoms[:, None], k, axis=1)
        if shifts.size and np.abs(shifts).max() > SHIFT_LIMIT:
            raise InvalidValueError(
                f"structure {structure.sid!r}: a neighbour lies {int(np.abs(shifts).max())} cells away "
                f"(more than {SHIFT_LIMIT}); the cell is far smaller than the cutoff {self.cutoff} Å"
            )
        padded_shifts = np.zeros((len(centre_atoms), k, 3), dtype=SHIFT_DTYPE)
        mask = np.zeros((len(centre_atoms), k), dtype=bool)
        neighbours[row, slot], padded_shifts[row, slot], mask[row, slot] = j, shifts, True
        return PointCloudSample(structure, centre_atoms, neighbours, padded_shifts, mask)

    def collate(self, samples: Sequence[PointCloudSample]) -> PointCloudBatch:
        if not samples:
            raise InvalidValueError("cannot collate an empty list of point-cloud samples: a batch needs at least one (is the dataset or split empty?)")
        base = PointCloudBatch.base_fields([s.structure for s in samples], self.dtype)
        k = max(s.neighbours.shape[1] for s in samples)
        counts = [len(s.centres) for s in samples]
        total = sum(counts)
        # Filled in place, one structure after the other: no per-structure padded copies.
        centres = np.empty(total, dtype=np.int64)
        neighbours = np.empty((total, k), dtype=np.int64)
        shifts = np.zeros((total, k, 3), dtype=SHIFT_DTYPE)
        mask = np.zeros((total, k), dtype=bool)
        row = offset = 0
        for s in samples:
            rows, width = slice(row, row + len(s.centres)), s.neighbours.shape[1]
            centres[rows] = s.centres + offset
            neighbours[rows] = centres[rows, None]  # padded slots point at the centre itself
            neighbours[rows, :width] = s.neighbours + offset
            shifts[rows, :width] = s.shifts
            mask[rows, :width] = s.mask
            row, offset = row + len(s.centres), offset + s.structure.num_atoms
        num_centres = torch.tensor(counts, dtype=torch.int64)
        batch = PointCloudBatch(
            **base,
            centres=torch.from_numpy(centres),
            neighbours=torch.from_numpy(neighbours),
            shifts=torch.from_numpy(shifts),
            mask=torch.from_numpy(mask),
            centre_batch=torch.repeat_interleave(torch.arange(len(samples)), num_centres),
            num_centres=num_centres,
        )
        if self.one_hot:
            batch.pair_features = batch.pair_one_hot(self.num_elements)
        return batch
