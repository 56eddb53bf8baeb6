"""Neighbour lists under periodic boundary conditions (vesin, numpy only).

Convention used everywhere in matforge: a pair ``(i, j, shift)`` means atom ``j`` in the
periodic image ``shift`` (integer multiples of the lattice vectors) is within the cutoff of
atom ``i``; its vector is ``r_ij = positions[j] - positions[i] + shift @ cell`` (Å).

Periodic, partly periodic (slabs, wires) and non-periodic systems are supported, triclinic
cells too, and cutoffs larger than the cell (an atom then meets several images of the same
neighbour, and images of itself). The result is sorted by centre ``i``, then ``j``, then
shift (with ``max_neighbors``: centre, distance, ``j``, shift), so it does not depend on the
vesin version or on its internal order.
"""

from __future__ import annotations

import functools
import sys
import threading

import numpy as np

from matforge.errors import InvalidValueError

#: Distances are compared at this resolution (Å) when ordering pairs, so that neighbours that
#: are equally far by symmetry are ordered by index, not by floating-point noise.
_DISTANCE_RESOLUTION = 1e-8

#: vesin sizes its cell list by the cutoff: a 0.1 Å cutoff (the overlap check of
#: AtomicStructure.validate) on a slab with vacuum made ~10^6 cells and took ~1 s. Searching at
#: least this radius (Å) and filtering keeps that at ~0.5 ms; the extra pairs are few.
_MIN_SEARCH_RADIUS = 2.0


def neighbor_pairs(
    positions: np.ndarray,
    cell: np.ndarray | None,
    pbc: np.ndarray,
    cutoff: float,
    *,
    max_neighbors: int | None = None,
    distances: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """All ordered pairs within ``cutoff`` (Å), both directions, no self pair at zero shift.

    Args:
        positions: [N, 3] Å.
        cell: [3, 3] Å, rows are lattice vectors; ``None`` (or anything) when no direction is
            periodic. Rows along non-periodic directions are not used and may be zero.
        pbc: [3] bool, periodic along each lattice vector.
        cutoff: radius in Å (pairs with distance < cutoff are kept).
        max_neighbors: keep at most this many neighbours per centre ``i``: the nearest, ties
            broken by ``j`` then shift. The result is then no longer symmetric.
        distances: return the distances; ``False`` returns ``None`` in their place and skips
            ordering them (graph construction does not read them).

    Returns:
        i [E] int64 (centre), j [E] int64 (neighbour), shifts [E, 3] int64 (zero along
        non-periodic directions), distances [E] float64 (Å) or ``None``; sorted by ``i``,
        ``j``, shift, or with ``max_neighbors`` by ``i``, distance, ``j``, shift.
    """
    return _search(positions, cell, pbc, cutoff, max_neighbors, distances)[:4]


def _search(positions, cell, pbc, cutoff: float, max_neighbors: int | None, distances: bool):
    """:func:`neighbor_pairs`' work; also returns the pairs as one [2, E] array of rows
    ``j``, ``i`` when the fast path built them that way (``None`` otherwise)."""
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise InvalidValueError(f"neighbour list: positions must have shape [N, 3] (Å), got {list(positions.shape)}")
    pbc = np.asarray(pbc, dtype=bool).reshape(-1)
    if pbc.shape != (3,):
        if pbc.size != 1:
            raise InvalidValueError(f"neighbour list: pbc must be one bool or three, got {pbc.size}")
        pbc = np.broadcast_to(pbc, (3,))
    flags = pbc.tolist()  # plain bools: cheaper to test than the array (this runs per structure)
    if not cutoff > 0:
        raise InvalidValueError(f"neighbour list: cutoff must be a positive distance in Å, got {cutoff!r}")
    if max_neighbors is not None and max_neighbors < 0:
        raise InvalidValueError(f"neighbour list: max_neighbors must be >= 0 or None, got {max_neighbors!r}")

    if any(flags):
        if cell is None:
            raise InvalidValueError(f"neighbour list: cell is required ([3, 3], Å) as pbc is {flags}, got None")
        box = np.asarray(cell, dtype=np.float64)
        if box.shape != (3, 3):
            if box.size != 9:
                raise InvalidValueError(f"neighbour list: cell must have shape [3, 3] (Å), got {list(box.shape)}")
            box = box.reshape(3, 3)
    else:
        box = np.zeros((3, 3))
    # Without distances to return or to filter by, vesin need not write them.
    need_d = distances or max_neighbors is not None or cutoff < _MIN_SEARCH_RADIUS
    i, j, shifts, d = _vesin_pairs(positions, box, pbc, max(float(cutoff), _MIN_SEARCH_RADIUS), need_d, flags)
    if cutoff < _MIN_SEARCH_RADIUS:
        within = d < cutoff
        i, j, shifts, d = i[within], j[within], shifts[within], d[within]

    if max_neighbors is None and not distances and _packs(shifts, len(positions)):
        # Sorting the packed keys themselves and unpacking them is twice as fast as sorting
        # a permutation and gathering four arrays with it.
        keys, shifts = _sorted_by_key(i, j, shifts)
        pairs = np.empty((2, len(keys)), dtype=np.int64)  # rows j, i: the graph's edge layout
        np.right_shift(keys, 44, out=pairs[1])
        np.bitwise_and(np.right_shift(keys, 24), (1 << _ATOM_BITS) - 1, out=pairs[0])
        return pairs[1], pairs[0], shifts, None, pairs
    order = _pair_order(i, j, shifts, d, by_distance=max_neighbors is not None, num_atoms=len(positions))
    i, j, shifts = i[order], j[order], shifts[order].astype(np.int64)
    d = d[order] if d is not None else None
    if max_neighbors is not None:
        keep = _first_per_centre(i, max_neighbors)
        i, j, shifts, d = i[keep], j[keep], shifts[keep], d[keep]
    return i, j, shifts, (d if distances else None), None


#: Packed pair key: centre i in bits 44-63, neighbour j in 24-43, shift + 128 in 16-23, 8-15
#: and 0-7 (one byte per lattice direction).
_ATOM_BITS = 20


def _packs(shifts: np.ndarray, num_atoms: int) -> bool:
    """Whether pairs of ``num_atoms`` atoms with these shifts fit the packed key."""
    return num_atoms < 1 << _ATOM_BITS and (len(shifts) == 0 or (shifts.min() >= -128 and shifts.max() < 128))


def _packed_keys(i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    s = shifts.astype(np.int64) + 128
    return (i << 44) | (j << 24) | (s[:, 0] << 16) | (s[:, 1] << 8) | s[:, 2]


def _sorted_by_key(i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted packed keys of the pairs (which must fit), and their shifts (int64)."""
    if sys.byteorder != "little":
        keys = np.sort(_packed_keys(i, j, shifts))
        shifts = np.stack([((keys >> bits) & 0xFF) - 128 for bits in (16, 8, 0)], axis=1)
    else:
        # The shift bytes are written into and read from the keys' three low bytes directly.
        keys = (i << 44) | (j << 24)
        keys.view(np.uint8).reshape(-1, 8)[:, 2::-1] = shifts + 128
        keys.sort()
        shifts = keys.view(np.uint8).reshape(-1, 8)[:, 2::-1].astype(np.int64)
        shifts -= 128
    return keys, shifts


def _pair_order(
    i: np.ndarray, j: np.ndarray, shifts: np.ndarray, d: np.ndarray, by_distance: bool, num_atoms: int | None = None
) -> np.ndarray:
    """Permutation sorting pairs by centre, then (``by_distance``) distance at fixed
    resolution, then neighbour, then shift.

    The keys are packed into one or two int64 arrays where they fit: sorting ~2,000 pairs
    with six separate keys cost as much as vesin's search itself.
    """
    if len(i) == 0:
        return np.zeros(0, dtype=np.int64)
    d_key = np.round(d / _DISTANCE_RESOLUTION).astype(np.int64) if by_distance else None
    if num_atoms is None:
        num_atoms = int(max(i.max(), j.max())) + 1
    if not _packs(shifts, num_atoms) or (by_distance and d_key.max() >= 1 << 34):
        keys = (shifts[:, 2], shifts[:, 1], shifts[:, 0], j, *((d_key,) if by_distance else ()), i)
        return np.lexsort(keys)  # sorts by the last key first
    if not by_distance:
        # (i, j, shift) identifies a pair, so one unstable sort of unique keys suffices.
        return np.argsort(_packed_keys(i, j, shifts))
    s = shifts.astype(np.int64) + 128
    return np.lexsort(((j << 24) | (s[:, 0] << 16) | (s[:, 1] << 8) | s[:, 2], (i << 34) | d_key))


def neighbor_edges(
    positions: np.ndarray,
    cell: np.ndarray | None,
    pbc: np.ndarray,
    cutoff: float,
    *,
    max_neighbors: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`neighbor_pairs` laid out as graph edges: ``edge_index`` [2, E] int64 with row 0
    the neighbour ``j`` (source) and row 1 the centre ``i`` (destination), and shifts [E, 3]
    int64; same pairs, same order."""
    i, j, shifts, _, edges = _search(positions, cell, pbc, cutoff, max_neighbors, distances=False)
    return (edges if edges is not None else np.stack([j, i])), shifts


def _first_per_centre(i_sorted: np.ndarray, k: int) -> np.ndarray:
    """Mask of the first ``k`` pairs of each centre in an ``i``-sorted pair list."""
    if len(i_sorted) == 0:
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, i_sorted[1:] != i_sorted[:-1]])
    run_lengths = np.diff(np.r_[starts, len(i_sorted)])
    rank = np.arange(len(i_sorted)) - np.repeat(starts, run_lengths)
    return rank < k


def _vesin_pairs(
    positions: np.ndarray,
    box: np.ndarray,
    pbc: np.ndarray,
    cutoff: float,
    distances: bool = True,
    flags: list[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    nl = _neighbor_list(cutoff)
    flags = pbc.tolist() if flags is None else flags
    uniform = all(flags) or not any(flags)
    if uniform or _per_direction_pbc_supported():
        periodic = flags[0] if uniform else flags
        # copy=False: views into the (per-thread) list's buffers, valid until its next call;
        # every caller builds new arrays from them (keys, gathers, masks) before returning.
        i, j, s, *d = nl.compute(
            points=positions, box=box, periodic=periodic, quantities="ijSd" if distances else "ijS", copy=False
        )
    else:
        i, j, s, *d = _padded_pairs(nl, positions, box, pbc, cutoff)
    # vesin gives indices as uint64 (< 2**63: viewed, not copied) and shifts as int32
    # (converted once the pairs are ordered).
    d = np.asarray(d[0], dtype=np.float64) if d and distances else None
    return _as_int64(i), _as_int64(j), np.asarray(s).reshape(-1, 3), d


_LISTS = threading.local()


def _neighbor_list(cutoff: float):
    """A vesin ``NeighborList`` for ``cutoff``, one per thread, reused across calls (its
    buffers are then allocated once; ``compute`` copies its results out)."""
    try:
        return _LISTS.by_cutoff[cutoff]
    except (AttributeError, KeyError):
        pass
    lists = getattr(_LISTS, "by_cutoff", None)
    if lists is None:
        lists = _LISTS.by_cutoff = {}
    if cutoff not in lists:
        from vesin import NeighborList

        if len(lists) > 8:
            lists.clear()
        lists[cutoff] = NeighborList(cutoff=cutoff, full_list=True)
    return lists[cutoff]


def _as_int64(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == np.uint64:
        return values.view(np.int64)
    return values.astype(np.int64, copy=False)


@functools.lru_cache(maxsize=1)
def _per_direction_pbc_supported() -> bool:
    """Whether this vesin takes ``periodic=[a, b, c]`` and honours it (checked once, on a
    two-atom slab small enough to need several images, against the padded construction)."""
    from vesin import NeighborList

    nl = NeighborList(cutoff=2.5, full_list=True)
    points, box, pbc = np.array([[0.0, 0.0, 0.0], [0.3, 0.2, 1.0]]), np.eye(3), np.array([True, True, False])
    try:
        got = nl.compute(points=points, box=box, periodic=pbc.tolist(), quantities="ijS")
    except (TypeError, ValueError, RuntimeError):
        return False
    ref = _padded_pairs(nl, points, box, pbc, nl.cutoff)
    return _pair_set(*got) == _pair_set(*ref[:3])


def _pair_set(i, j, s) -> set[tuple[int, int, int, int, int]]:
    return {(int(a), int(b), *map(int, c)) for a, b, c in zip(i, j, np.asarray(s).reshape(-1, 3))}


def _padded_pairs(nl, positions: np.ndarray, box: np.ndarray, pbc: np.ndarray, cutoff: float):
    """Partial pbc through a fully periodic box, for vesin builds that take one bool.

    Each non-periodic lattice vector is replaced by a vector orthogonal to the periodic ones,
    longer than the atoms' extent along it plus the cutoff: no image across it is then within
    the cutoff, so every shift along it is zero and the other shifts keep their meaning.
    """
    periodic_rows = box[pbc]
    normals = _orthonormal_complement(periodic_rows)
    padded = box.copy()
    for row, normal in zip(np.flatnonzero(~pbc), normals):
        projection = positions @ normal
        padded[row] = normal * (np.ptp(projection) + cutoff + 1.0)
    return nl.compute(points=positions, box=padded, periodic=True, quantities="ijSd")


def _orthonormal_complement(rows: np.ndarray) -> np.ndarray:
    """[3 - k, 3] orthonormal vectors orthogonal to the k (independent) ``rows``."""
    if len(rows) == 0:
        return np.eye(3)
    # The right-singular vectors of the zero singular values span the orthogonal complement.
    _, _, vt = np.linalg.svd(np.vstack([rows, np.zeros((3 - len(rows), 3))]))
    return vt[len(rows):]
