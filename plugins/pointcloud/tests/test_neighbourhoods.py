"""Neighbourhoods are the core's neighbour lists, cut to K, padded and masked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matforge.structure import AtomicStructure
from matforge_pointcloud.representation import PointCloudRepresentation


def cloud_triples(rep: PointCloudRepresentation, s: AtomicStructure) -> set[tuple[int, ...]]:
    """(centre, neighbour, *shift) of every real slot."""
    sample = rep(s)
    rows, slots = np.nonzero(sample.mask)
    return {
        (int(sample.centres[r]), int(sample.neighbours[r, k]), *map(int, sample.shifts[r, k]))
        for r, k in zip(rows, slots)
    }


@pytest.mark.parametrize("max_neighbors", [None, 5])
def test_neighbourhoods_equal_the_graph_neighbour_lists(structures, max_neighbors):
    graph = pytest.importorskip("matforge_graph.representation")
    rep = PointCloudRepresentation(cutoff=4.0, max_neighbors=max_neighbors)
    graph_rep = graph.GraphRepresentation(cutoff=4.0, max_neighbors=max_neighbors)
    for s in structures:
        g = graph_rep(s)
        edges = {(int(i), int(j), *map(int, sh)) for j, i, sh in zip(g.edge_index[0], g.edge_index[1], g.shifts)}
        assert cloud_triples(rep, s) == edges, s.sid


def test_at_most_k_neighbours_nearest_first(structures):
    rep = PointCloudRepresentation(cutoff=5.0, max_neighbors=6)
    batch = rep.collate([rep(s) for s in structures])
    assert batch.max_neighbours <= 6
    lengths = batch.relative_vectors().norm(dim=-1)
    real = torch.where(batch.mask, lengths, torch.inf)
    assert bool((real[:, 1:] >= real[:, :-1] - 1e-6).all()), "neighbours are not nearest first"
    assert bool((lengths[batch.mask] < 5.0).all()) and bool((lengths[batch.mask] > 0).all())


def test_ties_are_broken_the_same_way_every_time():
    # Every neighbour of an atom in a perfect fcc crystal is equally far: 12 ties at 2.55 Å.
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6)
    s = AtomicStructure(positions=atoms.positions, atomic_numbers=atoms.numbers, cell=atoms.cell.array, pbc=atoms.pbc)
    rep = PointCloudRepresentation(cutoff=3.0, max_neighbors=5)
    first, again = rep(s), rep(s.copy())
    assert np.array_equal(first.shifts, again.shifts) and np.array_equal(first.neighbours, again.neighbours)
    assert first.mask.sum() == 5


def test_periodic_images_present_for_a_cell_smaller_than_the_cutoff(structures):
    crystal = structures[1]  # one Cu atom in a 2.5 Å primitive cell
    assert crystal.num_atoms == 1
    sample = PointCloudRepresentation(cutoff=4.0)(crystal)
    shifts = sample.shifts[0][sample.mask[0]]
    assert len(shifts) == 18  # 12 nearest + 6 second-nearest images of itself within 4 Å
    assert (sample.neighbours[0][sample.mask[0]] == 0).all()
    assert not (shifts == 0).all(axis=1).any(), "an atom is never its own neighbour at zero shift"


def test_padded_slots_point_at_the_centre_with_zero_shift(structures):
    rep = PointCloudRepresentation(cutoff=4.0)
    batch = rep.collate([rep(s) for s in structures])
    padded = ~batch.mask
    assert padded.any()
    assert bool((batch.neighbours[padded] == batch.centres[:, None].expand_as(padded)[padded]).all())
    assert bool((batch.shifts[padded] == 0).all())
    assert bool((batch.relative_vectors()[padded] == 0).all())
    assert bool((batch.neighbour_numbers()[padded] == 0).all())


def relative_vector_sets(rep: PointCloudRepresentation, s: AtomicStructure) -> list[list[tuple[float, ...]]]:
    batch = rep.collate([rep(s)])
    vectors = batch.relative_vectors().double()
    return [sorted(tuple(np.round(v.tolist(), 6)) for v in vectors[c][batch.mask[c]]) for c in range(batch.total_centres)]


def test_cloud_invariant_under_translation_and_wrap_around(structures):
    rep = PointCloudRepresentation(cutoff=4.0, dtype="float64")
    for s in structures:
        moved = s.copy()
        moved.positions = s.positions + np.array([0.7, -1.3, 2.1])
        assert relative_vector_sets(rep, moved) == relative_vector_sets(rep, s), s.sid
        if s.pbc.any():
            wrapped = s.copy()
            frac = s.positions @ np.linalg.inv(s.cell)
            frac[:, s.pbc] += np.arange(s.num_atoms)[:, None] % 3 - 1.0  # atoms into other images
            wrapped.positions = frac @ s.cell
            assert relative_vector_sets(rep, wrapped) == relative_vector_sets(rep, s), s.sid


def test_pair_one_hot_is_centre_then_neighbour_and_zero_when_padded(structures):
    rep = PointCloudRepresentation(cutoff=4.0, one_hot=True)
    batch = rep.collate([rep(s) for s in structures])
    features = batch.pair_features
    assert features.shape == (batch.total_centres, batch.max_neighbours, 200)
    c, k = map(int, batch.mask.nonzero()[0])
    assert features[c, k].nonzero().flatten().tolist() == [
        int(batch.centre_numbers()[c]) - 1, 100 + int(batch.neighbour_numbers()[c, k]) - 1
    ]
    assert bool((features[~batch.mask] == 0).all())
    assert PointCloudRepresentation(cutoff=4.0).collate([rep(structures[0])]).pair_features is None


def test_invalid_settings_name_the_setting():
    for kwargs, word in [({"cutoff": 0}, "cutoff"), ({"max_neighbors": 0}, "max_neighbors"), ({"centres": "some"}, "centres"), ({"subsurface_centres": -1}, "subsurface_centres")]:
        with pytest.raises(ValueError, match=word):
            PointCloudRepresentation(**kwargs)
