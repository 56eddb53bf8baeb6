"""Which implementation the message-passing ops use: ``native`` (plain torch) or ``dgl``.

Chosen, in order of precedence, by the innermost :func:`use_backend` block, then the
environment variable ``MATFORGE_GRAPH_BACKEND``, then ``native``. Torch-free on purpose: the
plugin's hook module may import this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

BACKENDS: tuple[str, ...] = ("native", "dgl")
ENV_VAR = "MATFORGE_GRAPH_BACKEND"

# A module global, not a ContextVar: torch.compile cannot trace ContextVar.get, while it guards
# on globals (a model compiled under one backend recompiles under the other). The price: the
# choice is process-wide, not per thread.
_selected: str | None = None


def _checked(name: str, source: str) -> str:
    normalised = name.strip().lower()
    if normalised not in BACKENDS:
        raise ValueError(f"{source} must be one of {list(BACKENDS)}, got {name!r}")
    return normalised


def get_backend() -> str:
    """The backend in force here: ``"native"`` or ``"dgl"``."""
    if _selected is not None:
        return _selected
    from_env = os.environ.get(ENV_VAR)
    return _checked(from_env, ENV_VAR) if from_env else "native"


@contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Run the ops in the block on backend ``name`` (``"native"`` or ``"dgl"``).

    >>> with use_backend("dgl"):        # doctest: +SKIP
    ...     energy = model(batch)

    Also usable as a decorator. ``"dgl"`` needs ``pip install "matforge-graph[dgl]"``, which
    pins the old stack DGL loads with (torch 2.2.1, CPU only).
    """
    global _selected
    previous, _selected = _selected, _checked(name, "backend")
    try:
        yield _selected
    finally:
        _selected = previous
