"""EGNN through the contract kit, as third parties would test their own backbones.

Small settings keep the default preset's checks fast; the paper preset runs at full size
(float64, a few atoms). ``update_positions`` is on in both so that the equivariant
coordinate update is checked too.
"""

from typing import ClassVar

from matforge.testing import BackboneContract

SMALL: dict = {
    "hidden": 16,
    "num_layers": 3,
    "edge_dims": [16, 16],
    "node_dims": [16],
    "position_dims": [16],
    "projection_dims": [16],
    "output_dims": [16],
    "num_radial": 8,
    "update_positions": True,
}


class TestEGNNEnergy(BackboneContract):
    backbone = "egnn"
    backbone_args: ClassVar[dict] = SMALL


class TestEGNNEmbedding(BackboneContract):
    backbone = "egnn"
    backbone_args: ClassVar[dict] = {**SMALL, "output": "embedding", "attention": False}


class TestEGNNPaper(BackboneContract):
    backbone = "egnn-paper"
    smooth = False  # the paper's hard 6 Å cutoff: energies jump as neighbours cross it
