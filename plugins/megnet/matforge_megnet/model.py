"""The MEGNet backbone: encoders, MEGNet blocks, Set2Set readouts, per-atom or per-structure output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from matforge.elements import MAX_ATOMIC_NUMBER
from matforge.errors import InvalidValueError
from matforge.interfaces import Backbone, OutputSpec
from matforge.nn import GaussianBasis, cosine_cutoff, last_linear, mlp
from matforge_graph.batch import GraphBatch
from matforge_megnet.block import ACTIVATION, Aggregation, MEGNetBlock
from matforge_megnet.set2set import Set2Set
from matforge_megnet.state import NUM_GRAPH_VARIABLES, graph_variables, reduced_masses

GraphState = Literal["oc20", "zero"]

#: The per-atom energy layer starts with weights this much smaller than PyTorch's default.
ENERGY_INIT_SCALE = 0.01


class MEGNet(Backbone):
    """MatErials Graph Network (Chen et al. 2019) on periodic radius graphs.

    Registered as ``megnet`` with these defaults, and as ``megnet-paper`` with the Open
    MatSci ML Toolkit paper's appendix settings (:mod:`matforge_megnet.presets`).

    Inputs, all computed in ``forward`` (never raw coordinates, so energies are invariant
    under rotations, reflections, translations, permutations and periodic images, and
    forces are equivariant):

    - atoms: an embedding of Z, ``node_features`` wide;
    - bonds: the bond length expanded in ``num_gaussians`` Gaussians (centres
      linspace(0, cutoff + 1), width ``gaussian_width``) and the reduced "mass"
      Z_s Z_r / (Z_s + Z_r) (the paper's two edge features, distance expanded);
    - state: the 9 graph variables of :mod:`matforge_megnet.state` (``graph_state="oc20"``)
      or zeros (``"zero"``).

    Each is encoded by an MLP ``hiddens``; then ``num_blocks`` × :class:`MEGNetBlock`
    (dense layers in all but the first); then Set2Set over atoms and over bonds. The readout
    ``r = set2set(atoms) ⊕ set2set(bonds) ⊕ u`` [G, 5·width] feeds:

    - ``output="energy"``: per-atom energies [N, 1] (eV) from the output MLP
      ``output_dims → 1`` on ``v_i ⊕ r`` of the atom's structure, summed by the task.
      IS2RE and S2EF use this path: forces need an energy that is a sum over atoms, and a
      per-atom head lets the energy normaliser add per-element references.
    - ``output="structure"``: per-structure features [G, output_dims[-1]] from the output
      MLP on ``r`` (the paper's readout); the property task puts its head on them.

    The global state makes every atom's output depend on the whole structure: the model is
    not local (an atom far away still changes the means).

    Args:
        node_features: width of the atom embedding.
        hiddens: widths of the encoders and of the blocks' dense layers; the last is the
            block width.
        conv_hiddens: widths of φ_e, φ_v, φ_u; the last must equal ``hiddens[-1]``.
        num_blocks: MEGNet blocks.
        set2set_iterations: Set2Set processing steps.
        set2set_layers: LSTM layers of each Set2Set.
        bond_readout: read out bonds with a Set2Set too (``False``: atoms and state only).
        output_dims: widths of the output MLP.
        output: ``"energy"`` or ``"structure"``.
        dropout: dropout after each block's updates (training only).
        graph_state: ``"oc20"`` (9 graph variables) or ``"zero"``.
        num_gaussians: Gaussians of the bond length.
        gaussian_width: their width (Å).
        smooth_cutoff: weigh bonds by a cosine envelope in every mean and in the bond
            readout, so energies are continuous as neighbours cross the cutoff; ``False``:
            the paper's plain means (a hard cutoff).
        cutoff: radius graph cutoff (Å).
        max_neighbors: at most this many neighbours per atom (nearest first); None: all.
        max_atomic_number: largest atomic number the embedding holds.
    """

    representation = "graph"

    def __init__(
        self,
        node_features: int = 16,
        hiddens: Sequence[int] = (64, 32),
        conv_hiddens: Sequence[int] = (64, 64, 32),
        num_blocks: int = 3,
        set2set_iterations: int = 3,
        set2set_layers: int = 1,
        bond_readout: bool = True,
        output_dims: Sequence[int] = (64, 32),
        output: Literal["energy", "structure"] = "energy",
        dropout: float = 0.0,
        graph_state: GraphState = "oc20",
        num_gaussians: int = 100,
        gaussian_width: float = 0.5,
        smooth_cutoff: bool = True,
        cutoff: float = 6.0,
        max_neighbors: int | None = None,
        max_atomic_number: int = MAX_ATOMIC_NUMBER,
    ) -> None:
        super().__init__()
        if output not in ("energy", "structure"):
            raise InvalidValueError(f"output must be 'energy' or 'structure', got {output!r}")
        if graph_state not in ("oc20", "zero"):
            raise InvalidValueError(f"graph_state must be 'oc20' or 'zero', got {graph_state!r}")
        if num_blocks < 1 or not hiddens or not conv_hiddens or not output_dims:
            raise InvalidValueError("MEGNet needs num_blocks >= 1 and non-empty hiddens, conv_hiddens, output_dims")
        width = hiddens[-1]
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors
        self.smooth_cutoff = smooth_cutoff
        self.graph_state = graph_state
        self.embedding = nn.Embedding(max_atomic_number + 1, node_features)
        self.gaussians = GaussianBasis(num_gaussians, self.cutoff + 1.0, width=gaussian_width)
        self.bond_encoder = mlp([num_gaussians + 1, *hiddens], ACTIVATION, activate_last=True)
        self.atom_encoder = mlp([node_features, *hiddens], ACTIVATION, activate_last=True)
        self.state_encoder = mlp([NUM_GRAPH_VARIABLES, *hiddens], ACTIVATION, activate_last=True)
        self.blocks = nn.ModuleList(
            MEGNetBlock(width, hiddens, conv_hiddens, dense=k > 0, dropout=dropout) for k in range(num_blocks)
        )
        self.atom_readout = Set2Set(width, set2set_iterations, set2set_layers)
        self.bond_readout = Set2Set(width, set2set_iterations, set2set_layers) if bond_readout else None
        readout = (4 if bond_readout else 2) * width + width
        if output == "energy":
            self.output_mlp = mlp([width + readout, *output_dims, 1], ACTIVATION)
            # Every atom sees its structure's readout, so at the default initialisation the
            # energy carries N times one shared random term (eV-sized, growing with N) that
            # training must first cancel: start the per-atom energies near 0 instead.
            with torch.no_grad():
                last = last_linear(self.output_mlp)
                last.weight.mul_(ENERGY_INIT_SCALE)
                last.bias.zero_()
            self._output = OutputSpec("energy")
        else:
            self.output_mlp = mlp([readout, *output_dims], ACTIVATION)
            self._output = OutputSpec("structure", output_dims[-1])

    @property
    def output(self) -> OutputSpec:
        return self._output

    def representation_config(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "max_neighbors": self.max_neighbors}

    def encode(self, batch: GraphBatch) -> tuple[Tensor, Tensor, Tensor, Aggregation]:
        """Encoded bonds [E, width], atoms [N, width], states [G, width] and the bond weights."""
        lengths = batch.edge_vectors().norm(dim=-1, keepdim=True)
        weights = cosine_cutoff(lengths, self.cutoff) if self.smooth_cutoff else None
        aggregation = Aggregation.of(batch, weights, lengths)
        e = self.bond_encoder(torch.cat([self.gaussians(lengths), reduced_masses(batch)], dim=1))
        v = self.atom_encoder(self.embedding(batch.atomic_numbers))
        if self.graph_state == "oc20":
            ones = torch.ones_like(lengths)
            state = graph_variables(batch, lengths, ones if weights is None else weights, aggregation.per_structure)
        else:
            state = lengths.new_zeros(batch.num_graphs, NUM_GRAPH_VARIABLES)
        return e, v, self.state_encoder(state), aggregation

    def forward(self, batch: GraphBatch) -> Tensor:
        """Per-atom energies [N, 1] (eV) or per-structure features [G, output_dims[-1]]."""
        e, v, u, aggregation = self.encode(batch)
        for block in self.blocks:
            e, v, u = block(batch, e, v, u, aggregation)
        g = batch.num_graphs
        parts = [self.atom_readout(v, batch.batch, g)]
        if self.bond_readout is not None:
            parts.append(self.bond_readout(e, batch.edge_batch, g, aggregation.weights))
        readout = torch.cat([*parts, u], dim=1)
        if self._output.kind == "structure":
            return self.output_mlp(readout)
        return self.output_mlp(torch.cat([v, readout.index_select(0, batch.batch)], dim=1))
