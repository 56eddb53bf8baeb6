"""Named EGNN configurations.

``egnn`` is :class:`~matforge_egnn.model.EGNN` with its own defaults. ``egnn-paper`` follows
the appendix of the Open MatSci ML Toolkit paper, mapped onto layers the way the public
matsciml EGNN does (reference/FACTS.md §1-2): hidden 32, 3 layers, φ_e [16, 16], φ_h
[48, 48], φ_x [64, 64], ReLU, no attention, no edge attributes beyond |r_ij|², node
projection [128, 128], output block [64, 64] → 1 (three linear layers), 100-row atom
embedding (Z ≤ 99), coordinate updates between layers. About 70k parameters (paper: 72k).
"""

from __future__ import annotations

from typing import Any

from matforge_egnn.model import EGNN

PAPER: dict[str, Any] = {
    "hidden": 32,
    "num_layers": 3,
    "edge_dims": [16, 16],
    "node_dims": [48, 48],
    "position_dims": [64, 64],
    "projection_dims": [128, 128],
    "output_dims": [64, 64],
    "activation": "relu",
    "attention": False,
    "update_positions": True,
    "position_tanh": False,
    "num_radial": 0,
    "smooth_cutoff": False,
    "cutoff": 6.0,
    "max_atomic_number": 99,
}


def egnn_paper(**overrides: Any) -> EGNN:
    """EGNN with the seed paper's appendix hyperparameters; keyword arguments override them."""
    return EGNN(**{**PAPER, **overrides})
