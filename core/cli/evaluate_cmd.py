"""``matforge evaluate CHECKPOINT --data ...``: metrics on every split as a Table-2 table."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics of a checkpoint on every split, with baselines, as a table (printed, CSV and JSON)",
        description="Evaluate a checkpoint on every split of a dataset in one batched pass per split "
        "and print the metrics as a table shaped like the paper's Table 2 (rows: metrics; columns: "
        "train, val_id, val_ood_cat, val_ood_ads, val_ood_both, then other splits), each MAE "
        "followed by its baseline's (composition linear fit for energies, zero forces, training "
        "mean for properties, from the training split's statistics) and the ratio to it. Writes "
        "metrics.csv, metrics.json and predictions/<split>.npz (for 'matforge plot').",
    )
    parser.add_argument(
        "checkpoint",
        help="a .ckpt file, or a run directory (its checkpoints/best.ckpt and, unless --data is "
        "given, the data of its config.yaml)",
    )
    parser.add_argument("--data", help="devset:NAME (all its splits) or a dataset directory")
    parser.add_argument("--splits", nargs="+", help="only these splits (default: all)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the run's)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="DataLoader processes building the graphs (default: the run's, else 0)")
    parser.add_argument(
        "--out", help="output folder (default: RUN_DIR/evaluation for a run's checkpoint, else next to it)"
    )
    parser.add_argument("--no-predictions", dest="predictions", action="store_false",
                        help="skip writing per-structure predictions (used by parity plots)")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (a GPU when there is one)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar or per-split timing lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matforge.training.evaluation import evaluate

    result = evaluate(
        Path(args.checkpoint),
        data=args.data,
        splits=args.splits,
        batch_size=args.batch_size,
        out=Path(args.out) if args.out else None,
        predictions=args.predictions,
        accelerator=args.accelerator,
        progress=args.progress,
        num_workers=args.num_workers,
    )
    result.print()
    return 0
