"""Message-passing ops on a :class:`~matforge_graph.batch.GraphBatch`, for model authors.

Shapes: N nodes, E edges, G graphs; ``...`` is any trailing feature shape.

==============================================  =====================  ==================
op                                              input                  output
==============================================  =====================  ==================
``gather_src(batch, x)``                        node [N, ...]          edge [E, ...]
``gather_dst(batch, x)``                        node [N, ...]          edge [E, ...]
``aggregate(batch, edge_values, reduce)``       edge [E, ...]          node [N, ...]
``readout(batch, node_values, reduce)``         node [N, ...]          graph [G, ...]
``edge_softmax(batch, scores)``                 edge [E, ...]          edge [E, ...]
==============================================  =====================  ==================

``aggregate`` reduces onto each edge's destination (the centre atom); ``edge_softmax``
normalises over the incoming edges of each destination; ``reduce`` is ``"sum"``, ``"mean"``
or ``"max"`` (nodes/graphs with nothing to reduce get 0). The backend (:mod:`.backend`:
plain torch or DGL kernels) is chosen by :func:`~matforge_graph.backend.use_backend`, so a
model written with these ops runs on either. All ops support autograd, second derivatives
included (forces in the loss).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from matforge_graph.backend import get_backend
from matforge_graph.scatter import scatter_max, scatter_mean, scatter_sum, segment_softmax

if TYPE_CHECKING:
    from matforge_graph.batch import GraphBatch

__all__ = [
    "aggregate",
    "edge_softmax",
    "gather_dst",
    "gather_src",
    "readout",
    "scatter_max",
    "scatter_mean",
    "scatter_sum",
    "segment_softmax",
]

REDUCERS = {"sum": scatter_sum, "mean": scatter_mean, "max": scatter_max}


def _reducer(reduce: str):
    if reduce not in REDUCERS:
        raise ValueError(f"reduce must be one of {sorted(REDUCERS)}, got {reduce!r}")
    return REDUCERS[reduce]


def _check_rows(x: Tensor, rows: int, what: str, name: str) -> None:
    if x.dim() == 0 or x.shape[0] != rows:
        raise ValueError(f"{name} must have one row per {what} ({rows}), got shape {list(x.shape)}")


def _dgl():
    if get_backend() != "dgl":
        return None
    from matforge_graph import dgl_backend

    return dgl_backend


def gather_src(batch: GraphBatch, x: Tensor) -> Tensor:
    """Each edge's source (neighbour) row of node tensor ``x`` [N, ...] → [E, ...]."""
    _check_rows(x, batch.num_nodes, "node", "x")
    dgl = _dgl()
    return dgl.gather_src(batch, x) if dgl else x.index_select(0, batch.edge_index[0])


def gather_dst(batch: GraphBatch, x: Tensor) -> Tensor:
    """Each edge's destination (centre) row of node tensor ``x`` [N, ...] → [E, ...]."""
    _check_rows(x, batch.num_nodes, "node", "x")
    dgl = _dgl()
    return dgl.gather_dst(batch, x) if dgl else x.index_select(0, batch.edge_index[1])


def aggregate(batch: GraphBatch, edge_values: Tensor, reduce: str = "sum") -> Tensor:
    """Reduce ``edge_values`` [E, ...] onto destination nodes → [N, ...]."""
    fn = _reducer(reduce)
    _check_rows(edge_values, batch.total_edges, "edge", "edge_values")
    dgl = _dgl()
    if dgl:
        return dgl.aggregate(batch, edge_values, reduce)
    return fn(edge_values, batch.edge_index[1], batch.num_nodes)


def readout(batch: GraphBatch, node_values: Tensor, reduce: str = "sum") -> Tensor:
    """Reduce ``node_values`` [N, ...] over the nodes of each graph → [G, ...]."""
    fn = _reducer(reduce)
    _check_rows(node_values, batch.num_nodes, "node", "node_values")
    dgl = _dgl()
    if dgl:
        return dgl.readout(batch, node_values, reduce)
    return fn(node_values, batch.batch, batch.num_graphs)


def edge_softmax(batch: GraphBatch, scores: Tensor) -> Tensor:
    """Softmax of ``scores`` [E, ...] over the incoming edges of each destination → [E, ...]."""
    _check_rows(scores, batch.total_edges, "edge", "scores")
    dgl = _dgl()
    if dgl:
        return dgl.edge_softmax(batch, scores)
    return segment_softmax(scores, batch.edge_index[1], batch.num_nodes)
