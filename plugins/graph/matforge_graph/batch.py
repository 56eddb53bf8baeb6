"""`GraphBatch`: an :class:`~matforge.batch.AtomsBatch` with edges under periodic boundaries.

Edge convention (docs/CONTRACTS.md): ``edge_index[0]`` is the source, the neighbour ``j``;
``edge_index[1]`` is the destination, the centre ``i``; messages flow source → destination.
The edge vector ``r_ij = positions[j] - positions[i] + shift @ cell`` is computed from
positions on demand, so forces and stress come from autograd.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from matforge.batch import AtomsBatch
from matforge.structure import AtomicStructure


class SizedTensorDict(dict):
    """``dict[str, Tensor]`` whose values must have ``size`` rows (checked on assignment).

    The DGL-style node/edge data container: ``batch.node_data["h"] = h`` fails at once, with
    the key named, when ``h`` does not have one row per node.
    """

    def __init__(self, what: str | Mapping[str, Tensor], size: int | None = None, items: Mapping[str, Tensor] | Iterable = ()) -> None:
        super().__init__()
        if isinstance(what, Mapping):
            # `type(d)(mapping)`, the copy idiom of dicts (Lightning's precision plugins rebuild
            # batches this way): rows are checked again when GraphBatch stores the copy
            what, items = "data", what
            size = next((len(v) for v in items.values() if isinstance(v, Tensor) and v.dim()), None)
        self.what = what
        self.size = size
        self.update(items)

    def __setitem__(self, key: str, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"{self.what}[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0 or (self.size is not None and value.shape[0] != self.size):
            raise ValueError(
                f"{self.what}[{key!r}] must have leading dimension {self.size}, got shape "
                f"{list(value.shape)}"
            )
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Tensor) -> Tensor:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def __reduce__(self):
        # dict subclasses otherwise unpickle items before attributes, and __setitem__ needs them.
        return (type(self), (self.what, self.size, dict(self)))


@dataclass(kw_only=True)
class GraphBatch(AtomsBatch):
    """G graphs with N nodes (atoms) and E directed edges in total.

    Attributes (beyond :class:`AtomsBatch`):
        edge_index: [2, E] int64; row 0 source = neighbour ``j``, row 1 destination = centre
            ``i``. Edges of graph g are contiguous and come after those of graph g - 1.
        shifts: [E, 3] int64, periodic image of the source (multiples of the cell rows).
        num_edges: [G] int64, edges per graph.
        node_data: name → [N, ...] tensor; the leading dimension is checked on assignment.
        edge_data: name → [E, ...] tensor; the leading dimension is checked on assignment.
    """

    edge_index: Tensor
    shifts: Tensor
    num_edges: Tensor
    node_data: dict[str, Tensor] = field(default_factory=dict)
    edge_data: dict[str, Tensor] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        # Wrap plain dicts (from __init__, dataclasses.replace or user code) into checked ones.
        if name == "node_data":
            value = SizedTensorDict("node_data", self.positions.shape[0], value)
        elif name == "edge_data":
            value = SizedTensorDict("edge_data", self.edge_index.shape[1], value)
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        e = self.edge_index
        if e.dim() != 2 or e.shape[0] != 2 or e.dtype != torch.int64:
            raise ValueError(f"edge_index must be an int64 tensor of shape [2, E], got {e.dtype} {list(e.shape)}")
        if self.shifts.shape != (e.shape[1], 3) or self.shifts.dtype != torch.int64:
            raise ValueError(
                f"shifts must be an int64 tensor of shape [E, 3] = [{e.shape[1]}, 3], got "
                f"{self.shifts.dtype} {list(self.shifts.shape)}"
            )
        if self.num_edges.shape != self.num_atoms.shape:
            raise ValueError(
                f"num_edges must have shape [G] = {list(self.num_atoms.shape)}, got {list(self.num_edges.shape)}"
            )
        # The total is only checked on CPU: reading a GPU tensor would synchronise the device.
        if self.num_edges.device.type == "cpu" and int(self.num_edges.sum()) != e.shape[1]:
            raise ValueError(f"num_edges sums to {int(self.num_edges.sum())}, but edge_index has {e.shape[1]} edges")

    # -- sizes and indices ---------------------------------------------------------------------

    @property
    def total_edges(self) -> int:
        """E, the number of edges in the batch."""
        return int(self.edge_index.shape[1])

    @property
    def src(self) -> Tensor:
        """[E] source (neighbour ``j``) of each edge."""
        return self.edge_index[0]

    @property
    def dst(self) -> Tensor:
        """[E] destination (centre ``i``) of each edge."""
        return self.edge_index[1]

    @property
    def edge_batch(self) -> Tensor:
        """[E] int64, the graph each edge belongs to."""
        return self.batch.index_select(0, self.dst)

    # -- geometry ------------------------------------------------------------------------------

    def edge_vectors(self) -> Tensor:
        """[E, 3] Å, ``positions[src] - positions[dst] + shifts @ cell[graph]`` (centre → neighbour).

        Differentiable w.r.t. ``positions`` (forces) and ``cell`` (through
        :meth:`AtomsBatch.deformed`, stress).
        """
        pos = self.positions
        offsets = torch.bmm(
            self.shifts.to(pos.dtype).unsqueeze(1), self.cell.index_select(0, self.edge_batch)
        ).squeeze(1)
        return pos.index_select(0, self.src) - pos.index_select(0, self.dst) + offsets

    def edge_lengths(self) -> Tensor:
        """[E] Å, norms of :meth:`edge_vectors`."""
        return torch.linalg.vector_norm(self.edge_vectors(), dim=-1)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def collate(  # type: ignore[override]
        cls,
        structures: Sequence[AtomicStructure],
        dtype: torch.dtype = torch.float32,
        *,
        cutoff: float = 6.0,
        max_neighbors: int | None = None,
    ) -> GraphBatch:
        """Radius graphs of ``structures`` (cutoff in Å), batched. For DataLoaders use
        :class:`~matforge_graph.representation.GraphRepresentation`, which builds the edges
        in the workers."""
        from matforge_graph.representation import GraphRepresentation

        rep = GraphRepresentation(cutoff=cutoff, max_neighbors=max_neighbors, dtype=dtype)
        return rep.collate([rep(s) for s in structures])


def as_graph_batch(data: Any) -> GraphBatch:
    """``data`` if it is a `GraphBatch`; a ``dgl.DGLGraph`` converted with
    :func:`~matforge_graph.dgl_backend.from_dgl` (so models accept graphs from DGL pipelines)."""
    if isinstance(data, GraphBatch):
        return data
    if type(data).__module__.split(".")[0] == "dgl":
        from matforge_graph.dgl_backend import from_dgl

        return from_dgl(data)
    raise TypeError(f"expected a GraphBatch or a dgl.DGLGraph, got {type(data).__name__}")
