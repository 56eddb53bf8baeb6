"""``matforge plugins``: the installed plugins, their versions, status and components."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins with version, status and components",
        description="List installed matforge plugins (entry-point group 'matforge.plugins'). "
        "Loads each plugin's small hook module, never its model code.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matforge.registry import registry

    statuses = registry.plugins()
    # Non-zero when a plugin is broken, so scripts and CI notice.
    exit_code = 0 if all(s.status in ("ok", "disabled") for s in statuses) else 1
    if args.json:
        import json

        print(json.dumps([
            {
                "plugin": s.name,
                "distribution": s.spec.distribution,
                "version": s.spec.version,
                "status": s.status,
                "components": s.components,
                "error": s.error,
            }
            for s in statuses
        ], indent=2))
        return exit_code
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="matforge plugins")
    for column in ("plugin", "distribution", "version", "status", "components"):
        table.add_column(column, overflow="fold")
    styles = {"ok": "green", "disabled": "yellow"}
    for s in statuses:
        # Everything a plugin supplies is escaped: "[/]" in an error text is not markup.
        detail = escape(", ".join(s.components)) if s.components else "-"
        if s.error:
            error = f"[red]{escape(s.error)}[/red]"
            detail = f"{detail}\n{error}" if s.components else error
        table.add_row(
            escape(s.name),
            escape(s.spec.distribution or "-"),
            escape(s.spec.version or "-"),
            f"[{styles.get(s.status, 'red')}]{s.status}[/]",
            detail,
        )
    Console().print(table)
    return exit_code
