"""The EGNN equations written the straightforward way, with the model's own weights.

Per edge, φ_e's input is the concatenation ``[h_i, h_j, |r_ij|², a_ij]`` built explicitly,
as in the paper and the public implementations. :class:`~matforge_egnn.layer.EGNNLayer`
computes the same function with the node blocks of φ_e's first layer applied per node; this
module is the yardstick for that: tests compare the two, benchmarks time them side by side.
"""

from __future__ import annotations

import torch
from torch import Tensor

from matforge.nn import cosine_cutoff
from matforge_egnn.layer import EGNNLayer
from matforge_egnn.model import EGNN
from matforge_graph.batch import GraphBatch


def reference_layer(
    layer: EGNNLayer,
    batch: GraphBatch,
    h: Tensor,
    vectors: Tensor,
    attributes: Tensor | None,
    envelope: Tensor | None,
) -> tuple[Tensor, Tensor | None]:
    """:meth:`EGNNLayer.forward` with explicit per-edge concatenation and plain indexing."""
    src, dst = batch.edge_index
    inputs = [h[dst], h[src], (vectors**2).sum(-1, keepdim=True)]
    m = layer.edge_mlp(torch.cat(inputs + ([attributes] if attributes is not None else []), dim=1))
    if layer.gate is not None:
        m = m * torch.sigmoid(layer.gate(m))
    if envelope is not None:
        m = m * envelope
    aggregated = torch.zeros(h.shape[0], m.shape[1], dtype=m.dtype).index_add(0, dst, m)
    h = h + layer.node_mlp(torch.cat([h, aggregated], dim=1))
    if layer.position_mlp is None:
        return h, None
    weights = layer.position_mlp(m)
    weights = torch.tanh(weights) if layer.position_tanh else weights
    weights = weights * envelope if envelope is not None else weights
    return h, torch.zeros(h.shape[0], 3, dtype=m.dtype).index_add(0, dst, -vectors * weights)


def reference_forward(model: EGNN, batch: GraphBatch) -> Tensor:
    """:meth:`EGNN.forward` built from :func:`reference_layer`."""
    vectors = batch.edge_vectors()
    lengths = vectors.norm(dim=-1, keepdim=True)
    attributes = model.radial(lengths) if model.radial is not None else None
    envelope = cosine_cutoff(lengths, model.cutoff) if model.smooth_cutoff else None
    h = model.embedding(batch.atomic_numbers)
    src, dst = batch.edge_index
    for layer in model.layers:
        h, displacement = reference_layer(layer, batch, h, vectors, attributes, envelope)
        if displacement is not None:
            vectors = vectors + displacement[src] - displacement[dst]
    h = model.projection(h)
    return model.energy_block(h) if model.energy_block is not None else h
