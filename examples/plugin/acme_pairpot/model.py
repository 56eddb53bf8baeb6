"""A learnable Morse pair potential: E = Σ_i<j D_ab (1 − exp(−α_ab (r_ij − r0_ab)))² · f_cut(r_ij)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.interfaces import Backbone, OutputSpec
from matforge.nn import cosine_cutoff


class MorsePair(Backbone):
    """Per-atom energies (eV) from Morse terms between all atom pairs of a structure closer
    than ``cutoff`` (Å). Non-periodic: periodic images are ignored."""

    representation = "atoms"

    def __init__(self, num_species: int = 119, cutoff: float = 5.0) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.depth = nn.Embedding(num_species, 1)  # D per species, combined geometrically
        self.width = nn.Embedding(num_species, 1)  # alpha per species
        self.r0 = nn.Embedding(num_species, 1)  # r0 per species, combined arithmetically
        nn.init.constant_(self.depth.weight, -2.0)
        nn.init.constant_(self.width.weight, 0.0)
        nn.init.constant_(self.r0.weight, 1.2)

    @property
    def output(self) -> OutputSpec:
        return OutputSpec("energy")

    def forward(self, batch: AtomsBatch) -> Tensor:
        pos, z = batch.positions, batch.atomic_numbers
        same = batch.batch[:, None] == batch.batch[None, :]
        i, j = torch.nonzero(same & ~torch.eye(len(z), dtype=torch.bool, device=z.device), as_tuple=True)
        r = (pos[j] - pos[i]).norm(dim=-1)
        d = torch.exp(0.5 * (self.depth(z[i]) + self.depth(z[j]))).squeeze(-1)
        a = torch.exp(0.5 * (self.width(z[i]) + self.width(z[j]))).squeeze(-1)
        r0 = 0.5 * (self.r0(z[i]) + self.r0(z[j])).squeeze(-1)
        cut = cosine_cutoff(r, self.cutoff)
        pair = d * (1 - torch.exp(-a * (r - r0))) ** 2 * cut
        # Half of each ordered pair's energy goes to its first atom: the sum counts each pair once.
        return torch.zeros(len(z), dtype=pos.dtype, device=pos.device).index_add(0, i, 0.5 * pair)[:, None]
