"""matforge hook implementations of matforge-egnn.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "model",
        "egnn",
        "matforge_egnn.model:EGNN",
        summary="E(n)-equivariant GNN (Satorras et al. 2021) on periodic radius graphs",
    )
    registry.register(
        "model",
        "egnn-paper",
        "matforge_egnn.presets:egnn_paper",
        summary="EGNN with the Open MatSci ML Toolkit paper's appendix settings (~70k parameters)",
    )
