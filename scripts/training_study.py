"""The training study of ``docs/training.md``: each row trains a shipped config with a few
overrides (the same arguments ``matforge fit`` takes) and prints val errors vs the baselines.

    OMP_NUM_THREADS=1 python scripts/training_study.py is2re            # every IS2RE row
    OMP_NUM_THREADS=1 python scripts/training_study.py is2re --rows 1 4  # some of them
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from matforge.testing.learning import train_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"is2re": ROOT / "configs/is2re-egnn-paper.yaml", "s2ef": ROOT / "configs/s2ef-egnn-paper.yaml"}
M = "--model.init_args."

#: study → [(label, overrides)]; the first IS2RE row is the configuration as it shipped.
ROWS: dict[str, list[tuple[str, list[str]]]] = {
    "is2re": [
        ("as shipped: per-atom scale, composition fit, exponential γ=0.6878/epoch",
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
    "s2ef": [
        ("per-atom (force RMS) scale, composition fit (default)", []),
        ("per-atom scale, no composition fit", [f"{M}composition_reference", "false"]),
        ("per-structure scale, composition fit", [f"{M}output_scale", "per_structure"]),
        ("per-atom, composition fit, exponential γ=0.6878/epoch", [f"{M}scheduler", "exponential", f"{M}warmup_epochs", "0"]),
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
    epochs = args.epochs or (20 if args.study == "is2re" else 6)
    print(f"| # | setting | val_id {metric} | baseline | ratio | worst OOD ratio | best epoch curve | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for number in chosen:
        label, overrides = rows[number - 1]
        with tempfile.TemporaryDirectory() as root:
            result = train_config(CONFIGS[args.study], epochs=epochs, overrides=overrides, runs_root=root)
        ood = max(result.ratio(s, metric) for s in result.metrics if s != "val_id")
        curve = " ".join(f"{v:.3f}" for v in result.curve[:: max(len(result.curve) // 5, 1)])
        print(
            f"| {number} | {label} | {result.metrics['val_id'][metric]:.3f} | {result.baselines['val_id'][metric]:.3f} "
            f"| {result.ratio('val_id', metric):.2f} | {ood:.2f} | {curve} | {result.train_cpu_s:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
