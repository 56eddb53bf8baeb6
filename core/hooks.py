"""Hook specifications that plugins implement.

A plugin is a distribution with an entry point in the group ``matforge.plugins`` that names a
small module. That module holds functions decorated with :data:`hookimpl`, and states the
plugin API versions it supports::

    # acme_schnet/plugin.py
    import matforge

    MATFORGE_PLUGIN_API = (1,)

    @matforge.hookimpl
    def matforge_register(registry):
        registry.register("model", "schnet", "acme_schnet.model:SchNet",
                          summary="SchNet continuous-filter convolutions")

Keep that module light: it is imported to list components, so it must not import torch,
the model code or any heavy dependency. Register targets as ``"module:attr"`` strings;
they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from matforge.registry import Registry

PROJECT_NAME = "matforge"
ENTRY_POINT_GROUP = "matforge.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class MatforgeSpecs:
    """The hooks matforge calls on every plugin."""

    @hookspec
    def matforge_register(self, registry: Registry) -> None:
        """Register components (models, representations, tasks, datasets) in ``registry``.

        Called once per plugin, the first time the registry is used. Use
        ``registry.register(kind, name, target, summary=...)`` with ``target`` a
        ``"module:attr"`` string so that nothing heavy is imported here.
        """

    @hookspec
    def matforge_add_cli_commands(self, subparsers) -> None:
        """Add sub-commands to the ``matforge`` command line (``argparse`` sub-parsers)."""
