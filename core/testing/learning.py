"""Does a model learn? Train a configuration briefly and compare it with the trivial baselines.

For learning tests of model plugins (``@pytest.mark.slow``) and for the training study in
``docs/training.md``::

    from matforge.testing.learning import train_config

    result = train_config("configs/is2re-egnn-paper.yaml", epochs=20, runs_root=tmp_path)
    assert result.ratio("val_id", "energy_mae") <= 0.75    # ≥ 25% below the composition fit

Training runs through ``matforge fit`` itself (the configuration's defaults, plus
``overrides`` in command-line form), then the best checkpoint predicts every validation split
and the errors are computed here, next to the baselines measured on the same structures:

* ``energy_mae`` (eV) vs the composition baseline: a per-element linear least-squares fit of
  the training energies (with a constant), the best a model that only counts atoms can do;
* ``force_mae`` (eV/Å, free atoms when the task excludes fixed ones) vs zero forces.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matforge.elements import MAX_ATOMIC_NUMBER


@dataclass
class LearningResult:
    """Validation errors of a briefly trained model and of the baselines on the same splits.

    Attributes:
        run: the run directory ``matforge fit`` wrote.
        metrics: split → {``energy_mae`` (eV), ``force_mae`` (eV/Å)} of the best checkpoint.
        baselines: split → the same metrics of the baselines (composition fit, zero forces).
        curve: the monitored validation loss per epoch, as logged.
        train_cpu_s: CPU seconds of this process spent in ``matforge fit``.
    """

    run: Path
    metrics: dict[str, dict[str, float]]
    baselines: dict[str, dict[str, float]]
    curve: list[float] = field(default_factory=list)
    train_cpu_s: float = 0.0

    def ratio(self, split: str, metric: str) -> float:
        """Model error / baseline error (below 1: better than the baseline)."""
        return self.metrics[split][metric] / self.baselines[split][metric]

    def table(self) -> str:
        """Plain-text table: one row per split and metric, model, baseline and ratio."""
        lines = [f"{'split':<14}{'metric':<12}{'model':>10}{'baseline':>10}{'ratio':>8}"]
        for split, values in self.metrics.items():
            for metric, value in values.items():
                base = self.baselines[split][metric]
                lines.append(f"{split:<14}{metric:<12}{value:>10.4f}{base:>10.4f}{value / base:>8.2f}")
        return "\n".join(lines)


def composition_matrix(structures: Sequence[Any]) -> np.ndarray:
    """[S, 120] atom counts per atomic number (0–118) plus a constant column."""
    counts = np.zeros((len(structures), MAX_ATOMIC_NUMBER + 2))
    for row, structure in zip(counts, structures):
        np.add.at(row, np.asarray(structure.atomic_numbers), 1.0)
    counts[:, -1] = 1.0
    return counts


def energies(structures: Sequence[Any], target: str) -> np.ndarray:
    """[S] values of the per-structure target ``target`` (eV)."""
    return np.array([float(np.asarray(s.targets[target]).reshape(())) for s in structures])


def composition_fit(train: Sequence[Any], target: str) -> np.ndarray:
    """Coefficients [120] of the least-squares fit of ``target`` on atom counts of ``train``."""
    coefficients, *_ = np.linalg.lstsq(composition_matrix(train), energies(train, target), rcond=None)
    return coefficients


def composition_baseline_mae(train: Sequence[Any], structures: Sequence[Any], target: str) -> float:
    """MAE (eV) on ``structures`` of the per-element linear fit of ``target`` on ``train``."""
    predicted = composition_matrix(structures) @ composition_fit(train, target)
    return float(np.mean(np.abs(predicted - energies(structures, target))))


def train_config(
    config: str | os.PathLike | None,
    *,
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    runs_root: str | os.PathLike = "runs",
    splits: Sequence[str] | None = None,
    threads: int | None = 1,
) -> LearningResult:
    """Train ``config`` for ``epochs`` epochs on CPU and measure it against the baselines.

    ``config``: a config file, or ``None`` to give everything in ``overrides`` (the CLI's
    shorthands work: ``"--task", "s2ef", "--model", "egnn", "--data", "devset:lips"``);
    ``epochs``: ``None`` keeps the config's ``max_epochs``. ``overrides`` are extra
    ``matforge fit`` arguments (``"--model.init_args.lr", "1e-3"``);
    ``splits`` the validation splits to score (default: all of the run's validation sets);
    ``threads`` sets ``torch.set_num_threads`` for the run (restored afterwards; ``None``
    leaves it). Raises ``RuntimeError`` when ``matforge fit`` fails.
    """
    import torch

    from matforge.cli.main import main
    from matforge.data.datamodule import AtomicDataModule
    from matforge.tasks import load_task
    from matforge.training.evaluation import run_data
    from matforge.training.rundir import RunDirectory

    run = RunDirectory.new(runs_root, "learning", Path(config).stem if config is not None else "run")
    args = [
        "fit", *(["--config", os.fspath(config)] if config is not None else []),
        *(["--trainer.max_epochs", str(epochs)] if epochs is not None else []),
        "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--run_dir", str(run.path), *overrides,
    ]  # fmt: skip
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        start = time.process_time()
        status = main(args)
        cpu = time.process_time() - start
    finally:
        torch.set_num_threads(previous)
    if status != 0:
        raise RuntimeError(f"matforge {' '.join(args)} exited with status {status}")

    from matforge.baselines import baseline_metrics, prediction_metrics

    task = load_task(run.best_checkpoint)
    task.eval()
    datamodule = AtomicDataModule(run_data(run))
    statistics = datamodule.statistics
    metrics: dict[str, dict[str, float]] = {}
    baselines: dict[str, dict[str, float]] = {}
    for split in splits or datamodule.val_names:
        predicted = task.predict(list(datamodule.dataset(split)))  # forces where the task trains them
        names = ["energy_mae", *(["force_mae"] if "forces" in predicted else [])]
        model, baseline = prediction_metrics(predicted), baseline_metrics(predicted, statistics)
        metrics[split] = {name: model[name] for name in names}
        baselines[split] = {name: baseline[name] for name in names}
    return LearningResult(run.path, metrics, baselines, validation_curve(run.metrics_csv), cpu)


def validation_curve(metrics_csv: str | os.PathLike, metric: str = "loss") -> list[float]:
    """Per-epoch values of the first validation set's ``metric`` from a run's CSV log."""
    from matforge.training.curves import read_curves

    curves = read_curves(metrics_csv).get(metric, {})
    splits = [s for s in ("val_id", "val") if s in curves] or sorted(s for s in curves if s.startswith("val"))
    return [value for _, value in curves[splits[0]]] if splits else []
