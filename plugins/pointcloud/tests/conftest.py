"""A tiny reference pointcloud backbone (registered as model ``cloud-pair`` for these tests)
and small generated structures.

The backbone is what a third-party local-environment model looks like: it reads only
``PointCloudBatch`` (relative vectors, species, mask), masks padded slots itself, and returns
per-atom values [N, width], zero for atoms that are not centres.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, bulk, fcc111, molecule
from torch import Tensor, nn

from matforge.interfaces import Backbone, OutputSpec
from matforge.registry import registry
from matforge.structure import AtomicStructure
from matforge_pointcloud.batch import PointCloudBatch


class CloudPair(Backbone):
    """Per-centre energy from a pair sum plus a three-body term over its point cloud.

    ``w_k = exp(-a r_k²) (1 - r_k/cutoff)²`` (C¹ at the cutoff);
    ``e_c = Σ_k s(Z_c) ⊙ s(Z_k) w_k + |Σ_k t(Z_k) w_k v_k|²``, with ``v_k`` the relative
    vectors. ``width > 1`` makes it an embedding backbone.
    """

    representation = "pointcloud"

    def __init__(
        self,
        width: int = 1,
        cutoff: float = 4.0,
        max_neighbors: int | None = None,
        centres: str = "all",
        subsurface_centres: int = 4,
    ) -> None:
        super().__init__()
        self.width, self.cutoff = width, float(cutoff)
        self.settings = {"cutoff": self.cutoff, "max_neighbors": max_neighbors, "centres": centres, "subsurface_centres": subsurface_centres}
        self.species = nn.Embedding(119, width)
        self.vector_species = nn.Embedding(119, width)
        self.decay = nn.Parameter(torch.tensor(0.3))

    @property
    def output(self) -> OutputSpec:
        return OutputSpec("energy") if self.width == 1 else OutputSpec("embedding", self.width)

    def representation_config(self) -> dict:
        return dict(self.settings)

    def forward(self, batch: PointCloudBatch) -> Tensor:
        mask = batch.mask
        # Mask before any arithmetic: padded slots may hold anything, NaN included.
        vectors = torch.where(mask[..., None], batch.relative_vectors(), 0.0)  # [C, K, 3]
        r2 = torch.where(mask, (vectors**2).sum(-1), 1.0)
        weights = torch.exp(-self.decay * r2) * (1 - r2.sqrt() / self.cutoff) ** 2
        # Zero beyond the cutoff too: given a wider cloud, the model must see the same energy.
        weights = torch.where(mask & (r2 < self.cutoff**2), weights, 0.0)[..., None]  # [C, K, 1]
        z_neighbour = batch.neighbour_numbers()
        pair = (self.species(batch.centre_numbers())[:, None] * self.species(z_neighbour) * weights).sum(1)
        polar = (self.vector_species(z_neighbour)[..., None] * (weights * vectors)[:, :, None, :]).sum(1)  # [C, W, 3]
        return batch.to_atoms(pair + (polar**2).sum(-1))


@pytest.fixture(scope="session", autouse=True)
def cloud_backbones():
    registry.register("model", "cloud-pair", CloudPair, override=True)
    yield
    registry.unregister("model", "cloud-pair")


def from_ase(atoms, sid: str, **targets) -> AtomicStructure:
    cell = atoms.cell.array if atoms.pbc.any() else None
    tags = atoms.get_tags() if atoms.get_tags().any() else None
    return AtomicStructure(
        positions=atoms.positions, atomic_numbers=atoms.numbers, cell=cell, pbc=atoms.pbc, tags=tags, sid=sid, targets=targets
    ).validate()


def make_slab(seed: int = 0) -> AtomicStructure:
    """A Pt(111) 2×2×4 slab with CO: ase tags layers 1 (top) … 4; mapped to OC20 tags
    (2 adsorbate, 1 top layer, 0 below)."""
    rng = np.random.default_rng(seed)
    slab = fcc111("Pt", size=(2, 2, 4), vacuum=6.0)
    add_adsorbate(slab, molecule("CO"), 1.9, "fcc")
    layer = slab.get_tags()
    slab.set_tags(np.select([layer == 0, layer == 1], [2, 1], 0))
    slab.positions += rng.normal(scale=0.05, size=slab.positions.shape)
    return from_ase(slab, f"slab-{seed}", energy=np.array(0.0))


def make_structures(seed: int = 0) -> list[AtomicStructure]:
    """An OC20-tagged slab, a Cu crystal smaller than the cutoff, a molecule."""
    rng = np.random.default_rng(seed)
    crystal = bulk("Cu", "fcc", a=3.6)
    crystal.positions += rng.normal(scale=0.05, size=crystal.positions.shape)
    mol = molecule("CH3CH2OH")
    mol.positions += rng.normal(scale=0.05, size=mol.positions.shape)
    return [make_slab(seed), from_ase(crystal, "crystal", energy=np.array(1.0)), from_ase(mol, "molecule", energy=np.array(2.0))]


@pytest.fixture
def structures() -> list[AtomicStructure]:
    return make_structures()
