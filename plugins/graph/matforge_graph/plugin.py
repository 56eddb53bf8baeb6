"""matforge hook implementations of matforge-graph.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "representation",
        "graph",
        "matforge_graph.representation:GraphRepresentation",
        summary="radius graph with periodic images (cutoff, max_neighbors) -> GraphBatch",
    )
