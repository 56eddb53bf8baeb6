"""A tiny backbone for tests and examples: species embeddings plus an all-pairs radial MLP.

Registered as model ``toy-pair`` (representation ``atoms``). Every pair of atoms inside one
structure interacts through a smooth function of their distance, periodic images ignored, so
the cost is O(N²) per structure. Energies depend on distances and species only (invariant
under rotations, translations and permutations) and are smooth (C¹ at the cutoff), so forces
from autograd are well defined everywhere except at coinciding atoms.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.elements import MAX_ATOMIC_NUMBER
from matforge.interfaces import Backbone, OutputSpec


class PairMLP(Backbone):
    """Per-atom outputs from a species embedding and a sum over pair terms within ``cutoff``.

    For atom i: ``h_i = embed(Z_i) + Σ_j fcut(r_ij) · MLP(rbf(r_ij)) ⊙ embed(Z_j)`` summed over the
    other atoms j of its structure, then a linear map to the output (one energy in eV, or
    ``width`` features).

    Args:
        hidden: width of the species embedding and of the pair MLP.
        num_radial: number of Gaussian radial basis functions on [0, cutoff] Å.
        cutoff: pair cutoff in Å; the cosine envelope makes pair terms vanish smoothly there.
        output: ``"energy"`` (per-atom energies [N, 1]) or ``"embedding"`` ([N, width]).
        width: feature width when ``output="embedding"``.
    """

    representation = "atoms"

    def __init__(
        self,
        hidden: int = 16,
        num_radial: int = 8,
        cutoff: float = 5.0,
        output: Literal["energy", "embedding"] = "energy",
        width: int = 16,
    ) -> None:
        super().__init__()
        self._output = OutputSpec(output, 1 if output == "energy" else width)
        self.cutoff = float(cutoff)
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, hidden)
        self.register_buffer("centres", torch.linspace(0.0, cutoff, num_radial), persistent=False)
        self.width_rbf = cutoff / num_radial
        self.pair_mlp = nn.Sequential(
            nn.Linear(num_radial, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, self._output.width))

    @property
    def output(self) -> OutputSpec:
        return self._output

    def forward(self, batch: AtomsBatch) -> Tensor:
        """Per-atom outputs [N, output.width]."""
        h = self.embedding(batch.atomic_numbers)
        i, j = _pairs_within_structures(batch.batch)
        if i.numel():
            r = (batch.positions[j] - batch.positions[i]).norm(dim=-1, keepdim=True)  # [P, 1] Å
            rbf = torch.exp(-(((r - self.centres) / self.width_rbf) ** 2))
            envelope = torch.where(
                r < self.cutoff, 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0), torch.zeros_like(r)
            )
            messages = envelope * self.pair_mlp(rbf) * self.embedding(batch.atomic_numbers[j])
            h = h.index_add(0, i, messages.to(h.dtype))
        return self.out(h)


def _pairs_within_structures(batch: Tensor) -> tuple[Tensor, Tensor]:
    """Ordered pairs (i, j), i ≠ j, of atoms in the same structure; O(N²) memory is fine for
    the test-sized batches this backbone is meant for."""
    same = batch[:, None] == batch[None, :]
    same.fill_diagonal_(False)
    i, j = same.nonzero(as_tuple=True)
    return i, j
