"""``matforge list [KIND [NAME]]``: registered components by kind, with provider and summary;
with a NAME, that component's constructor arguments with defaults and docs."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list registered components (backbones, representations, tasks, datasets)",
        description="List registered components (nothing is imported beyond plugin hook modules). "
        "'matforge list backbone NAME' (or 'model NAME') shows one component's arguments with "
        "their defaults and docs (this imports it).",
    )
    parser.add_argument("kind", nargs="?", help="only this kind (backbone or its alias model, representation, task, dataset, ...)")
    parser.add_argument("name", nargs="?", help="show this component's arguments, defaults and docs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matforge.registry import registry

    if args.name is not None:
        return _show_one(registry, args.kind, args.name, args.json)
    infos = registry.infos(args.kind)
    if args.json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"matforge {args.kind + 's' if args.kind else 'components'}")
    for column in ("kind", "name", "provided by", "summary"):
        table.add_column(column, overflow="fold")
    for i in infos:
        name = i.name + (f" ({', '.join(i.aliases)})" if i.aliases else "")
        provider = f"{i.distribution} {i.version}" if i.distribution else i.plugin
        # Plugins write these texts: escape them, "[/]" in a summary is not rich markup.
        table.add_row(i.kind, escape(name), escape(provider), escape(i.summary))
    Console().print(table)
    return 0


def _show_one(registry: Any, kind: str, name: str, as_json: bool) -> int:
    from matforge.interfaces import REQUIRED, backbone_arguments

    info = registry.info(kind, name)
    arguments = backbone_arguments(registry.get(kind, name))
    rows = [
        {
            "name": a.name,
            "default": None if a.default is REQUIRED else a.default,
            "required": a.default is REQUIRED,
            "type": a.annotation,
            "doc": a.doc,
        }
        for a in arguments or []
    ]
    if as_json:
        import dataclasses
        import json

        print(json.dumps({**dataclasses.asdict(info), "arguments": rows}, indent=2, default=repr))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    provider = f"{info.distribution} {info.version}" if info.distribution else info.plugin
    console = Console()
    console.print(f"{info.kind} {info.name} ({provider}): {info.summary}", markup=False, highlight=False)
    if arguments is None:
        console.print("arguments: any keyword arguments (**kwargs)", markup=False, highlight=False)
        return 0
    table = Table(title=f"arguments of {escape(info.name)} (--model.init_args.backbone_args.NAME VALUE)" if info.kind == "backbone" else f"arguments of {escape(info.name)}")
    for column in ("argument", "default", "type", "doc"):
        table.add_column(column, overflow="fold")
    for row in rows:
        default = "(required)" if row["required"] else repr(row["default"])
        table.add_row(escape(row["name"]), escape(default), escape(row["type"]), escape(row["doc"]))
    console.print(table)
    return 0
