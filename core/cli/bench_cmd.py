"""``matforge bench scaling``: LitMatter's epoch time vs processes experiment on this machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matforge.errors import InvalidValueError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="measure training on this machine (scaling)")
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    scaling = commands.add_parser(
        "scaling",
        help="epoch time against the number of processes/devices, fitted as t = α·n^(−β)",
        description="Train the same job on 1, 2, 4, … processes (CPU cores, or GPUs with "
        "--accelerator gpu) under Lightning's DDP, time the epochs after the first, fit "
        "t = α·n^(−β) (LitMatter) and write scaling.json and scaling.png to --out. The batch "
        "size is per process, so the global batch grows with n, as in LitMatter.",
    )
    scaling.add_argument("--model", default="egnn", help="registry model (default egnn)")
    scaling.add_argument("--task", default="is2re", help="registry task (default is2re)")
    scaling.add_argument("--data", default="devset:emt-is2re", help="dataset or devset (default devset:emt-is2re)")
    scaling.add_argument("--processes", type=int, nargs="+", default=None, metavar="N",
                         help="process counts (default 1, 2, 4, … up to the cores or GPUs)")  # fmt: skip
    scaling.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"), help="cpu (default) or gpu")
    scaling.add_argument("--epochs", type=int, default=3, help="epochs per point; the first is not timed (default 3)")
    scaling.add_argument("--batch-size", type=int, default=8, help="structures per process and step (default 8)")
    scaling.add_argument("--max-batches", type=int, default=None, help="limit the batches of each epoch")
    scaling.add_argument("--out", default="scaling", help="folder for scaling.json and scaling.png (default ./scaling)")
    scaling.set_defaults(func=run_scaling_cmd)


def run_scaling_cmd(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from matforge.bench.scaling import (
        ScalingJob,
        available_processes,
        default_counts,
        run_scaling,
        write_plot,
    )

    console = Console()
    if args.epochs < 2:
        raise InvalidValueError("--epochs must be >= 2: the first epoch pays for start-up and is not timed")
    limit = available_processes(args.accelerator)
    if limit < 1:
        raise InvalidValueError(f"no {args.accelerator} devices on this machine")
    counts = args.processes or default_counts(limit)
    job = ScalingJob(model=args.model, task=args.task, data=args.data, batch_size=args.batch_size,
                     epochs=args.epochs, accelerator=args.accelerator, max_batches=args.max_batches)  # fmt: skip
    out = Path(args.out)
    console.print(f"scaling: {job.model} ({job.task}) on {job.data}, {args.accelerator} processes {counts}")
    report = run_scaling(job, counts, out, echo=console.print)
    table = Table(title="epoch time vs processes")
    for column in ("processes", "threads each", "epoch (s)", "speed-up", "efficiency"):
        table.add_column(column, justify="right")
    base = report["points"][0]
    for p in report["points"]:
        speedup = base["epoch_seconds"] / p["epoch_seconds"] * base["processes"]
        table.add_row(str(p["processes"]), str(p["threads_per_process"]), f"{p['epoch_seconds']:.3f}",
                      f"{speedup:.2f}×", f"{speedup / p['processes']:.0%}")  # fmt: skip
    console.print(table)
    if report["fit"] is not None:
        fit = report["fit"]
        console.print(f"fit: t = {fit['alpha']:.4g} s · n^(−{fit['beta']:.3f}), R² = {fit['r2']:.3f}  "
                      "(LitMatter: β = 0.78 DimeNet, 0.59 NNConv, 0.42 SchNet, 0.21 PNA)")  # fmt: skip
    if report["note"]:
        console.print(f"note: {report['note']}")
    (out / "scaling.json").write_text(json.dumps(report, indent=1) + "\n")
    plotted = write_plot(report, out / "scaling.png")
    console.print(f"wrote {out / 'scaling.json'}" + (f" and {out / 'scaling.png'}" if plotted else " (no PNG: matplotlib is not installed)"))
    return 0
