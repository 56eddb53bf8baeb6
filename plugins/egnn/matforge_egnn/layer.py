"""One E(n)-equivariant graph convolution (Satorras, Hoogeboom and Welling 2021, eqs. 3-6)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from matforge.nn import last_linear, mlp
from matforge_graph import ops
from matforge_graph.batch import GraphBatch


class EGNNLayer(nn.Module):
    """Messages from invariants, residual node update, optional equivariant position update.

    For the edge from neighbour j to centre i, with ``r_ij = x_j - x_i`` (periodic image
    included):

    - ``m_ij = φ_e(h_i, h_j, |r_ij|², a_ij)``, gated by ``σ(Linear(m_ij))`` when
      ``attention`` and scaled by the cutoff envelope when one is given;
    - ``h_i ← h_i + φ_h(h_i, Σ_j m_ij)``;
    - when ``update_positions``: ``Δx_i = Σ_j (x_i - x_j) φ_x(m_ij)`` (``tanh`` of φ_x when
      ``position_tanh``), the last layer of φ_x initialised with gain 0.001 as in the paper's
      code so that training starts from (almost) fixed positions.

    Args:
        hidden: width H of the node features.
        edge_dims: widths of φ_e after its input; the last one is the message width M.
        node_dims: hidden widths of φ_h (input H + M, output H).
        position_dims: hidden widths of φ_x (input M, output 1, no bias in the last layer).
        num_edge_attributes: width A of the edge attributes a_ij (0: none).
        act: activation name.
        attention: gate messages with ``σ(Linear(m_ij))``.
        update_positions: build φ_x and return position updates.
        position_tanh: bound φ_x with ``tanh`` (stabilises position updates).
    """

    def __init__(
        self,
        hidden: int,
        edge_dims: Sequence[int],
        node_dims: Sequence[int],
        position_dims: Sequence[int],
        num_edge_attributes: int,
        act: str,
        *,
        attention: bool,
        update_positions: bool,
        position_tanh: bool,
    ) -> None:
        super().__init__()
        self.hidden = hidden
        message = edge_dims[-1]
        self.edge_mlp = mlp([2 * hidden + 1 + num_edge_attributes, *edge_dims], act, activate_last=True)
        self.gate = nn.Linear(message, 1) if attention else None
        self.node_mlp = mlp([hidden + message, *node_dims, hidden], act)
        self.position_mlp: nn.Sequential | None = None
        self.position_tanh = position_tanh
        if update_positions:
            self.position_mlp = mlp([message, *position_dims, 1], act, bias_last=False)
            nn.init.xavier_uniform_(last_linear(self.position_mlp).weight, gain=0.001)

    def messages(self, batch: GraphBatch, h: Tensor, edge_scalars: Tensor) -> Tensor:
        """``m_ij`` [E, M] from node features [N, H] and edge scalars [E, 1 + A]
        (``|r_ij|²`` first, then the attributes).

        φ_e's first layer acts on the concatenation ``[h_i, h_j, |r_ij|², a_ij]``. Its
        ``h_i`` and ``h_j`` blocks are applied per node and then gathered, which computes the
        same thing with N·2H·M instead of E·2H·M multiply-adds and gathers M instead of 2H
        columns per edge (E is 20-50 times N in atomistic graphs).
        """
        first = self.edge_mlp[0]
        w_centre, w_neighbour, w_edges = first.weight.split(
            [self.hidden, self.hidden, edge_scalars.shape[1]], dim=1
        )
        # The bias rides with the centre's block: added per node, not per edge.
        bias = torch.cat([first.bias, torch.zeros_like(first.bias)])
        per_node = torch.addmm(bias, h, torch.cat([w_centre, w_neighbour]).t())
        centre, neighbour = per_node.chunk(2, dim=1)
        pre = ops.gather_dst(batch, centre) + ops.gather_src(batch, neighbour)
        return self.edge_mlp[1:](torch.addmm(pre, edge_scalars, w_edges.t()))

    def forward(
        self,
        batch: GraphBatch,
        h: Tensor,
        vectors: Tensor,
        attributes: Tensor | None = None,
        envelope: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Updated node features [N, H] and position updates Δx [N, 3] (Å) or ``None``.

        Args:
            batch: the graph (edges, backend-independent ops).
            h: node features [N, H].
            vectors: current edge vectors ``r_ij`` [E, 3] (Å).
            attributes: edge attributes ``a_ij`` [E, A] or ``None``.
            envelope: per-edge weights [E, 1] in [0, 1] that vanish at the cutoff, or ``None``.
        """
        squared = (vectors * vectors).sum(-1, keepdim=True)
        scalars = squared if attributes is None else torch.cat([squared, attributes], dim=1)
        m = self.messages(batch, h, scalars)
        if self.gate is not None:
            m = m * torch.sigmoid(self.gate(m))
        if envelope is not None:
            m = m * envelope
        h = h + self.node_mlp(torch.cat([h, ops.aggregate(batch, m, "sum")], dim=1))
        if self.position_mlp is None:
            return h, None
        weights = self.position_mlp(m)
        if self.position_tanh:
            weights = torch.tanh(weights)
        if envelope is not None:
            weights = weights * envelope  # φ_x(0) ≠ 0: keep the update continuous at the cutoff
        # x_i - x_j = -r_ij
        return h, ops.aggregate(batch, -vectors * weights, "sum")
