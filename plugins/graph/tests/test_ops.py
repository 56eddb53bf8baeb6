"""Message-passing ops (native backend) against explicit loops, under autograd and compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matforge.structure import AtomicStructure
from matforge_graph import ops
from matforge_graph.backend import get_backend
from matforge_graph.batch import GraphBatch


@pytest.fixture
def batch(structures) -> GraphBatch:
    isolated = AtomicStructure(positions=np.zeros((1, 3)), atomic_numbers=[2], targets={"energy": np.array(0.0)})
    return GraphBatch.collate([structures[2], structures[1], isolated], torch.float64, cutoff=3.0)


def features(rows: int, seed: int = 0, width: int = 3) -> torch.Tensor:
    return torch.randn(rows, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def loop_reduce(values, index, size, reduce):
    out = torch.zeros(size, values.shape[1], dtype=values.dtype)
    for k in range(size):
        rows = values[index == k]
        if len(rows):
            out[k] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values}[reduce]
    return out


def test_gather_picks_source_and_destination_rows(batch):
    x = features(batch.num_nodes)
    assert torch.equal(ops.gather_src(batch, x), x[batch.edge_index[0]])
    assert torch.equal(ops.gather_dst(batch, x), x[batch.edge_index[1]])


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_aggregate_reduces_onto_destinations(batch, reduce):
    e = features(batch.total_edges)
    expected = loop_reduce(e, batch.dst, batch.num_nodes, reduce)
    assert torch.allclose(ops.aggregate(batch, e, reduce), expected, atol=1e-12)


def test_aggregate_gives_zero_to_nodes_without_incoming_edges(batch):
    e = features(batch.total_edges) + 10.0
    for reduce in ("sum", "mean", "max"):
        assert torch.equal(ops.aggregate(batch, e, reduce)[-1], torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_readout_reduces_per_graph(batch, reduce):
    x = features(batch.num_nodes)
    expected = loop_reduce(x, batch.batch, batch.num_graphs, reduce)
    assert torch.allclose(ops.readout(batch, x, reduce), expected, atol=1e-12)


def test_edge_softmax_normalises_over_incoming_edges(batch):
    scores = features(batch.total_edges) * 30.0  # large enough to overflow a naive exp
    weights = ops.edge_softmax(batch, scores)
    for node in range(batch.num_nodes):
        incoming = batch.dst == node
        if incoming.any():
            expected = torch.softmax(scores[incoming], dim=0)
            assert torch.allclose(weights[incoming], expected, atol=1e-12)


def test_trailing_feature_shapes_are_kept(batch):
    e = torch.randn(batch.total_edges, 2, 4, dtype=torch.float64)
    assert ops.aggregate(batch, e, "max").shape == (batch.num_nodes, 2, 4)
    assert ops.edge_softmax(batch, e).shape == e.shape


@pytest.mark.parametrize(
    "op",
    [
        lambda b, x: ops.aggregate(b, ops.gather_src(b, x) * ops.gather_dst(b, x), "sum"),
        lambda b, x: ops.aggregate(b, ops.gather_src(b, x) ** 2, "mean"),
        lambda b, x: ops.aggregate(b, ops.gather_src(b, x) * ops.gather_dst(b, x), "max"),
        lambda b, x: ops.readout(b, x**2, "max"),
        lambda b, x: ops.edge_softmax(b, ops.gather_src(b, x) - ops.gather_dst(b, x) ** 2),
    ],
    ids=["aggregate-sum", "aggregate-mean", "aggregate-max", "readout-max", "edge-softmax"],
)
def test_first_and_second_derivatives(batch, op):
    x = features(batch.num_nodes, width=2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: op(batch, x), (x,))
    assert torch.autograd.gradgradcheck(lambda x: op(batch, x), (x,))


def test_unknown_reduce_is_rejected(batch):
    with pytest.raises(ValueError, match="reduce must be one of"):
        ops.aggregate(batch, features(batch.total_edges), "min")


def test_wrong_row_count_names_the_argument(batch):
    with pytest.raises(ValueError, match="edge_values must have one row per edge"):
        ops.aggregate(batch, features(batch.num_nodes), "sum")


def test_index_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="index must have shape"):
        ops.scatter_sum(torch.ones(3), torch.zeros(2, dtype=torch.int64), 1)


def message_passing(batch, x):
    weights = ops.edge_softmax(batch, ops.gather_src(batch, x) * ops.gather_dst(batch, x))
    return ops.readout(batch, ops.aggregate(batch, weights * ops.gather_src(batch, x), "mean"), "sum")


@pytest.mark.skipif(get_backend() == "dgl", reason="DGL's kernels are opaque to torch.compile")
def test_ops_trace_into_one_compiled_graph(batch):
    # fullgraph=True fails on any graph break, e.g. in the backend switch; aot_eager traces
    # forward and backward without the slow C++ code generation.
    compiled = torch.compile(message_passing, backend="aot_eager", fullgraph=True, dynamic=True)
    x = features(batch.num_nodes)
    assert torch.allclose(compiled(batch, x), message_passing(batch, x), atol=1e-12)


@pytest.mark.slow
@pytest.mark.skipif(get_backend() == "dgl", reason="DGL's kernels are opaque to torch.compile")
def test_ops_compile_with_inductor(batch):
    # ~50 s on 2 CPU cores, spent compiling C++.
    compiled = torch.compile(message_passing, dynamic=True)
    x = features(batch.num_nodes).requires_grad_(True)
    expected = message_passing(batch, x)
    got = compiled(batch, x)
    assert torch.allclose(got, expected, atol=1e-10)
    (g1,) = torch.autograd.grad(got.sum(), x)
    (g2,) = torch.autograd.grad(expected.sum(), x)
    assert torch.allclose(g1, g2, atol=1e-10)
