"""``matforge list [KIND]``: registered components by kind, with provider and summary."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list registered components (models, representations, tasks, datasets)",
        description="List registered components. Nothing is imported beyond plugin hook modules.",
    )
    parser.add_argument("kind", nargs="?", help="only this kind (model, representation, task, dataset, ...)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matforge.registry import registry

    infos = registry.infos(args.kind)
    if args.json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"matforge {args.kind + 's' if args.kind else 'components'}")
    for column in ("kind", "name", "provided by", "summary"):
        table.add_column(column, overflow="fold")
    for i in infos:
        name = i.name + (f" ({', '.join(i.aliases)})" if i.aliases else "")
        provider = f"{i.distribution} {i.version}" if i.distribution else i.plugin
        table.add_row(i.kind, name, provider, i.summary)
    Console().print(table)
    return 0
