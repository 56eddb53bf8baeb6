"""`AtomicStructure.validate`: one validation path, errors naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.structure import AtomicStructure, StructureError

from .conftest import make_structure


def water(**overrides) -> AtomicStructure:
    fields = dict(
        positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        atomic_numbers=[8, 1, 1],
    )
    fields.update(overrides)
    return AtomicStructure(**fields)


def test_valid_structure_is_cast_to_canonical_dtypes():
    s = water(atomic_numbers=np.array([8.0, 1.0, 1.0]), tags=[0, 0, 2], fixed=[1, 0, 0]).validate()
    assert s.atomic_numbers.dtype == np.int64 and s.tags.dtype == np.int64 and s.fixed.dtype == bool


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_positions_are_rejected(bad):
    positions = np.zeros((3, 3)) + np.arange(3)[:, None]
    positions[1, 2] = bad
    with pytest.raises(StructureError, match=r"positions contain NaN or inf"):
        water(positions=positions).validate()


def test_empty_structure_is_rejected():
    with pytest.raises(StructureError, match=r"no atoms"):
        AtomicStructure(positions=np.zeros((0, 3)), atomic_numbers=np.zeros(0, dtype=int)).validate()


def test_overlapping_atoms_are_rejected_with_their_indices():
    with pytest.raises(StructureError, match=r"atoms 0 and 1 are 0.05 Å apart.*overlapping"):
        water(positions=[[0, 0, 0], [0.05, 0, 0], [2, 0, 0]]).validate()


def test_overlap_across_a_periodic_boundary_is_found():
    s = AtomicStructure(
        positions=[[0.02, 1, 1], [3.99, 1, 1]], atomic_numbers=[29, 29], cell=np.eye(3) * 4.0, pbc=True
    )
    with pytest.raises(StructureError, match=r"overlapping"):
        s.validate()
    s.validate(min_distance=None)  # the check can be switched off


def test_forces_of_the_wrong_shape_are_rejected():
    with pytest.raises(StructureError, match=r"target 'forces' must have shape \[3, 3\], got \[2, 3\]"):
        water(targets={"forces": np.zeros((2, 3))}).validate()


def test_atomic_numbers_outside_the_periodic_table_are_rejected():
    with pytest.raises(StructureError, match=r"1..118, found 119"):
        water(atomic_numbers=[8, 1, 119]).validate()


def test_pbc_needs_a_non_singular_cell():
    with pytest.raises(StructureError, match=r"singular"):
        water(cell=np.diag([5.0, 5.0, 0.0]), pbc=True).validate()
    with pytest.raises(StructureError, match=r"no cell"):
        water(pbc=True).validate()


def test_errors_name_where_the_structure_came_from():
    with pytest.raises(StructureError, match=r"\(data.lmdb key 7\)"):
        water(positions=np.full((3, 3), np.nan)).validate(where="data.lmdb key 7")


def test_ase_round_trip_keeps_tags_fixed_targets_and_ids():
    s = make_structure(3)
    s.targets["stress"] = np.array([[1.0, 0.4, 0.5], [0.4, 2.0, 0.6], [0.5, 0.6, 3.0]]) * 1e-3
    atoms = s.to_ase()
    assert atoms.get_potential_energy() == pytest.approx(float(s.targets["energy"]))
    np.testing.assert_allclose(atoms.get_forces(apply_constraint=False), s.targets["forces"])
    back = AtomicStructure.from_ase(atoms)
    np.testing.assert_array_equal(back.fixed, s.fixed)
    np.testing.assert_array_equal(back.tags, s.tags)
    np.testing.assert_allclose(back.targets["stress"], s.targets["stress"])
    np.testing.assert_allclose(back.targets["forces"], s.targets["forces"])  # fixed atoms keep theirs
    np.testing.assert_allclose(back.positions, s.positions)
    assert (back.sid, back.fid, back.ids["source"]) == (s.sid, s.fid, s.ids["source"])


def test_from_ase_of_a_molecule_has_no_cell():
    from ase.build import molecule

    s = AtomicStructure.from_ase(molecule("H2O")).validate()
    assert s.cell is None and not s.pbc.any() and s.targets == {}
