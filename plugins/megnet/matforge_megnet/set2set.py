"""Set2Set readout (Vinyals, Bengio and Kudlur 2016), as MEGNet uses it over atoms and bonds.

Written with plain linear layers (no cuDNN/fused LSTM), so that second derivatives exist on
every device (force training differentiates forces w.r.t. the weights).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matforge.errors import InvalidValueError
from matforge_graph.scatter import scatter_sum


class LSTMStack(nn.Module):
    """``num_layers`` stacked LSTM cells, one step at a time: gates ``i, f, g, o`` from one
    linear map of ``[input, h]`` per layer."""

    def __init__(self, input_size: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.cells = nn.ModuleList(
            nn.Linear((input_size if k == 0 else hidden) + hidden, 4 * hidden) for k in range(num_layers)
        )

    def forward(self, x: Tensor, state: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """One step: input [G, input_size] and per-layer ``(h, c)`` [G, hidden] → top ``h``
        and the new states."""
        new_state = []
        for cell, (h, c) in zip(self.cells, state):
            i, f, g, o = cell(torch.cat([x, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            new_state.append((h, c))
            x = h
        return x, new_state


class Set2Set(nn.Module):
    """Order-invariant readout of a set of rows per segment → [G, 2·width].

    ``iterations`` times: ``q = LSTM(q*)``; attention ``a_k = softmax_k(x_k · q)`` within the
    segment (weighted by ``weights`` when given); ``r = Σ_k a_k x_k``; ``q* = [q, r]``.

    With weights w_k (the cutoff envelope of bonds), ``a_k = w_k e^{s_k} / Σ_j w_j e^{s_j}``:
    a bond entering the cutoff starts with zero attention, so the readout changes
    continuously as long as the structure keeps a bond inside the cutoff. An empty segment
    reads out r = 0.
    """

    def __init__(self, width: int, iterations: int, num_layers: int) -> None:
        super().__init__()
        if iterations < 1 or num_layers < 1:
            raise InvalidValueError(f"Set2Set needs iterations >= 1 and num_layers >= 1, got {iterations}, {num_layers}")
        self.width = width
        self.iterations = iterations
        self.lstm = LSTMStack(2 * width, width, num_layers)

    def forward(self, x: Tensor, index: Tensor, size: int, weights: Tensor | None = None) -> Tensor:
        """Rows ``x`` [M, width] in segments ``index`` [M] (sorted or not) → [size, 2·width]."""
        zeros = x.new_zeros(size, self.width)
        state = [(zeros, zeros)] * len(self.lstm.cells)
        q_star = x.new_zeros(size, 2 * self.width)
        for _ in range(self.iterations):
            q, state = self.lstm(q_star, state)
            scores = (x * q.index_select(0, index)).sum(-1, keepdim=True)
            # The segment maximum only guards exp against overflow; the ratio does not depend on it.
            peak = x.new_full((size, 1), float("-inf")).scatter_reduce(
                0, index.unsqueeze(-1), scores.detach(), reduce="amax", include_self=True
            )
            exp = torch.exp(scores - peak.index_select(0, index))
            if weights is not None:
                exp = exp * weights
            total = scatter_sum(exp, index, size).clamp(min=torch.finfo(x.dtype).tiny)
            attention = exp / total.index_select(0, index)
            q_star = torch.cat([q, scatter_sum(attention * x, index, size)], dim=1)
        return q_star
