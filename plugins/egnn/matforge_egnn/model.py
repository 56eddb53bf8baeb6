"""The EGNN backbone: atom embedding, E(n)-equivariant layers, node projection, per-atom output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from matforge.elements import MAX_ATOMIC_NUMBER
from matforge.errors import InvalidValueError
from matforge.interfaces import Backbone, OutputSpec
from matforge.nn import GaussianBasis, cosine_cutoff, mlp
from matforge_egnn.layer import EGNNLayer
from matforge_graph import ops
from matforge_graph.batch import GraphBatch


class EGNN(Backbone):
    """E(n)-equivariant graph neural network (Satorras et al. 2021) on periodic radius graphs.

    Registered as ``egnn`` with these defaults, and as ``egnn-paper`` with the seed paper's
    appendix settings (:mod:`matforge_egnn.presets`). Edge vectors come from
    ``batch.edge_vectors()`` (periodic images included), so the energy is a function of the
    positions and the cell and forces follow by autograd. The energy is invariant under
    rotations, reflections, translations and permutations of atoms; forces are equivariant.

    Per atom: ``h = embedding(Z)``; ``num_layers`` × :class:`~matforge_egnn.layer.EGNNLayer`;
    node projection MLP ``hidden → projection_dims``; then either the output block MLP
    ``→ output_dims → 1`` (``output="energy"``: per-atom energies [N, 1] in eV, summed by the
    task) or the projected features (``output="embedding"``: [N, projection_dims[-1]]).

    Args:
        hidden: width of the node features h.
        num_layers: number of EGNN layers.
        edge_dims: widths of the edge MLP φ_e; the last is the message width.
        node_dims: hidden widths of the node MLP φ_h.
        position_dims: hidden widths of the position MLP φ_x.
        projection_dims: widths of the node projection after the last layer.
        output_dims: hidden widths of the per-atom energy output block.
        output: ``"energy"`` or ``"embedding"``.
        activation: activation of every MLP (``silu``, ``relu``, …).
        attention: gate messages with σ(Linear(m_ij)).
        update_positions: let layers move the positions they pass on (the paper's coordinate
            update); the last layer never gets φ_x since nothing reads its positions.
        position_tanh: bound φ_x with tanh.
        num_radial: Gaussian radial basis functions of |r_ij| used as edge attributes a_ij
            (0: none, as in the paper).
        smooth_cutoff: multiply messages by a cosine envelope that vanishes at the cutoff, so
            the energy is continuous when neighbours enter or leave it.
        cutoff: radius graph cutoff (Å).
        max_neighbors: at most this many neighbours per atom (nearest first); None: all.
        max_atomic_number: largest atomic number the embedding table holds.
    """

    representation = "graph"

    def __init__(
        self,
        hidden: int = 64,
        num_layers: int = 4,
        edge_dims: Sequence[int] = (64, 64),
        node_dims: Sequence[int] = (64,),
        position_dims: Sequence[int] = (64,),
        projection_dims: Sequence[int] = (64,),
        output_dims: Sequence[int] = (64,),
        output: Literal["energy", "embedding"] = "energy",
        activation: str = "silu",
        attention: bool = True,
        update_positions: bool = False,
        position_tanh: bool = True,
        num_radial: int = 16,
        smooth_cutoff: bool = True,
        cutoff: float = 6.0,
        max_neighbors: int | None = None,
        max_atomic_number: int = MAX_ATOMIC_NUMBER,
    ) -> None:
        super().__init__()
        if output not in ("energy", "embedding"):
            raise InvalidValueError(f"output must be 'energy' or 'embedding', got {output!r}")
        if num_layers < 1 or not edge_dims:
            raise InvalidValueError("EGNN needs num_layers >= 1 and at least one edge_dims width")
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors
        self.smooth_cutoff = smooth_cutoff
        self.embedding = nn.Embedding(max_atomic_number + 1, hidden)
        self.radial = GaussianBasis(num_radial, self.cutoff) if num_radial > 0 else None
        self.layers = nn.ModuleList(
            EGNNLayer(
                hidden,
                edge_dims,
                node_dims,
                position_dims,
                num_radial,
                activation,
                attention=attention,
                update_positions=update_positions and k < num_layers - 1,
                position_tanh=position_tanh,
            )
            for k in range(num_layers)
        )
        # With an output block after it, the projection ends in an activation: two linear
        # maps in a row would collapse into one.
        self.projection = (
            mlp([hidden, *projection_dims], activation, activate_last=output == "energy")
            if projection_dims
            else nn.Identity()
        )
        width = projection_dims[-1] if projection_dims else hidden
        self.energy_block = mlp([width, *output_dims, 1], activation) if output == "energy" else None
        self._output = OutputSpec("energy") if output == "energy" else OutputSpec("embedding", width)

    @property
    def output(self) -> OutputSpec:
        return self._output

    def representation_config(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "max_neighbors": self.max_neighbors}

    def forward(self, batch: GraphBatch) -> Tensor:
        """Per-atom energies [N, 1] (eV) or embeddings [N, width]."""
        vectors = batch.edge_vectors()
        lengths = vectors.norm(dim=-1, keepdim=True)
        attributes = self.radial(lengths) if self.radial is not None else None
        envelope = cosine_cutoff(lengths, self.cutoff) if self.smooth_cutoff else None
        h = self.embedding(batch.atomic_numbers)
        for layer in self.layers:
            h, displacement = layer(batch, h, vectors, attributes, envelope)
            if displacement is not None:
                # r_ij = x_j - x_i + shift·cell, so moving atoms moves r_ij by Δx_j - Δx_i.
                vectors = vectors + ops.gather_src(batch, displacement) - ops.gather_dst(batch, displacement)
        h = self.projection(h)
        return self.energy_block(h) if self.energy_block is not None else h
