"""The README's main job (``nox -s demo``): train EGNN with the paper's IS2RE configuration on
the synthetic EMT IS2RE devset for a few CPU epochs, then print the evaluation table (one
column per split, as in the paper's Table 2), the model against the composition baseline on
every split, and the paths of the plots.

It runs the same three commands a user types::

    matforge fit --config configs/is2re-egnn-paper.yaml ...
    matforge evaluate RUN_DIR
    matforge plot RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from matforge.cli.main import main
from matforge.training.rundir import RunDirectory

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "is2re-egnn-paper.yaml"


def matforge(*args: str) -> None:
    print(f"\n$ matforge {' '.join(args)}", flush=True)
    status = main(list(args))
    if status:
        sys.exit(status)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--epochs", type=int, default=None,
        help="training epochs (default: the config's 10, about a minute of CPU; docs/training.md)",
    )
    parser.add_argument("--runs-root", default="runs", help="where the run directory goes")
    return parser.parse_args()


def demo() -> int:
    args = parse_args()
    import torch

    # batches of 8 small slabs: a second OpenMP thread costs more than it brings
    torch.set_num_threads(1)
    start, cpu_start = time.perf_counter(), time.process_time()
    run = RunDirectory.new(args.runs_root, "is2re", "egnn-paper")
    matforge(
        "fit",
        "--config", str(CONFIG),
        *(["--trainer.max_epochs", str(args.epochs)] if args.epochs else []),
        "--trainer.accelerator", "cpu",
        "--trainer.devices", "1",
        "--run_dir", str(run.path),
    )
    trained, trained_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    matforge("evaluate", str(run.path))
    print_against_baseline(run)
    matforge("plot", str(run.path))
    total = time.perf_counter() - start
    print(
        f"\ndemo done in {total:.0f} s (training {trained:.0f} s wall, {trained_cpu:.0f} s CPU)\n"
        f"run directory:     {run.path}\n"
        f"evaluation table:  {run.evaluation / 'metrics.csv'} (and metrics.json)\n"
        f"plots:             {run.plots / 'learning_curves.png'}\n"
        f"                   {run.plots / 'parity_energy.png'}"
    )
    return 0


def print_against_baseline(run: RunDirectory) -> None:
    """Validation energy MAE of the run vs the composition baseline, as ``matforge evaluate``
    scored them (its metrics.json: the per-element linear fit of the training energies)."""
    table = json.loads((run.evaluation / "metrics.json").read_text())
    model, baseline = table["rows"]["energy_mae"], table["baseline"]["energy_mae"]
    print(f"\n{'energy MAE (eV)':<16}{'EGNN':>8}{'composition':>13}{'ratio':>7}")
    for split in table["columns"]:
        if split != "train":
            print(f"{split:<16}{model[split]:>8.4f}{baseline[split]:>13.4f}{model[split] / baseline[split]:>7.2f}")


if __name__ == "__main__":
    sys.exit(demo())
