"""The DGL backend: same outputs and derivatives as native, conversion both ways.

Runs in the ``tests-dgl`` nox session (torch 2.2.1 + DGL 2.1.0); skipped where DGL cannot be
imported, except under MATFORGE_TEST_DGL=1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from matforge.install import install_hint
from matforge.structure import AtomicStructure
from matforge_graph import ops
from matforge_graph.backend import use_backend
from matforge_graph.batch import GraphBatch, as_graph_batch
from matforge_graph.testing import assert_backends_agree, dgl_available, require_dgl


class ToyMessagePassing(nn.Module):
    """Every op once: embedding, radial edge weights, softmax attention, aggregate, readout."""

    def __init__(self, reduce: str = "sum", width: int = 4) -> None:
        super().__init__()
        self.reduce = reduce
        self.embed = nn.Embedding(100, width)
        self.radial = nn.Linear(1, width)
        self.score = nn.Linear(width, width)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        h = self.embed(batch.atomic_numbers).to(batch.dtype)
        e = torch.tanh(self.radial(batch.edge_lengths().unsqueeze(-1)))
        message = ops.gather_src(batch, h) * ops.gather_dst(batch, h) * e
        attention = ops.edge_softmax(batch, self.score(message))
        h = h + ops.aggregate(batch, attention * message, self.reduce)
        return ops.readout(batch, torch.tanh(h), self.reduce)


@pytest.fixture
def batch(structures) -> GraphBatch:
    isolated = AtomicStructure(positions=np.zeros((1, 3)), atomic_numbers=[2], targets={"energy": np.array(0.0)})
    return GraphBatch.collate([*structures, isolated], torch.float64, cutoff=3.5)


@pytest.mark.dgl
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_model_agrees_with_native_in_float64(batch, reduce):
    torch.manual_seed(0)
    assert_backends_agree(ToyMessagePassing(reduce).double(), batch)


@pytest.mark.dgl
def test_model_agrees_with_native_in_float32(batch):
    torch.manual_seed(0)
    assert_backends_agree(ToyMessagePassing("mean"), batch.to(dtype=torch.float32))


@pytest.mark.dgl
def test_round_trip_keeps_structure_and_data(batch):
    from matforge_graph.dgl_backend import from_dgl, to_dgl

    require_dgl()
    batch.node_data["h"] = torch.randn(batch.num_nodes, 2, dtype=torch.float64)
    batch.edge_data["w"] = torch.randn(batch.total_edges, dtype=torch.float64)
    g = to_dgl(batch)
    assert g.batch_size == batch.num_graphs
    assert g.batch_num_edges().tolist() == batch.num_edges.tolist()
    back = from_dgl(g)
    for name in ("positions", "atomic_numbers", "batch", "num_atoms", "cell", "pbc", "tags", "fixed", "edge_index", "shifts", "num_edges"):
        assert torch.equal(getattr(back, name), getattr(batch, name)), name
    assert torch.equal(back.node_data["h"], batch.node_data["h"])
    assert torch.equal(back.edge_data["w"], batch.edge_data["w"])


@pytest.mark.dgl
def test_graph_from_a_users_dgl_pipeline_feeds_a_model(batch):
    # A plain DGL graph with DGL-style keys and no cell: the molecule alone.
    require_dgl()
    import dgl

    molecule = GraphBatch.collate([AtomicStructure(positions=batch.positions[:9].numpy(), atomic_numbers=batch.atomic_numbers[:9].numpy())], torch.float64, cutoff=3.5)
    g = dgl.graph((molecule.src, molecule.dst), num_nodes=molecule.num_nodes)
    g.ndata["pos"], g.ndata["Z"] = molecule.positions, molecule.atomic_numbers
    torch.manual_seed(0)
    model = ToyMessagePassing().double()
    with use_backend("dgl"):
        from_user = model(as_graph_batch(g))
    assert torch.allclose(from_user, model(molecule), atol=1e-12)


@pytest.mark.dgl
def test_reserved_keys_in_node_data_are_rejected(batch):
    from matforge_graph.dgl_backend import to_dgl

    require_dgl()
    batch.node_data["positions"] = batch.positions
    with pytest.raises(ValueError, match=r"node_data keys \['positions'\] clash"):
        to_dgl(batch)


@pytest.mark.skipif(dgl_available(), reason="checks the error where DGL is missing")
def test_missing_dgl_says_what_to_install(batch):
    with use_backend("dgl"), pytest.raises(ImportError) as info:
        ops.aggregate(batch, torch.ones(batch.total_edges), "sum")
    assert install_hint("matforge-graph[dgl]") in str(info.value)  # the form that works here
