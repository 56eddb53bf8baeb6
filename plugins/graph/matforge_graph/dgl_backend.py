"""The DGL backend: `GraphBatch` ↔ ``dgl.DGLGraph``, and the message-passing ops on DGL kernels.

Imported only when the backend is used (``use_backend("dgl")``, ``MATFORGE_GRAPH_BACKEND=dgl``,
:func:`to_dgl`, :func:`from_dgl`). Needs ``pip install "matforge-graph[dgl]"``: DGL 2.1.0, the
last release on PyPI, loads only with torch 2.0–2.2.1, CPU only (see docs/dgl.md).

The ops use DGL's generalised sparse kernels (``gspmm``: ``copy_e_*``, ``copy_u_*``;
``gsddmm``: ``copy_u``, ``copy_v``, ``e_sub_v``, ``e_div_v``), which DGL differentiates twice
correctly. DGL's fused ``edge_softmax`` and ``segment_reduce(max)`` are not: their second
derivatives are wrong in 2.1.0 (gradgradcheck fails), which force training needs, so
``edge_softmax`` is composed from the kernels above and ``readout`` runs ``copy_u_*`` on a
node → graph bipartite graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from matforge.errors import MissingDependencyError
from matforge.install import install_hint
from matforge_graph.batch import GraphBatch

# Without this DGL prints a notice and writes ~/.dgl/config.json on first import.
os.environ.setdefault("DGLBACKEND", "pytorch")

#: Node/edge data keys that :func:`to_dgl` writes and :func:`from_dgl` reads back.
NODE_KEYS = ("positions", "atomic_numbers", "tags", "fixed", "cell", "pbc")
EDGE_KEYS = ("shifts",)


def import_dgl() -> Any:
    """``import dgl``, or a :class:`~matforge.errors.MissingDependencyError` (an ImportError)
    that says what to install and why it may fail."""
    try:
        import dgl
    except Exception as exc:  # DGL raises OSError/FileNotFoundError on an unsupported torch
        hint = install_hint("matforge-graph[dgl]")
        raise MissingDependencyError(
            f"the 'dgl' graph backend needs DGL, which failed to import ({type(exc).__name__}: "
            f"{exc}). Install it with `{hint}`; DGL 2.1.0 loads only "
            f"with torch 2.0–2.2.1 (this is torch {torch.__version__}), numpy<2 and "
            "torchdata<0.10. Otherwise use the native backend (the default).",
            package="dgl", requirement="matforge-graph[dgl]", hint=hint,
        ) from exc
    return dgl


@dataclass
class _Graphs:
    """The DGL graphs of one batch's structure, cached on the batch."""

    edge_index: Tensor  # the tensor they were built from: a changed edge_index invalidates them
    edges: Any  # DGLGraph, source → destination
    readout: Any  # bipartite DGLGraph, node → its graph
    in_degrees: Tensor  # [N]


def _graphs(batch: GraphBatch) -> _Graphs:
    cached = batch.__dict__.get("_dgl_graphs")
    if cached is not None and cached.edge_index is batch.edge_index:
        return cached
    if batch.edge_index.device.type != "cpu":
        raise RuntimeError(
            f"the DGL backend runs on CPU only (DGL's PyPI wheels have no CUDA kernels); the "
            f"batch is on {batch.edge_index.device}. Use the native backend on GPUs."
        )
    dgl = import_dgl()
    edges = dgl.graph((batch.edge_index[0], batch.edge_index[1]), num_nodes=batch.num_nodes)
    edges.set_batch_num_nodes(batch.num_atoms)
    edges.set_batch_num_edges(batch.num_edges)
    readout = dgl.heterograph(
        {("node", "in", "graph"): (torch.arange(batch.num_nodes, device=batch.batch.device), batch.batch)},
        num_nodes_dict={"node": batch.num_nodes, "graph": batch.num_graphs},
    )
    graphs = _Graphs(batch.edge_index, edges, readout, edges.in_degrees())
    batch.__dict__["_dgl_graphs"] = graphs
    return graphs


def _zero_where_empty(values: Tensor, counts: Tensor) -> Tensor:
    """DGL's max gives -inf where nothing was reduced; the native ops give 0."""
    empty = (counts == 0).view(-1, *([1] * (values.dim() - 1)))
    return values.masked_fill(empty, 0.0)


# -- the ops (called by matforge_graph.ops, which checks arguments) --------------------------


def gather_src(batch: GraphBatch, x: Tensor) -> Tensor:
    dgl = import_dgl()
    return dgl.ops.copy_u(_graphs(batch).edges, x)


def gather_dst(batch: GraphBatch, x: Tensor) -> Tensor:
    dgl = import_dgl()
    return dgl.ops.copy_v(_graphs(batch).edges, x)


def aggregate(batch: GraphBatch, edge_values: Tensor, reduce: str) -> Tensor:
    dgl = import_dgl()
    graphs = _graphs(batch)
    out = getattr(dgl.ops, f"copy_e_{reduce}")(graphs.edges, edge_values)
    return _zero_where_empty(out, graphs.in_degrees) if reduce == "max" else out


def readout(batch: GraphBatch, node_values: Tensor, reduce: str) -> Tensor:
    dgl = import_dgl()
    out = getattr(dgl.ops, f"copy_u_{reduce}")(_graphs(batch).readout, node_values)
    return _zero_where_empty(out, batch.num_atoms) if reduce == "max" else out


def edge_softmax(batch: GraphBatch, scores: Tensor) -> Tensor:
    dgl = import_dgl()
    g = _graphs(batch).edges
    # The maximum only guards exp() against overflow; detached as in the native op.
    peak = dgl.ops.copy_e_max(g, scores.detach())
    weights = torch.exp(dgl.ops.e_sub_v(g, scores, peak))
    return dgl.ops.e_div_v(g, weights, dgl.ops.copy_e_sum(g, weights))


# -- conversion -------------------------------------------------------------------------------


def to_dgl(batch: GraphBatch) -> Any:
    """A batched ``dgl.DGLGraph`` with the batch's structure and data (tensors are shared).

    ``ndata``: ``positions`` [N, 3], ``atomic_numbers`` [N], ``tags`` [N], ``fixed`` [N],
    ``cell`` [N, 3, 3] and ``pbc`` [N, 3] (each atom's graph's), plus ``node_data``.
    ``edata``: ``shifts`` [E, 3], plus ``edge_data``. ``batch_num_nodes`` / ``batch_num_edges``
    are the batch's per-graph counts. Targets and ids stay with the batch.
    """
    for what, data, reserved in (("node_data", batch.node_data, NODE_KEYS), ("edge_data", batch.edge_data, EDGE_KEYS)):
        clash = sorted(set(data) & set(reserved))
        if clash:
            raise ValueError(f"{what} keys {clash} clash with the keys to_dgl reserves: {list(reserved)}")
    dgl = import_dgl()
    g = dgl.graph((batch.edge_index[0], batch.edge_index[1]), num_nodes=batch.num_nodes)
    g.ndata.update(
        {
            "positions": batch.positions,
            "atomic_numbers": batch.atomic_numbers,
            "tags": batch.tags,
            "fixed": batch.fixed,
            "cell": batch.cell.index_select(0, batch.batch),
            "pbc": batch.pbc.index_select(0, batch.batch),
            **batch.node_data,
        }
    )
    g.edata.update({"shifts": batch.shifts, **batch.edge_data})
    g.set_batch_num_nodes(batch.num_atoms)
    g.set_batch_num_edges(batch.num_edges)
    return g


def from_dgl(
    graph: Any,
    *,
    cell: Tensor | None = None,
    pbc: Tensor | None = None,
    targets: dict[str, Tensor] | None = None,
    positions_key: str = "positions",
    atomic_numbers_key: str = "atomic_numbers",
    shifts_key: str = "shifts",
) -> GraphBatch:
    """A `GraphBatch` from a (batched) ``dgl.DGLGraph``, e.g. from a user's own DGL pipeline.

    Args:
        graph: homogeneous DGLGraph; ``ndata[positions_key]`` [N, 3] Å and
            ``ndata[atomic_numbers_key]`` [N] are required (``pos`` and ``Z`` are accepted
            too). Edges run source = neighbour → destination = centre.
        cell: [G, 3, 3] Å; else ``ndata["cell"]`` [N, 3, 3] if present, else zeros (no cell).
        pbc: [G, 3] bool; else ``ndata["pbc"]`` if present, else periodic where ``cell`` is given.
        targets: per-graph [G, ...] targets to attach.
        shifts_key: ``edata`` key of the integer image shifts [E, 3]; zeros when absent.

    Other ``ndata`` / ``edata`` entries become ``node_data`` / ``edge_data``.
    """
    ndata, edata = dict(graph.ndata), dict(graph.edata)
    positions = _pop_required(ndata, (positions_key, "pos"), "node positions [N, 3] in Å")
    numbers = _pop_required(ndata, (atomic_numbers_key, "Z"), "atomic numbers [N]")
    n, num_atoms, num_edges = graph.num_nodes(), graph.batch_num_nodes(), graph.batch_num_edges()
    batch_index = torch.repeat_interleave(torch.arange(len(num_atoms)), num_atoms)
    first_atom = torch.cumsum(num_atoms, 0) - num_atoms  # per graph (only read for non-empty)
    node_cell, node_pbc = ndata.pop("cell", None), ndata.pop("pbc", None)
    if cell is None:
        cell = node_cell[first_atom] if node_cell is not None else positions.new_zeros(len(num_atoms), 3, 3)
    if pbc is None:
        pbc = node_pbc[first_atom] if node_pbc is not None else (cell.abs().sum(-1) > 0)
    src, dst = graph.edges()
    shifts = edata.pop(shifts_key, None)
    return GraphBatch(
        positions=positions,
        atomic_numbers=numbers.long(),
        batch=batch_index,
        num_atoms=num_atoms.long(),
        cell=cell.to(positions.dtype),
        pbc=pbc.bool(),
        tags=ndata.pop("tags", torch.zeros(n, dtype=torch.int64)).long(),
        fixed=ndata.pop("fixed", torch.zeros(n, dtype=torch.bool)).bool(),
        targets=dict(targets or {}),
        ids=[{"index": k} for k in range(len(num_atoms))],
        edge_index=torch.stack([src, dst]).long(),
        shifts=torch.zeros(len(src), 3, dtype=torch.int64) if shifts is None else shifts.long(),
        num_edges=num_edges.long(),
        node_data=ndata,
        edge_data=edata,
    )


def _pop_required(data: dict[str, Tensor], keys: tuple[str, ...], what: str) -> Tensor:
    for key in keys:
        if key in data:
            return data.pop(key)
    raise ValueError(f"from_dgl: graph.ndata has none of {list(keys)}; {what} are required (have {sorted(data)})")
