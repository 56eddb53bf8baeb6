"""Small generated structures for the graph tests."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import add_adsorbate, bulk, fcc111, molecule

from matforge.structure import AtomicStructure


def from_ase(atoms, **targets) -> AtomicStructure:
    cell = atoms.cell.array if atoms.pbc.any() else None
    return AtomicStructure(
        positions=atoms.positions, atomic_numbers=atoms.numbers, cell=cell, pbc=atoms.pbc, targets=targets
    ).validate()


def make_structures(seed: int = 0) -> list[AtomicStructure]:
    """A slab with an adsorbate, a triclinic bulk cell smaller than the cutoff, a molecule."""
    rng = np.random.default_rng(seed)
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, molecule("CO"), 1.9, "fcc")
    slab.positions += rng.normal(scale=0.05, size=slab.positions.shape)
    crystal = bulk("Cu", "fcc", a=3.6) * (1, 1, 2)
    crystal.positions += rng.normal(scale=0.05, size=crystal.positions.shape)
    mol = molecule("CH3CH2OH")
    mol.positions += rng.normal(scale=0.05, size=mol.positions.shape)
    return [from_ase(a, energy=np.array(float(k))) for k, a in enumerate([slab, crystal, mol])]


@pytest.fixture
def structures() -> list[AtomicStructure]:
    return make_structures()
