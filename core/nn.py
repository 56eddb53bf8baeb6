"""Building blocks that every model would otherwise write again (plain torch).

Distances are in Å; ``batch_index`` is an atom's structure index ``[N]`` (``AtomsBatch.batch``).
Plugins import these instead of keeping their own copies, so a fix reaches every model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from matforge.errors import MatforgeUserError

__all__ = [
    "ACTIVATIONS",
    "GaussianBasis",
    "ShiftedSoftplus",
    "activation",
    "cosine_cutoff",
    "last_linear",
    "mlp",
    "structure_mean",
    "structure_sum",
]


class ShiftedSoftplus(nn.Module):
    """``softplus(x) − log 2`` (MEGNet's "softplus2", SchNet's ssp): zero at x = 0, smooth."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.softplus(x) - math.log(2.0)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "shifted_softplus": ShiftedSoftplus,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise MatforgeUserError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(
    sizes: Sequence[int],
    act: str,
    *,
    activate_last: bool = False,
    bias_last: bool = True,
) -> nn.Sequential:
    """Linear layers ``sizes[0] → sizes[1] → … → sizes[-1]`` with ``act`` between them.

    Args:
        sizes: widths, input first; at least two.
        act: activation name (see :func:`activation`).
        activate_last: also apply the activation after the last linear layer.
        bias_last: give the last linear layer a bias.
    """
    if len(sizes) < 2:
        raise MatforgeUserError(f"an MLP needs an input and an output width, got sizes {list(sizes)}")
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out, bias=bias_last or k < last))
        if k < last or activate_last:
            # ReLU may overwrite the linear layer's output: autograd needs neither that
            # output for the linear layer nor ReLU's input, and edge tensors are the largest.
            layers.append(nn.ReLU(inplace=True) if act == "relu" else activation(act))
    return nn.Sequential(*layers)


def last_linear(module: nn.Sequential) -> nn.Linear:
    """The last ``nn.Linear`` of an :func:`mlp`."""
    return next(m for m in reversed(module) if isinstance(m, nn.Linear))


class GaussianBasis(nn.Module):
    """``exp(-((r - μ_k) / w)²)`` for ``num`` centres μ_k evenly spaced on [start, cutoff] Å,
    width w = their spacing unless given. Parameter-free; the centres are rebuilt from the
    arguments, so they are not saved in checkpoints."""

    def __init__(self, num: int, cutoff: float, *, start: float = 0.0, width: float | None = None) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(start, cutoff, num), persistent=False)
        self.width = width if width is not None else (cutoff - start) / max(num - 1, 1)

    def forward(self, lengths: Tensor) -> Tensor:
        """Distances [E, 1] Å → attributes [E, num]."""
        return torch.exp(-(((lengths - self.centres) / self.width) ** 2))


def cosine_cutoff(lengths: Tensor, cutoff: float) -> Tensor:
    """``(cos(π r / cutoff) + 1) / 2`` for r < cutoff, else 0: goes from 1 at r = 0 to 0 with
    zero slope at the cutoff, so energies and forces stay continuous as neighbours cross it."""
    inside = 0.5 * (torch.cos(lengths * (math.pi / cutoff)) + 1.0)
    return torch.where(lengths < cutoff, inside, torch.zeros_like(lengths))


def structure_sum(values: Tensor, batch_index: Tensor, num_structures: int) -> Tensor:
    """Per-atom values [N, ...] → per-structure sums [G, ...] (differentiable, twice)."""
    total = torch.zeros((num_structures, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return total.index_add(0, batch_index, values)


def structure_mean(values: Tensor, batch_index: Tensor, num_structures: int) -> Tensor:
    """Per-atom values [N, ...] → per-structure means [G, ...]; an empty structure gives 0."""
    total = structure_sum(values, batch_index, num_structures)
    counts = torch.bincount(batch_index, minlength=num_structures).clamp(min=1).to(values.dtype)
    return total / counts.reshape(-1, *([1] * (values.ndim - 1)))
