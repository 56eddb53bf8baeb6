"""Plots of a run directory: learning curves from its CSV log, parity plots from its
evaluation predictions (evaluating the best checkpoint first when there are none)."""

from __future__ import annotations

import json
from pathlib import Path

from matforge.predictions import load_predictions
from matforge.training.curves import read_curves
from matforge.training.plotting import plot_learning_curves, plot_parity, require_matplotlib
from matforge.training.rundir import RunDirectory


def plot_run(run_path: Path, out: Path | None = None, evaluate: bool = True) -> list[Path]:
    """Write ``learning_curves.png``, ``parity_energy.png`` and (force tasks)
    ``parity_forces.png`` into ``out`` (default ``RUN/plots``); returns their paths."""
    require_matplotlib()
    run = RunDirectory(Path(run_path))
    if not run.path.is_dir():
        raise FileNotFoundError(f"no run directory at {run.path}")
    out = out or run.plots
    paths = [plot_learning_curves(read_curves(run.metrics_csv), out / "learning_curves.png", title=run.path.name)]
    predictions = load_predictions(run.evaluation / "predictions")
    if not predictions and evaluate:
        if not run.best_checkpoint.is_file():
            raise FileNotFoundError(
                f"no predictions in {run.evaluation} and no {run.best_checkpoint} to evaluate"
            )
        from matforge.training.evaluation import evaluate_run

        print(f"evaluating {run.best_checkpoint} for the parity plots")
        evaluate_run(run)
        predictions = load_predictions(run.evaluation / "predictions")
    title = f"{run.path.name}: predicted vs reference"
    for quantity, metric in (("energy", "energy_mae"), ("forces", "force_mae")):
        if any(quantity in p.references for p in predictions):
            paths.append(plot_parity(predictions, quantity, out / f"parity_{quantity}.png", title=title,
                                     baselines=baseline_maes(run, metric)))  # fmt: skip
    return paths


def baseline_maes(run: RunDirectory, metric: str) -> dict[str, float]:
    """Split → the baseline's ``metric`` from the run's ``evaluation/metrics.json`` (none if absent)."""
    path = run.evaluation / "metrics.json"
    if not path.is_file():
        return {}
    row = json.loads(path.read_text()).get("baseline", {}).get(metric, {})
    return {split: float(v) for split, v in row.items() if v is not None}
