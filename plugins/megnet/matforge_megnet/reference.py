"""The MEGNet equations written the straightforward way, with the model's own weights.

Per bond, φ_e's input is the concatenation ``[v_s, v_r, e_k, u]`` built explicitly, means
are index_add sums divided by counts, as in the paper and the public implementations.
:class:`~matforge_megnet.block.MEGNetBlock` computes the same function with φ_e's first layer
split by blocks; this module is the yardstick for that: tests compare the two, benchmarks
time them side by side.
"""

from __future__ import annotations

import torch
from torch import Tensor

from matforge_graph.batch import GraphBatch
from matforge_megnet.block import Aggregation, MEGNetBlock
from matforge_megnet.model import MEGNet


def _sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    return torch.zeros(size, *values.shape[1:], dtype=values.dtype).index_add(0, index, values)


def reference_block(
    block: MEGNetBlock, batch: GraphBatch, e: Tensor, v: Tensor, u: Tensor, aggregation: Aggregation
) -> tuple[Tensor, Tensor, Tensor]:
    """:meth:`MEGNetBlock.forward` with per-bond concatenation and plain indexing."""
    src, dst = batch.edge_index
    graph, bond_graph = batch.batch, batch.batch[dst]
    n, g = v.shape[0], u.shape[0]
    e0, v0, u0 = e, v, u
    if block.dense is not None:
        e, v, u = block.dense[0](e), block.dense[1](v), block.dense[2](u)
    e = block.edge_mlp(torch.cat([v[src], v[dst], e, u[bond_graph]], dim=1))
    weighted = e if aggregation.weights is None else e * aggregation.weights
    per_atom = _sum(weighted, dst, n)
    v = block.node_mlp(torch.cat([per_atom / aggregation.per_atom, v, u[graph]], dim=1))
    atoms = _sum(torch.ones_like(v[:, :1]), graph, g)
    per_structure = _sum(weighted, bond_graph, g) / aggregation.per_structure
    u = block.state_mlp(torch.cat([per_structure, _sum(v, graph, g) / atoms, u], dim=1))
    return e0 + block.dropout(e), v0 + block.dropout(v), u0 + block.dropout(u)


def reference_forward(model: MEGNet, batch: GraphBatch) -> Tensor:
    """:meth:`MEGNet.forward` built from :func:`reference_block`."""
    e, v, u, aggregation = model.encode(batch)
    for block in model.blocks:
        e, v, u = reference_block(block, batch, e, v, u, aggregation)
    g = batch.num_graphs
    parts = [model.atom_readout(v, batch.batch, g)]
    if model.bond_readout is not None:
        parts.append(model.bond_readout(e, batch.edge_batch, g, aggregation.weights))
    readout = torch.cat([*parts, u], dim=1)
    if model.output.kind == "structure":
        return model.output_mlp(readout)
    return model.output_mlp(torch.cat([v, readout[batch.batch]], dim=1))
