"""Which implementation the message-passing ops use: ``native`` (plain torch) or ``dgl``.

Chosen, in order of precedence, by the innermost :func:`use_backend` block, then the
environment variable ``MATFORGE_GRAPH_BACKEND`` as it was when matforge_graph was imported
(or at the last :func:`refresh_environment`), then ``native``. Torch-free on purpose: the
plugin's hook module may import this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from matforge.errors import InvalidValueError

BACKENDS: tuple[str, ...] = ("native", "dgl")
ENV_VAR = "MATFORGE_GRAPH_BACKEND"

# Module globals, read by get_backend() inside compiled models: torch.compile guards on
# globals (a model compiled under one backend recompiles under the other) but cannot trace
# ContextVar.get, nor os.environ on torch 2.2. The price: the choice is process-wide.
_selected: str | None = None
_from_env: str = "native"
_env_error: str | None = None


def _checked(name: str, source: str) -> str:
    normalised = name.strip().lower()
    if normalised not in BACKENDS:
        raise InvalidValueError(f"{source} must be one of {list(BACKENDS)}, got {name!r}")
    return normalised


def refresh_environment() -> None:
    """Re-read ``MATFORGE_GRAPH_BACKEND`` (it is read once, on import)."""
    global _from_env, _env_error
    raw = os.environ.get(ENV_VAR, "")
    try:
        _from_env, _env_error = (_checked(raw, ENV_VAR) if raw else "native"), None
    except ValueError as exc:
        # Raised when an op asks, not on import: a typo must not break `matforge list`.
        _from_env, _env_error = "native", str(exc)


def get_backend() -> str:
    """The backend in force here: ``"native"`` or ``"dgl"``."""
    if _selected is not None:
        return _selected
    if _env_error is not None:
        raise InvalidValueError(_env_error)
    return _from_env


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


refresh_environment()
