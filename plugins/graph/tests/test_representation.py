"""The `graph` representation: registry entry, samples in DataLoader workers, settings."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from matforge.registry import registry
from matforge_graph.batch import GraphBatch
from matforge_graph.representation import GraphRepresentation


def test_registered_as_graph():
    assert registry.get("representation", "graph") is GraphRepresentation


def test_sample_is_picklable_numpy(structures):
    sample = GraphRepresentation(cutoff=4.0)(structures[0])
    restored = pickle.loads(pickle.dumps(sample))
    assert (restored.edge_index == sample.edge_index).all()
    assert sample.edge_index.shape[0] == 2 and sample.shifts.shape == (sample.edge_index.shape[1], 3)


def test_dataloader_workers_build_batches(structures):
    rep = GraphRepresentation(cutoff=4.0, dtype="float64")
    samples = list(map(rep, structures))

    class Dataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(structures)

        def __getitem__(self, k):
            return rep(structures[k])

    loader = DataLoader(Dataset(), batch_size=3, num_workers=1, collate_fn=rep.collate)
    (batch,) = list(loader)
    direct = rep.collate(samples)
    assert isinstance(batch, GraphBatch) and batch.dtype == torch.float64
    assert torch.equal(batch.edge_index, direct.edge_index)
    assert torch.equal(batch.targets["energy"], torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))


def test_max_neighbors_caps_incoming_edges(structures):
    batch = GraphRepresentation(cutoff=6.0, max_neighbors=5).collate(
        [GraphRepresentation(cutoff=6.0, max_neighbors=5)(s) for s in structures]
    )
    assert torch.bincount(batch.dst).max() == 5


def test_larger_cutoff_gives_more_edges(structures):
    small = GraphRepresentation(cutoff=3.0)(structures[1])
    large = GraphRepresentation(cutoff=6.0)(structures[1])
    assert large.edge_index.shape[1] > small.edge_index.shape[1]


@pytest.mark.parametrize("kwargs, field", [({"cutoff": 0.0}, "cutoff"), ({"max_neighbors": 0}, "max_neighbors"), ({"dtype": "int32"}, "dtype")])
def test_invalid_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        GraphRepresentation(**kwargs)
