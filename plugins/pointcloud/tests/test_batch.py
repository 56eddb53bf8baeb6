"""PointCloudBatch: batching, masking, devices, workers, and what centres mean for forces."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import torch
from torch.utils.data import DataLoader

from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge_pointcloud.batch import PointCloudBatch
from matforge_pointcloud.representation import PointCloudRepresentation


def build_backbone(name: str, args: dict):
    """The registered backbone in float64 (seeded: the tests compare exact values)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return registry.get("model", name)(**args).to(torch.float64).eval()


def energy(backbone, batch: PointCloudBatch) -> torch.Tensor:
    per_atom = backbone(batch)[:, 0]
    return per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)


def test_batch_equals_structures_one_by_one(structures):
    rep = PointCloudRepresentation(cutoff=4.0, max_neighbors=8)
    samples = [rep(s) for s in structures]
    batch = rep.collate(samples)
    atom_offset = centre_offset = 0
    for g, sample in enumerate(samples):
        single = rep.collate([sample])
        rows = slice(centre_offset, centre_offset + single.total_centres)
        k = single.max_neighbours
        assert torch.equal(batch.centres[rows], single.centres + atom_offset)
        assert torch.equal(batch.neighbours[rows, :k], single.neighbours + atom_offset)
        assert torch.equal(batch.shifts[rows, :k], single.shifts)
        assert torch.equal(batch.mask[rows, :k], single.mask) and not batch.mask[rows, k:].any()
        assert torch.equal(batch.relative_vectors()[rows, :k], single.relative_vectors())
        assert bool((batch.centre_batch[rows] == g).all())
        atom_offset += single.num_nodes
        centre_offset += single.total_centres
    assert centre_offset == batch.total_centres == int(batch.num_centres.sum())


def test_energy_unchanged_by_garbage_and_nan_in_padded_slots(structures):
    backbone = build_backbone("cloud-pair", {"cutoff": 4.0})
    rep = build_representation(backbone, dtype=torch.float64)
    batch = rep.collate([rep(s) for s in structures])
    padded = ~batch.mask
    assert padded.any()
    generator = torch.Generator().manual_seed(0)
    neighbours, shifts = batch.neighbours.clone(), batch.shifts.clone()
    neighbours[padded] = torch.randint(0, batch.num_nodes, (int(padded.sum()),), generator=generator)
    shifts[padded] = torch.randint(-50, 50, (int(padded.sum()), 3), generator=generator, dtype=shifts.dtype)
    garbage = dataclasses.replace(batch, neighbours=neighbours, shifts=shifts)

    class NaNPadded(PointCloudBatch):
        """Relative vectors NaN in padded slots: a model that forgets the mask returns NaN."""

        def relative_vectors(self):
            nan = torch.full_like(self.positions[:1], float("nan"))
            return torch.where(self.mask[..., None], super().relative_vectors(), nan)

    nan_batch = NaNPadded(**{f.name: getattr(garbage, f.name) for f in dataclasses.fields(garbage)})
    assert bool(nan_batch.relative_vectors().isnan().any())
    expected = energy(backbone, batch)
    for variant in (garbage, nan_batch):
        positions = variant.positions.clone().requires_grad_(True)
        e = energy(backbone, dataclasses.replace(variant, positions=positions))
        torch.testing.assert_close(e, expected, rtol=0, atol=1e-12)
        (grad,) = torch.autograd.grad(e.sum(), positions)
        assert bool(torch.isfinite(grad).all())


def test_non_centre_atoms_get_forces_as_neighbours(structures):
    slab = structures[0]
    backbone = build_backbone("cloud-pair", {"cutoff": 3.0, "centres": "oc20", "subsurface_centres": 0})
    rep = build_representation(backbone, dtype=torch.float64)
    batch = rep.collate([rep(slab)])
    is_centre = torch.zeros(batch.num_nodes, dtype=torch.bool)
    is_centre[batch.centres] = True
    neighbour_of_a_centre = torch.zeros_like(is_centre)
    neighbour_of_a_centre[batch.neighbours[batch.mask]] = True
    outside = ~is_centre & neighbour_of_a_centre
    assert outside.any() and (~is_centre & ~neighbour_of_a_centre).any()

    positions = batch.positions.clone().requires_grad_(True)
    moved = dataclasses.replace(batch, positions=positions)
    per_atom = backbone(moved)[:, 0]
    assert bool((per_atom[~is_centre] == 0).all()), "non-centres contribute no energy of their own"
    (forces,) = torch.autograd.grad(-per_atom.sum(), positions)
    assert bool((forces[outside].norm(dim=-1) > 0).all()), "neighbours that are not centres feel forces"
    assert bool((forces[~is_centre & ~neighbour_of_a_centre] == 0).all()), "atoms outside every cloud do not"


def test_registered_as_representation_pointcloud_by_this_plugin():
    info = registry.info("representation", "pointcloud")
    assert info.distribution == "matforge-pointcloud"
    assert registry.get("representation", "pointcloud") is PointCloudRepresentation


def test_representation_settings_come_from_the_backbone():
    backbone = build_backbone("cloud-pair", {"cutoff": 3.5, "max_neighbors": 7, "centres": "oc20", "subsurface_centres": 2})
    rep = build_representation(backbone)
    assert isinstance(rep, registry.get("representation", "pointcloud"))
    assert (rep.cutoff, rep.max_neighbors, rep.centres, rep.subsurface_centres) == (3.5, 7, "oc20", 2)


def test_to_device_and_dtype_moves_every_tensor(structures):
    rep = PointCloudRepresentation(cutoff=4.0, one_hot=True)
    batch = rep.collate([rep(s) for s in structures])
    moved = batch.to("meta", dtype=torch.float64)
    for f in dataclasses.fields(moved):
        value = getattr(moved, f.name)
        if isinstance(value, torch.Tensor):
            assert value.device.type == "meta", f.name
    assert moved.positions.dtype == moved.pair_features.dtype == torch.float64
    assert moved.neighbours.dtype == torch.int64 and moved.shifts.dtype == torch.int8 and moved.mask.dtype == torch.bool


def test_memory_grows_with_centres_times_k_not_atoms_squared(structures):
    rep = PointCloudRepresentation(cutoff=4.0, max_neighbors=4)
    batch = rep.collate([rep(s) for s in structures])
    assert batch.neighbours.shape == (batch.total_centres, 4)
    oc20 = PointCloudRepresentation(cutoff=4.0, max_neighbors=4, centres="oc20", subsurface_centres=1)
    fewer = oc20.collate([oc20(structures[0])])
    assert fewer.total_centres < structures[0].num_atoms


def test_collates_in_dataloader_workers(structures):
    rep = PointCloudRepresentation(cutoff=4.0)
    loader = DataLoader([rep(s) for s in structures], batch_size=3, num_workers=1, collate_fn=rep.collate)
    (from_worker,) = list(loader)
    local = rep.collate([rep(s) for s in structures])
    assert torch.equal(from_worker.neighbours, local.neighbours) and torch.equal(from_worker.mask, local.mask)
    assert pickle.loads(pickle.dumps(rep(structures[0]))).centres.tolist() == local.centres[: structures[0].num_atoms].tolist()


def test_invalid_shapes_name_the_field(structures):
    batch = PointCloudBatch.collate(structures, cutoff=4.0)
    import pytest

    with pytest.raises(ValueError, match="mask"):
        dataclasses.replace(batch, mask=batch.mask[:, :1])
    with pytest.raises(ValueError, match="shifts"):
        dataclasses.replace(batch, shifts=batch.shifts.double())
    assert np.isfinite(batch.relative_vectors().numpy()).all()


def test_strain_derivative_matches_finite_differences(structures):
    """Relative vectors depend on the cell through the shifts, so stress comes from autograd."""
    backbone = build_backbone("cloud-pair", {"cutoff": 4.0})
    rep = build_representation(backbone, dtype=torch.float64)
    batch = rep.collate([rep(s) for s in structures[:2]])  # the slab and the small crystal
    strain = torch.zeros(batch.num_graphs, 3, 3, dtype=torch.float64, requires_grad=True)
    (analytical,) = torch.autograd.grad(energy(backbone, batch.deformed(strain)).sum(), strain)
    step = 1e-6
    numerical = torch.zeros_like(analytical)
    for a in range(3):
        for b in range(3):
            delta = torch.zeros_like(strain)
            delta[:, a, b] = step
            with torch.no_grad():
                plus, minus = energy(backbone, batch.deformed(delta)), energy(backbone, batch.deformed(-delta))
            numerical[:, a, b] = (plus - minus) / (2 * step)
    assert bool(analytical.abs().max() > 1e-3)
    torch.testing.assert_close(analytical, numerical, rtol=0, atol=1e-6)
