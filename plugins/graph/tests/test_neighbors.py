"""matforge.neighbors.neighbor_pairs against ase.neighborlist.neighbor_list (same pair sets)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc100, fcc111, molecule
from ase.neighborlist import neighbor_list

from matforge import neighbors
from matforge.neighbors import neighbor_pairs


def pair_set(i, j, shifts) -> set[tuple[int, ...]]:
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, shifts)}


def ase_pair_set(positions, cell, pbc, cutoff) -> set[tuple[int, ...]]:
    atoms = Atoms(numbers=np.ones(len(positions)), positions=positions, cell=cell, pbc=pbc)
    return pair_set(*neighbor_list("ijS", atoms, cutoff))


def random_triclinic(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(2.5, 5.0, 3)) + np.triu(rng.uniform(-1.5, 1.5, (3, 3)), 1)
    # Fractional coordinates outside [0, 1) too: atoms need not be wrapped into the cell.
    positions = rng.uniform(-0.3, 1.3, (n, 3)) @ cell
    return positions, cell


def slab(seed: int):
    builder = (fcc111, fcc100)[seed % 2]
    atoms = builder("Cu", size=(2, 2, 3), vacuum=1.0 + seed)
    add_adsorbate(atoms, molecule("CO"), 1.8, "ontop")
    return atoms.positions, atoms.cell.array


CASES = {
    **{f"triclinic-{s}": (*random_triclinic(s), (True, True, True), 5.0) for s in range(4)},
    **{f"slab-{s}": (*slab(s), (True, True, False), 6.0) for s in range(4)},
    "wire": (*random_triclinic(7), (True, False, False), 5.0),
    "molecule": (molecule("C6H6").positions, None, (False, False, False), 3.0),
    "tiny-cell-large-cutoff": (np.array([[0.1, 0.2, 0.3], [1.0, 0.9, 0.6]]), np.array([[1.3, 0, 0], [0.4, 1.1, 0], [0.2, -0.3, 1.2]]), (True, True, True), 4.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_pairs_and_shifts_as_ase(name):
    positions, cell, pbc, cutoff = CASES[name]
    i, j, shifts, _ = neighbor_pairs(positions, cell, np.array(pbc), cutoff)
    assert pair_set(i, j, shifts) == ase_pair_set(positions, cell, pbc, cutoff)
    assert len(i) == len(pair_set(i, j, shifts)), "a pair appears twice"


@pytest.mark.parametrize("name", ["slab-0", "slab-3", "wire"])
def test_partial_pbc_through_padded_box_matches_ase(name, monkeypatch):
    # The fallback for vesin builds without per-direction periodicity.
    monkeypatch.setattr(neighbors, "_per_direction_pbc_supported", lambda: False)
    positions, cell, pbc, cutoff = CASES[name]
    i, j, shifts, _ = neighbor_pairs(positions, cell, np.array(pbc), cutoff)
    assert pair_set(i, j, shifts) == ase_pair_set(positions, cell, pbc, cutoff)


def test_installed_vesin_honours_per_direction_pbc():
    # If this fails the padded fallback is used; the test says which path runs here.
    neighbors._per_direction_pbc_supported.cache_clear()
    assert neighbors._per_direction_pbc_supported()


def test_distances_are_norms_of_pair_vectors():
    positions, cell = random_triclinic(3)
    i, j, shifts, d = neighbor_pairs(positions, cell, np.ones(3, bool), 5.0)
    vectors = positions[j] - positions[i] + shifts @ cell
    np.testing.assert_allclose(d, np.linalg.norm(vectors, axis=1), atol=1e-12)
    assert d.max() < 5.0


def test_single_atom_meets_its_own_images_but_not_itself():
    i, j, shifts, d = neighbor_pairs(np.zeros((1, 3)), 2.0 * np.eye(3), np.ones(3, bool), 2.5)
    assert pair_set(i, j, shifts) == {(0, 0, *s) for s in np.vstack([np.eye(3), -np.eye(3)]).astype(int)}
    np.testing.assert_allclose(d, 2.0)


def test_pairs_sorted_by_centre_neighbour_shift():
    positions, cell = random_triclinic(1)
    i, j, shifts, _ = neighbor_pairs(positions, cell, np.ones(3, bool), 5.0)
    rows = [(int(a), int(b), *map(int, c)) for a, b, c in zip(i, j, shifts)]
    assert rows == sorted(rows)


def test_capped_pairs_sorted_by_centre_then_distance():
    positions, cell = random_triclinic(1)
    i, _, _, d = neighbor_pairs(positions, cell, np.ones(3, bool), 5.0, max_neighbors=1000)
    key = i * 100.0 + d
    assert np.all(np.diff(key) >= 0)


def test_max_neighbors_keeps_nearest_per_centre():
    positions, cell = random_triclinic(2)
    i_all, _, _, d_all = neighbor_pairs(positions, cell, np.ones(3, bool), 5.0)
    i, _, _, d = neighbor_pairs(positions, cell, np.ones(3, bool), 5.0, max_neighbors=4)
    for centre in range(len(positions)):
        expected = np.sort(d_all[i_all == centre])[:4]
        np.testing.assert_allclose(d[i == centre], expected)


def test_max_neighbors_breaks_distance_ties_by_index_then_shift():
    # Simple cubic, 2 atoms: atom 0's six nearest are equidistant (1 Å): its partner's two
    # images along x and its own four images along y, z.
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    cell = np.diag([2.0, 1.0, 1.0])
    i, j, s, _ = neighbor_pairs(positions, cell, np.ones(3, bool), 1.1, max_neighbors=3)
    first = [(int(a), int(b), *map(int, c)) for a, b, c in zip(i, j, s)][:3]
    assert first == [(0, 0, 0, -1, 0), (0, 0, 0, 0, -1), (0, 0, 0, 0, 1)]


def test_molecule_has_no_shifts_and_needs_no_cell():
    positions = molecule("CH4").positions
    i, j, shifts, _ = neighbor_pairs(positions, None, np.zeros(3, bool), 1.5)
    assert len(i) == 8 and not shifts.any()
    assert i.dtype == j.dtype == shifts.dtype == np.int64


def test_isolated_atom_gives_empty_arrays_with_shapes():
    i, j, shifts, d = neighbor_pairs(np.zeros((1, 3)), None, np.zeros(3, bool), 3.0)
    assert i.shape == j.shape == d.shape == (0,) and shifts.shape == (0, 3)


def test_periodic_without_cell_is_an_error():
    with pytest.raises(ValueError, match="cell is required"):
        neighbor_pairs(np.zeros((2, 3)), None, np.ones(3, bool), 3.0)


def test_small_cutoff_finds_only_the_overlapping_pair():
    # The overlap check of AtomicStructure.validate uses a 0.1 Å cutoff.
    positions, cell = slab(1)
    positions = np.vstack([positions, positions[0] + np.array([0.05, 0.0, 0.0])])
    i, j, shifts, d = neighbor_pairs(positions, cell, np.array([True, True, False]), 0.1)
    assert pair_set(i, j, shifts) == {(0, len(positions) - 1, 0, 0, 0), (len(positions) - 1, 0, 0, 0, 0)}
    np.testing.assert_allclose(d, 0.05)


@pytest.mark.parametrize("by_distance", [False, True])
def test_packed_sort_keys_give_the_lexicographic_order(by_distance):
    rng = np.random.default_rng(0)
    rows = np.unique(np.hstack([rng.integers(0, 5, (600, 2)), rng.integers(-3, 4, (600, 3))]), axis=0)
    rows = rows[rng.permutation(len(rows))]  # unique (i, j, shift) pairs, shuffled
    i, j, shifts = rows[:, 0], rows[:, 1], rows[:, 2:]
    d = rng.choice([1.0, 2.0, 2.5], len(i))
    expected = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, *((d,) if by_distance else ()), i))
    assert np.array_equal(neighbors._pair_order(i, j, shifts, d, by_distance), expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pairs_without_distances_are_the_same_pairs_in_the_same_order(name):
    # distances=False sorts the packed keys themselves and unpacks them: a second code path.
    positions, cell, pbc, cutoff = CASES[name]
    i, j, shifts, _ = neighbor_pairs(positions, cell, np.array(pbc), cutoff)
    i2, j2, shifts2, d2 = neighbor_pairs(positions, cell, np.array(pbc), cutoff, distances=False)
    assert d2 is None
    for ours, reference in ((i2, i), (j2, j), (shifts2, shifts)):
        assert ours.dtype == np.int64 and np.array_equal(ours, reference)


@pytest.mark.parametrize("name", ["slab-0", "molecule", "tiny-cell-large-cutoff"])
@pytest.mark.parametrize("max_neighbors", [None, 3])
def test_neighbor_edges_are_the_pairs_as_source_and_destination_rows(name, max_neighbors):
    positions, cell, pbc, cutoff = CASES[name]
    i, j, shifts, _ = neighbor_pairs(positions, cell, np.array(pbc), cutoff, max_neighbors=max_neighbors)
    edges, edge_shifts = neighbors.neighbor_edges(positions, cell, np.array(pbc), cutoff, max_neighbors=max_neighbors)
    assert edges.dtype == np.int64 and np.array_equal(edges, np.stack([j, i]))
    assert np.array_equal(edge_shifts, shifts)
