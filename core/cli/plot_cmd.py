"""``matforge plot RUN_DIR``: PNG learning curves and parity plots of a training run."""

from __future__ import annotations

import argparse
from pathlib import Path

from matforge.install import install_hint


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="learning curves and parity plots (PNG) of a run directory",
        description="Write PNG learning curves (loss and metrics per epoch, from logs/metrics.csv) "
        "and parity plots (predicted vs reference energies and force components, MAE in the "
        "legend) of a run directory. The parity plots use RUN_DIR/evaluation/predictions; when "
        "absent, the best checkpoint is evaluated first on the data of the run's config. "
        f"Needs matplotlib: {install_hint('matforge[plot]')}.",
    )
    parser.add_argument("run_dir", help="a run directory written by 'matforge fit'")
    parser.add_argument("--out", help="folder for the PNGs (default: RUN_DIR/plots)")
    parser.add_argument(
        "--no-evaluate",
        dest="evaluate",
        action="store_false",
        help="do not evaluate the best checkpoint when predictions are missing",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matforge.training.plotting import PlottingUnavailableError
    from matforge.training.report import plot_run

    try:
        paths = plot_run(Path(args.run_dir), out=Path(args.out) if args.out else None, evaluate=args.evaluate)
    except PlottingUnavailableError as exc:
        import sys

        print(f"matforge: error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0
