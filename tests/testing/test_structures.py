"""The kit's generated structures: valid, reproducible, and shaped as the checks need."""

import numpy as np

from matforge.neighbors import neighbor_pairs
from matforge.testing import contract_structures, random_crystal, random_molecule, random_slab


def test_structures_are_reproducible_from_the_seed():
    a, b, c = random_crystal(seed=3), random_crystal(seed=3), random_crystal(seed=4)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)
    assert not np.allclose(a.positions, c.positions)


def test_no_two_atoms_overlap_images_included():
    for s in contract_structures(seed=1).values():
        _, _, _, d = neighbor_pairs(s.positions, s.cell, s.pbc, cutoff=0.89)
        assert len(d) == 0, s


def test_crystal_is_triclinic_and_small_enough_that_atoms_see_their_own_images():
    s = random_crystal(seed=0)
    cos_ab = s.cell[0] @ s.cell[1] / np.linalg.norm(s.cell[0]) / np.linalg.norm(s.cell[1])
    assert abs(cos_ab) > 0.1
    i, j, shifts, _ = neighbor_pairs(s.positions, s.cell, s.pbc, cutoff=6.0)
    assert np.any((i == j) & np.any(shifts != 0, axis=1))


def test_slab_is_periodic_in_plane_with_adsorbate_on_top_and_fixed_bottom():
    s = random_slab(seed=0)
    assert s.pbc.tolist() == [True, True, False]
    assert s.tags[np.argmax(s.positions[:, 2])] == 2
    assert s.fixed[np.argmin(s.positions[:, 2])] and s.fixed.sum() == 1


def test_molecule_has_no_cell_and_several_species():
    s = random_molecule(6, seed=0)
    assert s.cell is None and not s.pbc.any()
    assert len(set(s.atomic_numbers.tolist())) > 1


def test_non_periodic_contract_has_only_molecules():
    assert all(not s.pbc.any() for s in contract_structures(periodic=False).values())
