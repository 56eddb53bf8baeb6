"""Centre selection: every atom, or OC20's adsorbate + surface + a seeded subsurface sample."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.structure import AtomicStructure
from matforge_pointcloud.centres import select_centres
from matforge_pointcloud.representation import PointCloudRepresentation


def test_all_mode_makes_every_atom_a_centre(structures):
    for s in structures:
        assert np.array_equal(select_centres(s, "all"), np.arange(s.num_atoms))


def test_oc20_mode_keeps_adsorbate_and_surface_and_samples_subsurface(structures):
    slab = structures[0]
    centres = select_centres(slab, "oc20", subsurface_centres=3, seed=0)
    tags = slab.tags[centres]
    assert set(np.flatnonzero(slab.tags > 0)) <= set(centres.tolist()), "every tag 1 and 2 atom is a centre"
    assert (tags == 0).sum() == 3
    assert np.array_equal(centres, np.sort(centres))


def test_subsurface_sample_is_reproducible_and_changes_with_seed_and_epoch(structures):
    slab = structures[0]
    draw = lambda **kw: select_centres(slab, "oc20", subsurface_centres=3, **kw).tolist()  # noqa: E731
    assert draw(seed=1, epoch=2) == draw(seed=1, epoch=2) == select_centres(slab.copy(), "oc20", subsurface_centres=3, seed=1, epoch=2).tolist()
    assert len({tuple(draw(seed=s, epoch=e)) for s in range(3) for e in range(3)}) > 1
    # Positions do not enter the draw, so moving atoms keeps the same centres.
    moved = slab.copy()
    moved.positions = slab.positions + 1.0
    assert select_centres(moved, "oc20", subsurface_centres=3, seed=1, epoch=2).tolist() == draw(seed=1, epoch=2)


def test_representation_epoch_changes_the_sample(structures):
    rep = PointCloudRepresentation(cutoff=4.0, centres="oc20", subsurface_centres=2)
    drawn = set()
    for epoch in range(4):
        rep.set_epoch(epoch)
        drawn.add(tuple(rep(structures[0]).centres.tolist()))
    assert len(drawn) > 1


def test_fewer_subsurface_atoms_than_asked_takes_them_all(structures):
    slab = structures[0]
    centres = select_centres(slab, "oc20", subsurface_centres=1000)
    assert np.array_equal(centres, np.arange(slab.num_atoms))


def test_untagged_structure_in_oc20_mode_is_a_clear_error():
    s = AtomicStructure(positions=np.eye(3) * 2, atomic_numbers=[1, 1, 1], sid="gas")
    with pytest.raises(ValueError, match=r"sid='gas'.*centres='all'"):
        select_centres(s, "oc20", subsurface_centres=0)
