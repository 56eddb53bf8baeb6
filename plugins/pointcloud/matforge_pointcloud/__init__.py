"""matforge-pointcloud: atom-centred point clouds, padded and masked.

Importing this package is cheap (no torch): the hook module :mod:`.plugin` lives in it and is
imported to list components. The classes load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "PointCloudBatch": "matforge_pointcloud.batch",
    "PointCloudRepresentation": "matforge_pointcloud.representation",
    "PointCloudSample": "matforge_pointcloud.representation",
    "select_centres": "matforge_pointcloud.centres",
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matforge_pointcloud' has no attribute {name!r}")
