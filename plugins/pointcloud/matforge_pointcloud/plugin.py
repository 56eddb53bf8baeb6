"""matforge hook implementations of matforge-pointcloud.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "representation",
        "pointcloud",
        "matforge_pointcloud.representation:PointCloudRepresentation",
        summary="atom-centred point clouds, padded centres x K with a mask (cutoff, max_neighbors, centres) -> PointCloudBatch",
    )
