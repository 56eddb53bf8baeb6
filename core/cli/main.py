"""Entry point of the ``matforge`` command.

``fit``, ``validate``, ``test`` and ``predict`` are handed to Lightning's CLI
(:mod:`matforge.cli.train`); the other commands are argparse sub-commands, each defined by
an ``add_parser(subparsers)`` function in its own module. Plugins add commands through the
``matforge_add_cli_commands`` hook. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from matforge._version import __version__

#: Commands handled by Lightning's CLI (jsonargparse) rather than argparse.
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

#: Modules defining argparse sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "matforge.cli.plugins_cmd",
    "matforge.cli.list_cmd",
    "matforge.cli.data_cmd",
    "matforge.cli.evaluate_cmd",
    "matforge.cli.plot_cmd",
    "matforge.cli.bench_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matforge",
        description=(
            "Machine learning on atomistic materials data. Training commands "
            f"({', '.join(LIGHTNING_COMMANDS)}) take Lightning CLI options: "
            "'matforge fit --help'."
        ),
    )
    parser.add_argument("--version", action="version", version=f"matforge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in LIGHTNING_COMMANDS:
        subparsers.add_parser(name, help=f"{name} a model (Lightning CLI; see 'matforge {name} --help')", add_help=False)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    _add_plugin_commands(subparsers)
    return parser


def _add_plugin_commands(subparsers: argparse._SubParsersAction) -> None:
    """Each working plugin's ``matforge_add_cli_commands``, one at a time: a plugin whose hook
    raises is reported as broken (``matforge plugins``) and the commands it added are
    removed again, so every other command still works."""
    from matforge.plugins import hook_failed, plugin_callers
    from matforge.registry import registry

    manager = registry.plugin_manager
    if manager is None:
        return
    for status, caller in plugin_callers(manager, registry.plugins(), "matforge_add_cli_commands"):
        choices, actions = dict(subparsers.choices), list(subparsers._choices_actions)
        try:
            caller(subparsers=subparsers)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            # Drop what the failing hook added (argparse has no public way to remove a command).
            subparsers.choices.clear()
            subparsers.choices.update(choices)
            subparsers._choices_actions[:] = actions
            hook_failed(status, "matforge_add_cli_commands", exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in LIGHTNING_COMMANDS:
        from matforge.cli.train import run_lightning_cli

        return run_lightning_cli(args)
    # --debug anywhere on the line: tracebacks for user errors too (every command).
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        parser = build_parser()  # MATFORGE_STRICT_PLUGINS=1 turns a plugin's failure into an error
        namespace = parser.parse_args(args)
        if not getattr(namespace, "func", None):
            parser.print_help()
            return 0
        result = namespace.func(namespace)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from matforge.cli.errors import report_error

        return report_error(exc, debug)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
