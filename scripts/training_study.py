"""The training study of ``docs/training.md``: each row trains a shipped config with a few
overrides (the same arguments ``matforge fit`` takes) and prints val errors vs the baselines.

    OMP_NUM_THREADS=1 python scripts/training_study.py is2re            # every IS2RE row
    OMP_NUM_THREADS=1 python scripts/training_study.py is2re --rows 1 4  # some of them
    OMP_NUM_THREADS=1 python scripts/training_study.py s2ef               # forces (also: lips)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from matforge.testing.learning import train_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"is2re": ROOT / "configs/is2re-egnn-paper.yaml", "s2ef": ROOT / "configs/s2ef-egnn-paper.yaml", "lips": None}
M = "--model.init_args."

S2EF_CUT = ["--trainer.limit_train_batches", "100", "--trainer.limit_val_batches", "5"]
FORCE_WEIGHTED = [f"{M}energy_weight", "0.02", f"{M}scheduler", "constant", f"{M}warmup_epochs", "0", f"{M}lr", "0.003"]
EGNN_SMALL = ('{"hidden": 32, "num_layers": 3, "edge_dims": [32, 32], "node_dims": [32], "position_dims": [32], '
              '"projection_dims": [32], "output_dims": [32], "num_radial": 16, "cutoff": 5.0}')
LIPS = ["--task", "s2ef", "--model", "egnn-paper", "--data", "devset:lips", f"{M}composition_reference", "false"]

#: study → [(label, overrides)]; the first IS2RE row is the configuration as it shipped before the study.
ROWS: dict[str, list[tuple[str, list[str]]]] = {
    "is2re": [
        ("before: per-atom scale, composition fit, exponential γ=0.6878/epoch",
         [f"{M}output_scale", "per_atom", f"{M}composition_reference", "true", f"{M}scheduler", "exponential",
          f"{M}warmup_epochs", "0"]),
        ("per-atom scale, composition fit, cosine + 1 epoch warm-up",
         [f"{M}output_scale", "per_atom", f"{M}composition_reference", "true"]),
        ("per-structure scale, composition fit, cosine + warm-up",
         [f"{M}output_scale", "per_structure", f"{M}composition_reference", "true"]),
        ("per-structure scale, no composition fit, cosine + warm-up (default)", []),
        ("no scale (eV), no composition fit, cosine + warm-up", [f"{M}output_scale", "none"]),
        ("per-structure, no fit, mean readout", [f"{M}readout", "mean"]),
        ("per-structure, no fit, exponential γ=0.6878/epoch", [f"{M}scheduler", "exponential", f"{M}warmup_epochs", "0"]),
        ("per-structure, no fit, plateau (×0.5, patience 2)", [f"{M}scheduler", "plateau"]),
        ("per-structure, no fit, cosine without warm-up", [f"{M}warmup_epochs", "0"]),
    ],
    # 300 steps (3 epochs of 100 batches), validation on 5 batches: what fits the CPU budget
    "s2ef": [
        ("egnn-paper, energy weight 1, cosine + 0.2 epoch warm-up",
         [*S2EF_CUT, f"{M}warmup_epochs", "0.2"]),
        ("egnn-paper, energy weight 0.05, cosine + 0.2 epoch warm-up",
         [*S2EF_CUT, f"{M}warmup_epochs", "0.2", f"{M}energy_weight", "0.05"]),
        ("egnn (full preset), energy weight 1, cosine + 0.2 epoch warm-up",
         [*S2EF_CUT, f"{M}warmup_epochs", "0.2", f"{M}backbone", "egnn"]),
        ("egnn 32 wide, 16 radial, 5 Å; energy weight 0.02, constant lr 3e-3",
         [*S2EF_CUT, f"{M}backbone", "egnn", f"{M}backbone_args", EGNN_SMALL, *FORCE_WEIGHTED]),
        ("egnn-paper; energy weight 0.02, constant lr 3e-3", [*S2EF_CUT, *FORCE_WEIGHTED]),
    ],
    # LiPS (devset:lips, 20 steps per epoch): no composition spread, so no composition fit
    "lips": [
        ("egnn-paper, energy weight 1, cosine + 1 epoch warm-up", [*LIPS, f"{M}scheduler", "cosine", f"{M}warmup_epochs", "1"]),
        ("egnn-paper, energy weight 0.02, constant lr 3e-3", [*LIPS, *FORCE_WEIGHTED]),
        ("egnn 32 wide, 16 radial, 5 Å; energy weight 0.02, constant lr 3e-3",
         [*LIPS, *FORCE_WEIGHTED, f"{M}backbone", "egnn", f"{M}backbone_args", EGNN_SMALL]),
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", choices=sorted(ROWS))
    parser.add_argument("--rows", type=int, nargs="*", help="row numbers (1-based; default all)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's)")
    args = parser.parse_args()
    rows = ROWS[args.study]
    chosen = args.rows or range(1, len(rows) + 1)
    metric = "energy_mae" if args.study == "is2re" else "force_mae"
    epochs = args.epochs or {"is2re": 10, "s2ef": 3, "lips": 10}[args.study]
    print(f"| # | setting | val_id {metric} | baseline | ratio | worst OOD ratio | best epoch curve | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for number in chosen:
        label, overrides = rows[number - 1]
        with tempfile.TemporaryDirectory() as root:
            result = train_config(CONFIGS[args.study], epochs=epochs, overrides=overrides, runs_root=root)
        first = "val_id" if "val_id" in result.metrics else "val"
        ood = max((result.ratio(s, metric) for s in result.metrics if s != first), default=float("nan"))
        curve = " ".join(f"{v:.3f}" for v in result.curve[:: max(len(result.curve) // 5, 1)])
        print(
            f"| {number} | {label} | {result.metrics[first][metric]:.3f} | {result.baselines[first][metric]:.3f} "
            f"| {result.ratio(first, metric):.2f} | {ood:.2f} | {curve} | {result.train_cpu_s:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
