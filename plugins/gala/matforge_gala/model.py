"""The GALA backbone: geometric algebra attention over atom-centred point clouds."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from matforge.errors import MatforgeUserError
from matforge.interfaces import Backbone, OutputSpec
from matforge.nn import cosine_cutoff
from matforge_gala import algebra, normalisation
from matforge_gala.attention import GeometricAttention, ValueNet
from matforge_pointcloud.batch import PointCloudBatch


class GALA(Backbone):
    """Geometric algebra attention network (Spellings 2021) on the ``pointcloud``
    representation, one energy (or embedding) per centre.

    Registered as ``gala`` with these defaults and as ``gala-paper`` with the toolkit paper's
    appendix settings (:mod:`matforge_gala.presets`). Per centre, each neighbour slot j starts
    with the multivector of its relative vector ``r_j / length_scale`` and the value
    ``E_c(Z_centre) + E_n(Z_j)`` (the paper's 200-wide pair one-hot times a linear layer,
    computed as two embedding lookups). Then ``depth + 1`` blocks, the last one reducing the
    cloud to one value:

    1. multivector-valued attention (``equivariant=True``): new multivectors m_j; or with
       ``tied=True`` the invariant attention of step 2 also returns them (same weights);
    2. invariant attention → new values v_j (the last block: one value per cloud);
    3. ``nonlinearities``: a value net on v; one residual v + v_old (not the last block);
       block normalisation; multivectors: one residual m + m_old, equivariant normalisation.

    Then a value net and (``output="energy"``) a linear map to the centre's energy (eV),
    returned per atom (zero for atoms that are not centres; their positions still enter as
    neighbours, so they get forces).

    Symmetry: energies are invariant under rotations, translations and atom permutations;
    with ``equivariant`` or ``tied`` attention also the trivector (a pseudo-scalar) of the
    multivectors reaches the invariants, so the energy changes under reflections: SO(3), not
    O(3). Invariant-only attention on relative vectors is O(3)-invariant (vectors'
    products carry no trivector).

    Args:
        width: H, width of the values (the paper's hidden dimension).
        depth: blocks before the reducing one.
        dilation: hidden width of every value/score net is ``dilation · H``.
        merge: ``"mean"`` or ``"concat"`` merge of the tuple's values.
        join: ``"mean"`` or ``"concat"`` join of invariant and merged values.
        invariant_mode: ``single``/``partial``/``full`` products whose invariants are used.
        covariant_mode: ``single``/``partial``/``full`` products combined into multivectors.
        normalized_products: also use every product divided by its norm.
        equivariant: multivector-valued attention in every block.
        tied: tie multivector and invariant attention (one set of weights per block);
            replaces the separate multivector attention.
        residual: residual connections (values and multivectors).
        nonlinearities: a value net after every block's attention.
        invariant_norm: ``None``/``"momentum"``/``"layer"`` on the invariants entering V.
        value_norm: the same, on V's hidden layer.
        score_norm: the same, on the score and scale nets' hidden layer.
        block_norm: the same, on each block's values.
        equivariant_norm: ``None``/``"cloud"``/``"momentum_layer"`` on each block's multivectors
            (see :mod:`matforge_gala.normalisation`; ``cloud`` keeps depth-5 multivector
            attention finite at any weights).
        activation: of every net.
        output: ``"energy"`` or ``"embedding"`` (width H).
        cutoff: neighbour radius (Å); the representation's cutoff.
        max_neighbors: K, at most this many neighbours per centre (nearest first).
        centres: ``"all"`` atoms or ``"oc20"`` (adsorbate, surface and sampled subsurface).
        subsurface_centres: subsurface atoms sampled per structure in ``"oc20"`` mode.
        smooth_cutoff: weight each slot by a cosine envelope of its distance (softmax terms
            and values), so energies and forces are continuous as neighbours cross the cutoff.
        length_scale: Å per unit of the input multivectors (keeps products O(1)).
        num_elements: rows of each species embedding (Z from 1 to ``num_elements``).
    """

    representation = "pointcloud"

    def __init__(
        self,
        width: int = 32,
        depth: int = 2,
        dilation: float = 2.0,
        merge: str = "mean",
        join: str = "mean",
        invariant_mode: str = "full",
        covariant_mode: str = "full",
        normalized_products: bool = False,
        equivariant: bool = True,
        tied: bool = False,
        residual: bool = True,
        nonlinearities: bool = True,
        invariant_norm: str | None = "momentum",
        value_norm: str | None = None,
        score_norm: str | None = None,
        block_norm: str | None = "layer",
        equivariant_norm: str | None = "cloud",
        activation: str = "silu",
        output: Literal["energy", "embedding"] = "energy",
        cutoff: float = 4.0,
        max_neighbors: int | None = 24,
        centres: str = "all",
        subsurface_centres: int = 4,
        smooth_cutoff: bool = True,
        length_scale: float = 2.0,
        num_elements: int = 100,
    ) -> None:
        super().__init__()
        if output not in ("energy", "embedding"):
            raise MatforgeUserError(f"output must be 'energy' or 'embedding', got {output!r}")
        if depth < 0:
            raise MatforgeUserError(f"depth must be >= 0, got {depth}")
        self.cutoff, self.max_neighbors = float(cutoff), max_neighbors
        self.centres, self.subsurface_centres = centres, int(subsurface_centres)
        self.smooth_cutoff, self.length_scale = bool(smooth_cutoff), float(length_scale)
        self.equivariant, self.tied, self.residual = bool(equivariant), bool(tied), bool(residual)
        self.num_elements = int(num_elements)
        common: dict[str, Any] = {
            "merge": merge, "join": join, "invariant_mode": invariant_mode, "covariant_mode": covariant_mode,
            "normalized_products": normalized_products, "dilation": dilation, "activation": activation,
            "invariant_norm": invariant_norm, "value_norm": value_norm, "score_norm": score_norm,
        }
        # The pair one-hot [centre | neighbour] times Linear(2·num_elements, H), as lookups.
        self.centre_embedding = nn.Embedding(num_elements, width)
        self.neighbour_embedding = nn.Embedding(num_elements, width)
        self.embedding_bias = nn.Parameter(torch.zeros(width))
        hidden = int(width * dilation)
        blocks = depth + 1
        last = depth
        # Multivector attention in every block (the last block's output feeds its own
        # invariant attention); tied attention instead returns multivectors from the
        # invariant attention, except in the reducing block, which needs none.
        self.multivector_attention = nn.ModuleList(
            GeometricAttention(width, "multivector", **common) for _ in range(blocks) if self.equivariant and not self.tied
        )
        self.value_attention = nn.ModuleList(
            GeometricAttention(width, "tied" if self.tied and i < last else "invariant", reduce=i == last, **common)
            for i in range(blocks)
        )
        self.nonlinear = (
            nn.ModuleList(ValueNet(width, hidden, width, activation, None, value_norm) for _ in range(blocks))
            if nonlinearities
            else None
        )
        self.block_norms = nn.ModuleList(_Optional(normalisation.invariant_norm(block_norm, width)) for _ in range(blocks))
        self.multivector_norms = nn.ModuleList(
            _Optional(normalisation.equivariant_norm(equivariant_norm)) for _ in range(depth)
        )
        self.final = ValueNet(width, hidden, width, activation, invariant_norm, value_norm)
        self.energy = nn.Linear(width, 1, bias=False) if output == "energy" else None
        self._output = OutputSpec("energy") if output == "energy" else OutputSpec("embedding", width)

    @property
    def output(self) -> OutputSpec:
        return self._output

    def representation_config(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "max_neighbors": self.max_neighbors,
            "centres": self.centres,
            "subsurface_centres": self.subsurface_centres,
        }

    def inputs(self, batch: PointCloudBatch) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Multivectors [C, K, 8], values [C, K, H], mask [C, K] and slot weights [C, K]
        (envelope, or None). Slots beyond the model's cutoff count as padded."""
        vectors = torch.where(batch.mask.unsqueeze(-1), batch.relative_vectors(), 0.0)
        squared = torch.where(batch.mask, (vectors * vectors).sum(-1), 0.0)
        mask = batch.mask & (squared < self.cutoff**2)
        vectors = torch.where(mask.unsqueeze(-1), vectors, 0.0)
        weights = None
        if self.smooth_cutoff:
            lengths = torch.sqrt(torch.where(mask, squared, 1.0))
            weights = torch.where(mask, cosine_cutoff(lengths, self.cutoff), 0.0)
        m = algebra.vector_to_multivector(vectors / self.length_scale)
        z_centre = (batch.centre_numbers() - 1).clamp(0, self.num_elements - 1)
        z_neighbour = torch.where(mask, batch.neighbour_numbers() - 1, 0).clamp(0, self.num_elements - 1)
        v = self.centre_embedding(z_centre).unsqueeze(1) + self.neighbour_embedding(z_neighbour) + self.embedding_bias
        return m, torch.where(mask.unsqueeze(-1), v, 0.0), mask, weights

    def centre_values(self, batch: PointCloudBatch) -> Tensor:
        """The reduced value of every centre's cloud [C, H] (before the output nets)."""
        m, v, mask, weights = self.inputs(batch)
        slots = mask.unsqueeze(-1)
        for i, attention in enumerate(self.value_attention):
            old_m, old_v = m, v
            if len(self.multivector_attention):
                m, _ = self.multivector_attention[i](m, v, mask, weights)
            new_m, v = attention(m, v, mask, weights)
            if new_m is not None:
                m = new_m
            reduced = attention.reduce
            if self.nonlinear is not None:
                v = self.nonlinear[i](v, None if reduced else mask)
            if self.residual and not reduced:
                v = v + old_v
            if reduced:
                return self.block_norms[i](v)
            v = torch.where(slots, self.block_norms[i](v, mask), 0.0)  # padded slots stay zero
            if self.equivariant or self.tied:
                if self.residual:
                    m = m + old_m
                m = torch.where(slots, self.multivector_norms[i](m, mask, weights), 0.0)
        raise AssertionError("the last block reduces")  # pragma: no cover

    def forward(self, batch: PointCloudBatch) -> Tensor:
        """Per-atom energies [N, 1] (eV) or embeddings [N, H]; zero for non-centres."""
        h = self.final(self.centre_values(batch))
        return batch.to_atoms(self.energy(h) if self.energy is not None else h)


class _Optional(nn.Module):
    """A normalisation, or the identity when ``norm`` is None (same call signature)."""

    def __init__(self, norm: nn.Module | None) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: Tensor, *args: Tensor | None) -> Tensor:
        return x if self.norm is None else self.norm(x, *args)
