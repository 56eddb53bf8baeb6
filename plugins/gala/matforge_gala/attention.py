"""Geometric algebra attention within point clouds (Spellings 2021), masked.

Every centre's cloud holds K neighbour slots, each with a multivector ``m_j`` [8] (at first
the relative vector) and a value ``v_j`` [H]. Rank-2 attention runs over the tuples (j, k)
of one cloud, never across clouds, so the cost is O(C·K²), not O(N³) per structure:

    q_jk = invariants of the tuple products (algebra.tuple_products, mode)
    y_jk = J(V(q_jk), M(v_j, v_k))                      merge M and join J: mean or concat
    a_jk = softmax over k (or over (j, k) when reduced) of S(y_jk), on real tuples only
    invariant attention:      v'_j = Σ_k a_jk w_jk y_jk             (reduced: Σ_jk … → [H])
    multivector attention:    m'_j = Σ_k a_jk w_jk R(y_jk) Σ_n α_n p_n,jk
    tied attention:           both, with the same a_jk

``w_jk = w_j w_k`` are optional slot weights in [0, 1] (a cutoff envelope): they scale the
softmax's terms and the values, so a neighbour crossing the cutoff enters every sum
continuously. Padded slots take no part in any softmax or sum; a cloud without a real tuple
gives zeros.

The concat merge and join are linear, so their kernels are applied per slot and per invariant
value before broadcasting to the tuple grid (the same numbers, K times fewer products), and
``Σ_k c_jk m_j m_k = m_j Σ_k c_jk m_k`` by linearity of the geometric product: covariant
outputs never materialise [C, K, K, 8] products for the sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from matforge.errors import MatforgeUserError
from matforge.nn import activation
from matforge_gala import algebra
from matforge_gala.normalisation import invariant_norm

COMBINE = ("mean", "concat")
KINDS = ("invariant", "multivector", "tied")


class ValueNet(nn.Module):
    """``[input norm] → Linear(D_in, D_hidden) → [norm] → act → Linear(D_hidden, D_out)``
    (the value, score and scale networks; score and scale have ``D_out = 1``)."""

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        d_out: int,
        act: str = "silu",
        input_norm: str | None = None,
        hidden_norm: str | None = None,
    ) -> None:
        super().__init__()
        self.input_norm = invariant_norm(input_norm, d_in)
        self.first = nn.Linear(d_in, d_hidden)
        self.hidden_norm = invariant_norm(hidden_norm, d_hidden)
        self.act = activation(act)
        self.last = nn.Linear(d_hidden, d_out)

    def hidden(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Everything but the last linear layer."""
        if self.input_norm is not None:
            x = self.input_norm(x, mask)
        x = self.first(x)
        if self.hidden_norm is not None:
            x = self.hidden_norm(x, mask)
        return self.act(x)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.last(self.hidden(x, mask))


def masked_softmax(scores: Tensor, mask: Tensor, weights: Tensor | None, dims: tuple[int, ...]) -> Tensor:
    """``w_t exp(s_t) / Σ_u w_u exp(s_u)`` over ``dims`` on tuples where ``mask``; 0
    elsewhere and where no tuple is real. ``scores`` and ``mask`` [...]."""
    if scores.numel() == 0:  # clouds without slots (isolated atoms only)
        return scores.new_zeros(scores.shape)
    valid = mask if weights is None else mask & (weights > 0)
    top = torch.where(valid, scores, -math.inf).amax(dims, keepdim=True)
    top = torch.where(torch.isfinite(top), top, 0.0).detach()  # cancels exactly; only for range
    terms = torch.where(valid, torch.exp(torch.where(valid, scores - top, 0.0)), 0.0)
    if weights is not None:
        terms = terms * weights
    total = terms.sum(dims, keepdim=True)
    return terms / torch.where(total > 0, total, 1.0)


class GeometricAttention(nn.Module):
    """One rank-2 geometric algebra attention layer over the tuples of each point cloud.

    Args:
        width: H, width of the slot values.
        kind: ``"invariant"`` (new values), ``"multivector"`` (new multivectors) or
            ``"tied"`` (both, one set of attention weights).
        reduce: softmax and sum over all tuples of a cloud (one [H] value per cloud) instead
            of over k for each j ([K, H] per cloud); only for ``kind="invariant"``.
        merge: ``"mean"`` of v_j and v_k, or ``"concat"``: v_j M_0 + v_k M_1 (learned).
        join: ``"mean"`` of V(q) and the merged values, or ``"concat"``: V(q) J_0 + merged J_1.
        invariant_mode: tuple products whose invariants feed V (``single``/``partial``/``full``).
        covariant_mode: tuple products combined (α_n) into multivector outputs.
        normalized_products: also use every product divided by its norm.
        dilation: hidden width of V, S and R is ``dilation · H``.
        activation: of V, S and R.
        invariant_norm: normalisation of the invariants entering V.
        value_norm: normalisation of V's hidden layer.
        score_norm: normalisation of the hidden layers of S and R.
    """

    def __init__(
        self,
        width: int,
        kind: str = "invariant",
        *,
        reduce: bool = False,
        merge: str = "mean",
        join: str = "mean",
        invariant_mode: str = "single",
        covariant_mode: str = "full",
        normalized_products: bool = False,
        dilation: float = 2.0,
        activation: str = "silu",
        invariant_norm: str | None = None,
        value_norm: str | None = None,
        score_norm: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise MatforgeUserError(f"attention kind must be one of {KINDS}, got {kind!r}")
        if merge not in COMBINE or join not in COMBINE:
            raise MatforgeUserError(f"merge and join must be one of {COMBINE}, got {merge!r} and {join!r}")
        for mode in (invariant_mode, covariant_mode):
            if mode not in algebra.MODES:
                raise MatforgeUserError(f"product modes must be one of {algebra.MODES}, got {mode!r}")
        if reduce and kind != "invariant":
            raise MatforgeUserError("only invariant attention reduces a cloud to one value")
        self.width, self.kind, self.reduce = width, kind, reduce
        self.merge, self.join = merge, join
        self.invariant_mode, self.covariant_mode = invariant_mode, covariant_mode
        self.normalized_products = normalized_products
        hidden = int(width * dilation)
        d_in = 4 * algebra.num_products(invariant_mode, normalized_products)
        self.value_net = ValueNet(d_in, hidden, width, activation, invariant_norm, value_norm)
        self.score_net = ValueNet(width, hidden, 1, activation, None, score_norm)
        self.scale_net = ValueNet(width, hidden, 1, activation, None, score_norm) if kind != "invariant" else None
        if merge == "concat":
            std = math.sqrt(2.0 / 2 / width)
            self.merge_kernels = nn.Parameter(torch.randn(2, width, width) * std)
        if join == "concat":
            std = math.sqrt(2.0 / 2 / width)
            self.join_kernels = nn.Parameter(torch.randn(2, width, width) * std)
        if kind != "invariant":
            count = algebra.num_products(covariant_mode, normalized_products)
            self.vector_kernels = nn.Parameter(torch.randn(count) * 0.05) if count > 1 else None

    # -- pieces ----------------------------------------------------------------------------

    def joined_values(self, m: Tensor, v: Tensor, tuple_mask: Tensor) -> Tensor:
        """``y_jk`` [C, K, K, H] from multivectors [C, K, 8] and values [C, K, H]."""
        # Finite everywhere: multivectors are zero in padded slots (callers keep them so).
        q = algebra.tuple_invariants(m, self.invariant_mode, self.normalized_products)
        h = self.value_net.hidden(q, tuple_mask)
        last = self.value_net.last
        if self.merge == "concat":
            per_slot = [v @ self.merge_kernels[0], v @ self.merge_kernels[1]]
        else:
            per_slot = [0.5 * v, 0.5 * v]
        if self.join == "concat":
            # (h W^T + b) J_0 + merged J_1, with J_0 folded into the last layer of V.
            weight, bias = last.weight.t() @ self.join_kernels[0], last.bias @ self.join_kernels[0]
            per_slot = [x @ self.join_kernels[1] for x in per_slot]
        else:
            weight, bias = 0.5 * last.weight.t(), 0.5 * last.bias
            per_slot = [0.5 * x for x in per_slot]
        left, right = per_slot[0].unsqueeze(-2), per_slot[1].unsqueeze(-3)  # j, k
        return torch.addmm(bias, h.flatten(0, -2), weight).view(*h.shape[:-1], weight.shape[1]) + left + right

    def covariant_sum(self, m: Tensor, coefficients: Tensor) -> Tensor:
        """``Σ_k c_jk Σ_n α_n p_n,jk`` [C, K, 8] for coefficients [C, K, K]."""
        alphas = self.vector_kernels if self.vector_kernels is not None else m.new_ones(1)
        summed_right = coefficients @ m  # Σ_k c_jk m_k
        terms = [algebra.geometric_product(m, summed_right)]  # m_j Σ_k c_jk m_k
        if self.covariant_mode in ("partial", "full"):
            terms.append(coefficients.sum(-1, keepdim=True) * m)
        if self.covariant_mode == "full":
            terms.append(summed_right)
        if self.normalized_products:
            for p in algebra.tuple_products(m, self.covariant_mode, normalized=True)[len(terms) :]:
                p = p.expand(*coefficients.shape, 8)
                terms.append((coefficients.unsqueeze(-2) @ p).squeeze(-2))
        return sum(a * t for a, t in zip(alphas, terms))

    # -- forward ---------------------------------------------------------------------------

    def forward(
        self, m: Tensor, v: Tensor, mask: Tensor, weights: Tensor | None = None
    ) -> tuple[Tensor | None, Tensor | None]:
        """(new multivectors [C, K, 8] or None, new values [C, K, H] / [C, H] or None).

        Args:
            m: multivectors [C, K, 8], zero in padded slots.
            v: values [C, K, H], zero in padded slots.
            mask: [C, K] bool, True for a real neighbour.
            weights: [C, K] slot weights in [0, 1] (envelope), or None.
        """
        tuple_mask = mask.unsqueeze(-1) & mask.unsqueeze(-2)
        tuple_weights = None if weights is None else weights.unsqueeze(-1) * weights.unsqueeze(-2)
        y = self.joined_values(m, v, tuple_mask)
        dims = (-2, -1) if self.reduce else (-1,)
        a = masked_softmax(self.score_net(y, tuple_mask).squeeze(-1), tuple_mask, tuple_weights, dims)
        if tuple_weights is not None:
            a = a * tuple_weights
        new_m = new_v = None
        if self.kind != "multivector":
            if self.reduce:
                new_v = (a.flatten(1).unsqueeze(1) @ y.flatten(1, 2)).squeeze(1)  # [C, H]
            else:
                new_v = (a.unsqueeze(-2) @ y).squeeze(-2)  # [C, K, H]
        if self.kind != "invariant":
            scale = self.scale_net(y, tuple_mask).squeeze(-1)
            new_m = self.covariant_sum(m, torch.where(tuple_mask, a * scale, 0.0))
        return new_m, new_v
