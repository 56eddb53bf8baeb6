"""Hook specifications that plugins implement, and the :class:`Registrar` they receive.

A plugin is a distribution with an entry point in the group ``matforge.plugins`` that names a
small module. That module states the plugin API versions it supports (required) and holds
functions decorated with :data:`hookimpl`::

    # acme_schnet/plugin.py
    import matforge

    MATFORGE_PLUGIN_API = (1,)

    @matforge.hookimpl
    def matforge_register(registry):
        registry.register("backbone", "schnet", "acme_schnet.model:SchNet",
                          summary="SchNet continuous-filter convolutions")

Keep that module light: it is imported to list components, so it must not import torch,
the model code or any heavy dependency. Register targets as ``"module:attr"`` strings;
they are imported on first use.

The hooks are called through pluggy, once per plugin and each plugin on its own (a plugin
that raises is reported as broken and adds nothing; the others are unaffected). Plugins are
called in discovery order (the core first, then by entry-point name); ``tryfirst=True`` /
``trylast=True`` move a plugin's implementation to the front / the back. Wrappers
(``wrapper=True``, ``hookwrapper=True``) are refused: a plugin declaring one is reported as
broken, because there is nothing of another plugin's for it to wrap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import pluggy

PROJECT_NAME = "matforge"
ENTRY_POINT_GROUP = "matforge.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@runtime_checkable
class Registrar(Protocol):
    """What ``matforge_register`` receives: registering, not querying.

    Registrations are staged and committed after the hook returns, so a plugin that raises
    half-way adds nothing. Querying the registry (``names``, ``get``) is not possible during
    discovery: use :data:`matforge.registry` once the hooks have run.
    """

    def register(
        self,
        kind: str,
        name: str,
        target: Any,
        *,
        override: bool = False,
        summary: str | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        """Register ``target`` (an object or a ``"module:attr"`` string) as ``kind``/``name``;
        arguments as :meth:`matforge.registry.Registry.register`."""

    def add_kind(self, kind: str) -> None:
        """Make a new kind of component available (idempotent)."""

    def kinds(self) -> list[str]:
        """Kinds known so far, sorted: the core's, those other plugins added, this one's."""


class MatforgeSpecs:
    """The hooks matforge calls on every plugin."""

    @hookspec
    def matforge_register(self, registry: Registrar) -> None:
        """Register components (backbones, representations, tasks, datasets) in ``registry``.

        Called once per plugin, the first time the registry is used. Use
        ``registry.register(kind, name, target, summary=...)`` with ``target`` a
        ``"module:attr"`` string so that nothing heavy is imported here.
        """

    @hookspec
    def matforge_add_cli_commands(self, subparsers: Any) -> None:
        """Add sub-commands to the ``matforge`` command line.

        ``subparsers`` is the ``argparse`` sub-parsers action of ``matforge``: call
        ``subparsers.add_parser(NAME, help=...)``, add arguments, and set
        ``parser.set_defaults(func=run)`` where ``run(namespace) -> int`` is the exit status.
        Called whenever ``matforge`` builds its parser (every command except fit, validate,
        test and predict), so import heavy modules inside ``run``, not here. A command
        raising :class:`matforge.errors.MatforgeUserError` prints one ``matforge: error:``
        line; any other exception prints its traceback. A hook that raises is reported as
        that plugin's failure (``matforge plugins``) and its commands are left out.
        """
