"""Normalisations of GALA, masked: statistics are taken over real slots only, so padded
slots (and structures batched alongside) never change a value.

* ``momentum``: per-feature running mean and standard deviation (exponential decay), updated
  in training mode from the real entries of the batch, applied as constants (detached);
  eval mode uses the running values only. Invariant values.
* ``layer``: per-entry standardisation over the feature axis (no affine), differentiable.
  Hidden layers of the value and score nets, and block outputs.
* ``momentum_layer``: multivectors divided by a running mean of their norm (the paper's
  equivariant value norm). At initialisation the running norm is 1, so it normalises nothing:
  with multivector-valued attention at depth 5 the public implementation's products then grow
  as squares per layer (~1e20, NaN).
* ``cloud``: multivectors of one point cloud divided by their root-mean-square norm over the
  cloud's real (envelope-weighted) neighbours, computed from the input itself: bounded at any
  weights, from the first step. The default equivariant normalisation here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matforge.errors import MatforgeUserError

INVARIANT_NORMS = (None, "momentum", "layer")
EQUIVARIANT_NORMS = (None, "momentum_layer", "cloud")


def _weighted_mean(x: Tensor, weights: Tensor | None, dims: tuple[int, ...]) -> Tensor:
    """Mean of ``x`` over ``dims`` with ``weights`` broadcastable to ``x`` (0 = ignore)."""
    if weights is None:
        return x.mean(dims)
    weights = weights.expand_as(x)
    total = weights.sum(dims)
    return (x * weights).sum(dims) / torch.where(total > 0, total, 1.0)


class MomentumNorm(nn.Module):
    """``(x - μ) / max(σ, 1e-7)`` per feature, with running ``μ`` and ``σ`` (momentum
    ``momentum``) over every axis but the last, from real entries only.

    Args:
        width: features (last axis).
        momentum: weight of the old running value per update, in [0, 1).
    """

    def __init__(self, width: int, momentum: float = 0.99) -> None:
        super().__init__()
        self.momentum = float(momentum)
        self.register_buffer("mu", torch.zeros(width))
        self.register_buffer("sigma", torch.ones(width))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x`` [..., width]; ``mask`` [...] bool (True = real) or None."""
        if self.training:
            with torch.no_grad():
                dims = tuple(range(x.ndim - 1))
                weights = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
                clean = x if mask is None else torch.where(mask.unsqueeze(-1), x, 0.0)
                mu = _weighted_mean(clean, weights, dims)
                sigma = _weighted_mean((clean - mu) ** 2, weights, dims).sqrt()
                self.mu.mul_(self.momentum).add_((1 - self.momentum) * mu)
                self.sigma.mul_(self.momentum).add_((1 - self.momentum) * sigma)
        return (x - self.mu) / self.sigma.clamp(min=1e-7)


class LayerNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps)`` over the last axis (population variance), no affine
    parameters; differentiable through the statistics (forces are exact derivatives).

    Written with elementary ops: torch's fused layer norm has a double backward (S2EF
    training differentiates forces) that took ~40 % of a training step here."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        centred = x - x.mean(-1, keepdim=True)
        return centred * torch.rsqrt((centred * centred).mean(-1, keepdim=True) + self.eps)


class MomentumLayerNorm(nn.Module):
    """Multivectors [..., 8] divided by a running mean of their norm (momentum
    ``momentum``, from real entries in training mode; at least ``eps``)."""

    def __init__(self, momentum: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        self.register_buffer("norm", torch.ones(1))

    def forward(self, x: Tensor, mask: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
        if self.training:
            with torch.no_grad():
                norms = x.norm(dim=-1)
                w = None if mask is None else mask.to(x.dtype)
                clean = norms if mask is None else torch.where(mask, norms, 0.0)
                mean = _weighted_mean(clean.flatten(), None if w is None else w.flatten(), (0,))
                self.norm.mul_(self.momentum).add_((1 - self.momentum) * mean)
        return x / self.norm.clamp(min=self.eps)


class CloudNorm(nn.Module):
    """Multivectors [C, K, 8] of each cloud divided by ``sqrt(Σ_k w_k |m_k|² / Σ_k w_k + eps)``,
    ``w_k`` the slot weights [C, K] (envelope × mask; 0 for padded slots)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, x: Tensor, mask: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
        if weights is None:
            weights = x.new_ones(x.shape[:-1]) if mask is None else mask.to(x.dtype)
        squared = torch.where(weights > 0, (x * x).sum(-1), 0.0)
        mean = _weighted_mean(squared, weights, (-1,))  # [C]
        return x / torch.sqrt(mean + self.eps)[:, None, None]


def invariant_norm(kind: str | None, width: int) -> nn.Module | None:
    """A normalisation of invariant values [..., width] by name, or None."""
    if kind not in INVARIANT_NORMS:
        raise MatforgeUserError(f"invariant normalisation must be one of {list(INVARIANT_NORMS)}, got {kind!r}")
    if kind == "momentum":
        return MomentumNorm(width)
    return LayerNorm() if kind == "layer" else None


def equivariant_norm(kind: str | None) -> nn.Module | None:
    """A normalisation of multivector values [C, K, 8] by name, or None."""
    if kind not in EQUIVARIANT_NORMS:
        raise MatforgeUserError(f"equivariant normalisation must be one of {list(EQUIVARIANT_NORMS)}, got {kind!r}")
    if kind == "momentum_layer":
        return MomentumLayerNorm()
    return CloudNorm() if kind == "cloud" else None
