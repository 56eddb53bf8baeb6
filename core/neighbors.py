"""Neighbour lists under periodic boundary conditions (vesin, numpy only).

Convention used everywhere in matforge: a pair ``(i, j, shift)`` means atom ``j`` in the
periodic image ``shift`` (integer multiples of the lattice vectors) is within the cutoff of
atom ``i``; its vector is ``r_ij = positions[j] - positions[i] + shift @ cell`` (Å).
"""

from __future__ import annotations

import numpy as np


def neighbor_pairs(
    positions: np.ndarray,
    cell: np.ndarray | None,
    pbc: np.ndarray,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs within ``cutoff`` (Å), both directions, no self pair at zero shift.

    Returns:
        i [E] int64, j [E] int64, shifts [E, 3] int64, distances [E] float64 (Å).
    """
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    box = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
    if not pbc.any():
        box = np.zeros((3, 3))
    nl = NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s, d = nl.compute(points=positions, box=box, periodic=pbc.tolist() if pbc.any() else False, quantities="ijSd")
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64), d
