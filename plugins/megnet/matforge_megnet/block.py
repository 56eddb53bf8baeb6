"""One MEGNet block (Chen et al. 2019): optional dense layers, the graph convolution
(bond, atom, then state update), dropout and skip connections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from matforge.errors import InvalidValueError
from matforge.nn import mlp
from matforge_graph import ops
from matforge_graph.batch import GraphBatch

ACTIVATION = "shifted_softplus"  # the paper's softplus2


@dataclass(frozen=True)
class Aggregation:
    """How bonds are averaged onto atoms and structures in one forward pass.

    ``weights`` [E, 1] (the cutoff envelope, or ``None`` for a hard cutoff) multiply each
    bond's contribution; ``per_atom`` [N, 1] and ``per_structure`` [G, 1] are the divisors:
    plain counts (at least 1) for the paper's means, or soft counts: ``sqrt(1 + (Σ_k w_k)²)``
    per atom, which follows Σ w for ordinary atoms and goes to 1 smoothly for an atom losing
    its last neighbour, and their sum per structure (so a supercell has the same means). Then
    averages change continuously, and stay finite, as bonds cross the cutoff.
    """

    weights: Tensor | None
    per_atom: Tensor
    per_structure: Tensor

    @classmethod
    def of(cls, batch: GraphBatch, weights: Tensor | None, lengths: Tensor) -> Aggregation:
        counts = torch.ones_like(lengths) if weights is None else weights
        per_atom = ops.aggregate(batch, counts, "sum")
        if weights is None:
            return cls(None, per_atom.clamp(min=1), ops.readout(batch, per_atom, "sum").clamp(min=1))
        soft = torch.sqrt(1 + per_atom**2)
        return cls(weights, soft, ops.readout(batch, soft, "sum"))

    def bond_means(self, batch: GraphBatch, bonds: Tensor) -> tuple[Tensor, Tensor]:
        """Means of bond features [E, D] over each atom's incoming bonds [N, D] and over each
        structure's bonds [G, D]."""
        weighted = bonds if self.weights is None else bonds * self.weights
        per_atom = ops.aggregate(batch, weighted, "sum")
        return per_atom / self.per_atom, ops.readout(batch, per_atom, "sum") / self.per_structure


class MEGNetBlock(nn.Module):
    """``e, v, u`` → updated ``e, v, u`` (widths unchanged), for bond k from sender s to
    receiver r (source = neighbour, destination = centre atom):

    - ``e_k ← φ_e(v_s ⊕ v_r ⊕ e_k ⊕ u)``,
    - ``v_i ← φ_v(mean_{k→i} e_k ⊕ v_i ⊕ u)``,
    - ``u ← φ_u(mean_k e_k ⊕ mean_i v_i ⊕ u)``,

    each φ an MLP ``conv_hiddens`` with softplus2 after every layer; then dropout, and the
    block's input added back (skip connection). With ``dense``, each of e, v, u first passes
    an MLP ``hiddens`` (the paper's blocks after the first).

    φ_e's first layer is applied per atom to v (sender and receiver blocks) and per
    structure to u, then gathered onto bonds: the same function as on the per-bond
    concatenation, with N or G instead of E rows in three of its four blocks.
    """

    def __init__(self, width: int, hiddens: Sequence[int], conv_hiddens: Sequence[int], *, dense: bool, dropout: float) -> None:
        super().__init__()
        if conv_hiddens[-1] != width or (dense and hiddens[-1] != width):
            raise InvalidValueError(
                f"MEGNet skip connections need hiddens[-1] == conv_hiddens[-1] == {width}, got "
                f"hiddens {list(hiddens)}, conv_hiddens {list(conv_hiddens)}"
            )
        self.width = width
        self.dense = nn.ModuleList(
            mlp([width, *hiddens], ACTIVATION, activate_last=True) for _ in range(3)
        ) if dense else None
        self.edge_mlp = mlp([4 * width, *conv_hiddens], ACTIVATION, activate_last=True)
        self.node_mlp = mlp([3 * width, *conv_hiddens], ACTIVATION, activate_last=True)
        self.state_mlp = mlp([3 * width, *conv_hiddens], ACTIVATION, activate_last=True)
        self.dropout = nn.Dropout(dropout)

    def bond_update(self, batch: GraphBatch, e: Tensor, v: Tensor, u_of_atoms: Tensor) -> Tensor:
        """φ_e on ``[v_s, v_r, e, u]`` [E, width] with its first layer split by blocks."""
        first = self.edge_mlp[0]
        w_s, w_r, w_e, w_u = first.weight.split(self.width, dim=1)
        sender = v @ w_s.t()
        receiver = torch.addmm(first.bias, v, w_r.t()) + u_of_atoms @ w_u.t()
        pre = ops.gather_src(batch, sender) + ops.gather_dst(batch, receiver)
        return self.edge_mlp[1:](torch.addmm(pre, e, w_e.t()))

    def forward(
        self, batch: GraphBatch, e: Tensor, v: Tensor, u: Tensor, aggregation: Aggregation
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Bonds [E, width], atoms [N, width], states [G, width] → the same, updated."""
        e0, v0, u0 = e, v, u
        if self.dense is not None:
            e, v, u = (layer(x) for layer, x in zip(self.dense, (e, v, u)))
        u_of_atoms = u.index_select(0, batch.batch)
        e = self.bond_update(batch, e, v, u_of_atoms)
        bonds_per_atom, bonds_per_structure = aggregation.bond_means(batch, e)
        v = self.node_mlp(torch.cat([bonds_per_atom, v, u_of_atoms], dim=1))
        u = self.state_mlp(torch.cat([bonds_per_structure, ops.readout(batch, v, "mean"), u], dim=1))
        return e0 + self.dropout(e), v0 + self.dropout(v), u0 + self.dropout(u)
