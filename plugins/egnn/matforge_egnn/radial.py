"""Functions of the interatomic distance: edge attributes and the smooth cutoff."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GaussianBasis(nn.Module):
    """``exp(-((r - μ_k) / w)²)`` for ``num`` centres μ_k evenly spaced on [0, cutoff] Å,
    width w = their spacing. Parameter-free; the centres are rebuilt from the arguments, so
    they are not saved in checkpoints."""

    def __init__(self, num: int, cutoff: float) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, num), persistent=False)
        self.width = cutoff / max(num - 1, 1)

    def forward(self, lengths: Tensor) -> Tensor:
        """Distances [E, 1] Å → attributes [E, num]."""
        return torch.exp(-(((lengths - self.centres) / self.width) ** 2))


def cosine_envelope(lengths: Tensor, cutoff: float) -> Tensor:
    """``(cos(π r / cutoff) + 1) / 2`` for r < cutoff, else 0: goes from 1 at r = 0 to 0 with
    zero slope at the cutoff, so energies and forces stay continuous as neighbours cross it."""
    inside = 0.5 * (torch.cos(lengths * (math.pi / cutoff)) + 1.0)
    return torch.where(lengths < cutoff, inside, torch.zeros_like(lengths))
