"""matforge-graph: periodic radius graphs, GraphBatch, message-passing ops and a DGL backend.

Importing this package is cheap (no torch): the hook module :mod:`.plugin` lives in it and is
imported to list components. The classes load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from matforge_graph.backend import BACKENDS, get_backend, use_backend

__version__ = "0.1.0"

_LAZY = {
    "GraphBatch": "matforge_graph.batch",
    "as_graph_batch": "matforge_graph.batch",
    "to_dgl": "matforge_graph.dgl_backend",
    "from_dgl": "matforge_graph.dgl_backend",
    "GraphRepresentation": "matforge_graph.representation",
    "GraphSample": "matforge_graph.representation",
}

__all__ = ["BACKENDS", "get_backend", "use_backend", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matforge_graph' has no attribute {name!r}")
