"""matforge hook implementations of matforge-megnet.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "model",
        "megnet",
        "matforge_megnet.model:MEGNet",
        summary="MEGNet (Chen et al. 2019): graph network with global state on periodic radius graphs",
    )
    registry.register(
        "model",
        "megnet-paper",
        "matforge_megnet.presets:megnet_paper",
        summary="MEGNet with the Open MatSci ML Toolkit paper's appendix settings (~1.2M parameters)",
    )
