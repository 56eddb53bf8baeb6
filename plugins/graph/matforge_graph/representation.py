"""The ``graph`` representation: structure → radius graph with periodic images → `GraphBatch`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from matforge.atoms_representation import resolve_dtype
from matforge.errors import InvalidValueError
from matforge.neighbors import neighbor_edges
from matforge.structure import AtomicStructure
from matforge_graph.batch import GraphBatch


@dataclass
class GraphSample:
    """One structure and its edges, as numpy (cheap to pickle out of DataLoader workers).

    Attributes:
        structure: the structure.
        edge_index: [2, E] int64, row 0 source (neighbour j), row 1 destination (centre i).
        shifts: [E, 3] int64 periodic image of the source.
    """

    structure: AtomicStructure
    edge_index: np.ndarray
    shifts: np.ndarray


class GraphRepresentation:
    """Radius graph under the structure's periodic boundaries (registered as ``graph``).

    Args:
        cutoff: radius in Å; every pair closer than this (any periodic image) is an edge.
        max_neighbors: at most this many incoming edges per atom, the nearest (ties by index);
            ``None`` keeps all.
        dtype: floating dtype of positions, cells and float targets in the batch.
    """

    name: ClassVar[str] = "graph"

    def __init__(
        self,
        cutoff: float = 6.0,
        max_neighbors: int | None = None,
        dtype: torch.dtype | str = torch.float32,
    ) -> None:
        if not cutoff > 0:
            raise InvalidValueError(f"GraphRepresentation: cutoff must be a positive distance in Å, got {cutoff!r}")
        if max_neighbors is not None and max_neighbors < 1:
            raise InvalidValueError(f"GraphRepresentation: max_neighbors must be >= 1 or None, got {max_neighbors!r}")
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors
        self.dtype = resolve_dtype(dtype)

    def __repr__(self) -> str:
        return f"GraphRepresentation(cutoff={self.cutoff}, max_neighbors={self.max_neighbors}, dtype={self.dtype})"

    def __call__(self, structure: AtomicStructure) -> GraphSample:
        edge_index, shifts = neighbor_edges(
            structure.positions, structure.cell, structure.pbc, self.cutoff, max_neighbors=self.max_neighbors
        )
        return GraphSample(structure, edge_index, shifts)

    def collate(self, samples: Sequence[GraphSample]) -> GraphBatch:
        if not samples:
            raise InvalidValueError("cannot collate an empty list of graph samples: a batch needs at least one (is the dataset or split empty?)")
        base = GraphBatch.base_fields([s.structure for s in samples], self.dtype)
        counts = np.array([s.edge_index.shape[1] for s in samples], dtype=np.int64)
        atom_offsets = np.cumsum([0] + [s.structure.num_atoms for s in samples[:-1]])
        # One concatenation, then every edge's atom offset added in place (no per-sample copies).
        edge_index = np.concatenate([s.edge_index.reshape(2, -1) for s in samples], axis=1).astype(np.int64, copy=False)
        edge_index += np.repeat(atom_offsets, counts)
        shifts = np.concatenate([s.shifts.reshape(-1, 3) for s in samples]).astype(np.int64, copy=False)
        return GraphBatch(
            **base,
            edge_index=torch.from_numpy(edge_index),
            shifts=torch.from_numpy(shifts),
            num_edges=torch.from_numpy(counts),
        )
