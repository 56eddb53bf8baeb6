"""GraphBatch: fields, collation, checked data dicts and differentiable edge vectors."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from matforge.neighbors import neighbor_pairs
from matforge_graph.batch import GraphBatch


@pytest.fixture
def batch(structures) -> GraphBatch:
    return GraphBatch.collate(structures, torch.float64, cutoff=4.0)


def test_edges_follow_the_contract_convention(structures, batch):
    # row 0 = neighbour j (source), row 1 = centre i (destination), offset per graph.
    first = structures[0]
    i, j, shifts, _ = neighbor_pairs(first.positions, first.cell, first.pbc, 4.0)
    e0 = int(batch.num_edges[0])
    assert torch.equal(batch.edge_index[:, :e0], torch.from_numpy(np.stack([j, i])))
    assert torch.equal(batch.shifts[:e0], torch.from_numpy(shifts))
    second = batch.edge_index[:, e0 : e0 + int(batch.num_edges[1])]
    assert second.min() >= first.num_atoms


def test_num_edges_counts_each_graphs_edges(structures, batch):
    expected = [len(neighbor_pairs(s.positions, s.cell, s.pbc, 4.0)[0]) for s in structures]
    assert batch.num_edges.tolist() == expected
    assert batch.total_edges == sum(expected)
    assert batch.edge_index.dtype == batch.shifts.dtype == torch.int64


def test_edge_lengths_match_neighbor_distances(structures, batch):
    distances = np.concatenate([neighbor_pairs(s.positions, s.cell, s.pbc, 4.0)[3] for s in structures])
    np.testing.assert_allclose(batch.edge_lengths().numpy(), distances, atol=1e-12)


def test_edge_vectors_gradient_is_minus_plus_one_on_source_and_destination(batch):
    positions = batch.positions.clone().requires_grad_(True)
    b = dataclasses.replace(batch, positions=positions)
    vectors = b.edge_vectors()
    (grad,) = torch.autograd.grad(vectors[:, 0].sum(), positions)
    out_degree = torch.bincount(b.src, minlength=b.num_nodes) - torch.bincount(b.dst, minlength=b.num_nodes)
    assert torch.equal(grad[:, 0], out_degree.to(grad.dtype))


def test_edge_vectors_follow_a_strain(batch):
    # Under x -> x(I + eps), every pair vector becomes r(I + eps), images included.
    strain = torch.zeros(batch.num_graphs, 3, 3, dtype=batch.dtype, requires_grad=True)
    eps = torch.tensor([[0.01, 0.002, 0.0], [0.002, -0.01, 0.003], [0.0, 0.003, 0.02]], dtype=batch.dtype)
    strained = batch.deformed(strain + eps)
    expected = batch.edge_vectors() @ (torch.eye(3, dtype=batch.dtype) + eps)
    assert torch.allclose(strained.edge_vectors(), expected, atol=1e-12)
    (grad,) = torch.autograd.grad(strained.edge_lengths().sum(), strain)
    assert grad.abs().sum() > 0


def test_node_data_rejects_wrong_row_count_naming_the_key(batch):
    batch.node_data["h"] = torch.zeros(batch.num_nodes, 4)
    with pytest.raises(ValueError, match=r"node_data\['bad'\] must have leading dimension"):
        batch.node_data["bad"] = torch.zeros(batch.num_nodes + 1, 4)


def test_edge_data_rejects_wrong_row_count_on_whole_dict_assignment(batch):
    with pytest.raises(ValueError, match=r"edge_data\['e'\] must have leading dimension"):
        batch.edge_data = {"e": torch.zeros(3)}


def test_node_data_rejects_non_tensors(batch):
    with pytest.raises(TypeError, match=r"node_data\['h'\] must be a torch.Tensor"):
        batch.node_data["h"] = np.zeros(batch.num_nodes)


def test_to_casts_and_keeps_data(batch):
    batch.edge_data["w"] = torch.ones(batch.total_edges, dtype=torch.float64)
    moved = batch.to(dtype=torch.float32)
    assert moved.positions.dtype == moved.edge_data["w"].dtype == torch.float32
    assert moved.shifts.dtype == torch.int64
    with pytest.raises(ValueError, match="edge_data"):
        moved.edge_data["x"] = torch.ones(1)


def test_batch_pickles_with_its_data(batch):
    batch.node_data["h"] = torch.arange(batch.num_nodes)
    restored = pickle.loads(pickle.dumps(batch))
    assert torch.equal(restored.node_data["h"], batch.node_data["h"])
    with pytest.raises(ValueError, match="node_data"):
        restored.node_data["x"] = torch.ones(1)


def fields_equal(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and torch.equal(x, y), f.name
        elif isinstance(x, dict) and x:
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) and x[k].dtype == y[k].dtype for k in x), f.name
        else:
            assert x == y, f.name


def test_batch_pickles_by_value_with_every_field_and_dtype(batch):
    from multiprocessing.reduction import ForkingPickler

    batch.edge_data["w"] = torch.randn(batch.total_edges, 2, dtype=torch.float64)
    batch.node_data["big"] = torch.arange(batch.num_nodes) * 2**40  # int64 that does not narrow
    # What a DataLoader worker sends: no tensor goes through its own shared-memory segment.
    data = ForkingPickler.dumps(batch)
    restored = pickle.loads(data)
    fields_equal(batch, restored)
    assert b"torch.multiprocessing" not in bytes(data)


def test_pickled_edges_are_sent_as_narrow_integers(batch):
    packed = len(pickle.dumps(batch))
    edge_bytes = batch.edge_index.numel() * 8 + batch.shifts.numel() * 8
    # edge indices as int8/int16 and shifts as int8 here: far below their int64 size
    assert packed < edge_bytes / 2


def test_tensors_requiring_grad_keep_torch_pickling(batch):
    positions = batch.positions.clone().requires_grad_(True)
    moved = dataclasses.replace(batch, positions=positions)
    restored = pickle.loads(pickle.dumps(moved))
    assert restored.positions.requires_grad and torch.equal(restored.positions, positions)


def test_copy_is_shallow_and_deepcopy_is_deep(batch):
    import copy

    assert copy.copy(batch).positions is batch.positions
    deep = copy.deepcopy(batch)
    assert deep.positions is not batch.positions
    fields_equal(batch, deep)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs a CUDA device")
def test_pin_memory_pins_edges(batch):
    pinned = batch.pin_memory()
    assert pinned.edge_index.is_pinned() and pinned.positions.is_pinned()


def test_malformed_edges_are_rejected(batch):
    with pytest.raises(ValueError, match="shifts must be an int64 tensor of shape"):
        dataclasses.replace(batch, shifts=batch.shifts.float())
    with pytest.raises(ValueError, match="num_edges sums to"):
        dataclasses.replace(batch, num_edges=batch.num_edges + 1)
