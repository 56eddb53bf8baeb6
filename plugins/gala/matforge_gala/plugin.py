"""matforge hook implementations of matforge-gala.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "model",
        "gala",
        "matforge_gala.model:GALA",
        summary="geometric algebra attention (Spellings 2021) on atom-centred point clouds, masked and stable",
    )
    registry.register(
        "model",
        "gala-paper",
        "matforge_gala.presets:gala_paper",
        summary="GALA with the Open MatSci ML Toolkit paper's appendix settings (~1.4M parameters)",
    )
