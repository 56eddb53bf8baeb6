"""Small generated structures for the contract kit (numpy only, seeded, a few atoms each).

They are chosen to exercise what the checks need: a molecule without a cell, a triclinic
crystal periodic in three directions (small enough that atoms see their own images within a
6 Å cutoff) and a slab periodic in two, with an adsorbate-like tag pattern. Species mix
light and heavy elements so a backbone that ignores ``atomic_numbers`` is noticed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matforge.neighbors import neighbor_pairs
from matforge.structure import AtomicStructure

#: H, C, N, O, Cu, Pt: the elements of the EMT devsets, light and heavy.
DEFAULT_SPECIES: tuple[int, ...] = (1, 6, 7, 8, 29, 78)


def _sample_positions(
    rng: np.random.Generator,
    num_atoms: int,
    propose,
    cell: np.ndarray | None,
    pbc: np.ndarray,
    min_distance: float,
) -> np.ndarray:
    """Rejection-sample positions whose pairwise distances (images included) exceed
    ``min_distance`` Å, so that checks never meet overlapping atoms."""
    for _ in range(1000):
        positions = propose(rng, num_atoms)
        _, _, _, dist = neighbor_pairs(positions, cell, pbc, cutoff=min_distance)
        if len(dist) == 0:
            return positions
    raise RuntimeError(  # pragma: no cover - only with impossible densities
        f"could not place {num_atoms} atoms {min_distance} Å apart; use fewer atoms"
    )


def random_molecule(
    num_atoms: int = 5,
    *,
    seed: int = 0,
    species: Sequence[int] = DEFAULT_SPECIES,
    box: float = 3.0,
    min_distance: float = 0.9,
) -> AtomicStructure:
    """A cluster of ``num_atoms`` atoms in a ``box`` Å cube, no cell, no periodicity."""
    rng = np.random.default_rng(seed)
    pbc = np.zeros(3, dtype=bool)
    positions = _sample_positions(
        rng, num_atoms, lambda r, n: r.uniform(0.0, box, (n, 3)), None, pbc, min_distance
    )
    numbers = rng.choice(np.asarray(species), size=num_atoms)
    return AtomicStructure(
        positions=positions, atomic_numbers=numbers, pbc=pbc, sid=f"molecule-{seed}"
    ).validate()


def random_triclinic_cell(rng: np.random.Generator, length: float, skew: float = 0.25) -> np.ndarray:
    """Rows a, b, c of a right-handed, clearly non-orthogonal cell of about ``length`` Å."""
    cell = np.diag(rng.uniform(0.9, 1.1, 3) * length)
    cell[1, 0] = skew * length * rng.uniform(0.5, 1.0)
    cell[2, :2] = skew * length * rng.uniform(-1.0, 1.0, 2)
    return cell


def random_crystal(
    num_atoms: int = 3,
    *,
    seed: int = 0,
    species: Sequence[int] = DEFAULT_SPECIES,
    length: float = 4.5,
    min_distance: float = 1.2,
) -> AtomicStructure:
    """A triclinic crystal periodic in x, y and z with ``num_atoms`` atoms per cell.

    With a 4.5 Å cell and a 6 Å cutoff every atom sees several images of itself and of the
    others, which is what the periodic checks need.
    """
    rng = np.random.default_rng(seed)
    cell = random_triclinic_cell(rng, length)
    pbc = np.ones(3, dtype=bool)
    positions = _sample_positions(
        rng, num_atoms, lambda r, n: r.random((n, 3)) @ cell, cell, pbc, min_distance
    )
    numbers = rng.choice(np.asarray(species), size=num_atoms)
    return AtomicStructure(
        positions=positions, atomic_numbers=numbers, cell=cell, pbc=pbc, sid=f"crystal-{seed}"
    ).validate()


def random_slab(
    num_atoms: int = 4,
    *,
    seed: int = 0,
    species: Sequence[int] = DEFAULT_SPECIES,
    length: float = 4.5,
    thickness: float = 3.0,
    vacuum: float = 10.0,
    min_distance: float = 1.2,
) -> AtomicStructure:
    """A slab periodic in the a and b directions (pbc = T, T, F), tagged like OC20 data:
    the top atom is an adsorbate (tag 2), the bottom one is subsurface (tag 0) and fixed."""
    rng = np.random.default_rng(seed)
    cell = random_triclinic_cell(rng, length)
    cell[2] = [0.0, 0.0, thickness + vacuum]
    pbc = np.array([True, True, False])

    def propose(r: np.random.Generator, n: int) -> np.ndarray:
        frac = r.random((n, 3)) * [1.0, 1.0, thickness / cell[2, 2]]  # atoms below the vacuum
        return frac @ cell

    positions = _sample_positions(rng, num_atoms, propose, cell, pbc, min_distance)
    numbers = rng.choice(np.asarray(species), size=num_atoms)
    order = np.argsort(positions[:, 2])
    tags = np.ones(num_atoms, dtype=np.int64)
    tags[order[-1]], tags[order[0]] = 2, 0
    fixed = tags == 0
    return AtomicStructure(
        positions=positions,
        atomic_numbers=numbers,
        cell=cell,
        pbc=pbc,
        tags=tags,
        fixed=fixed,
        sid=f"slab-{seed}",
    ).validate()


def contract_structures(*, seed: int = 0, periodic: bool = True) -> dict[str, AtomicStructure]:
    """The structures every check runs on, by name: two molecules of different sizes, and
    (when ``periodic``) a crystal and a slab."""
    structures = {
        "molecule": random_molecule(5, seed=seed),
        "small-molecule": random_molecule(3, seed=seed + 1),
    }
    if periodic:
        structures["crystal"] = random_crystal(3, seed=seed)
        structures["slab"] = random_slab(4, seed=seed)
    return structures
