"""Evaluate a trained task on every split of a dataset: the Table-2 metrics (through the
task's own torchmetrics, as logged in training) and per-structure predictions for parity plots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matforge.errors import InvalidValueError
from matforge.training.defaults import release_datasets
from matforge.training.predictions import SplitPredictions
from matforge.training.rundir import RunDirectory
from matforge.training.table import MetricsTable, order_splits

DEFAULT_BATCH_SIZE = 16


@dataclass
class Evaluation:
    """What :func:`evaluate` computed and where it wrote it."""

    table: MetricsTable
    out: Path
    files: list[Path] = field(default_factory=list)

    def print(self) -> None:
        from rich.console import Console

        console = Console()
        console.width = max(console.width, self.table.width())
        console.print(self.table.render(title=f"{self.table.meta.get('checkpoint')} on {self.table.meta.get('data')}"))
        for path in self.files:
            print(f"wrote {path}")


def evaluate(
    checkpoint: str | os.PathLike,
    *,
    data: str | None = None,
    splits: list[str] | None = None,
    batch_size: int | None = None,
    out: str | os.PathLike | None = None,
    predictions: bool = True,
    accelerator: str = "auto",
) -> Evaluation:
    """Metrics of ``checkpoint`` (a ``.ckpt`` or a run directory) on every split of ``data``.

    ``data`` is ``devset:NAME`` or a dataset directory; for a run directory it defaults to the
    run's training data. Writes ``metrics.csv``, ``metrics.json`` and (unless
    ``predictions=False``) ``predictions/<split>.npz`` into ``out`` (default: the run's
    ``evaluation/`` folder, else ``<checkpoint stem>-evaluation/`` beside the checkpoint).
    """
    from matforge.tasks import load_task

    checkpoint = Path(checkpoint)
    run = RunDirectory(checkpoint) if checkpoint.is_dir() else RunDirectory.of_checkpoint(checkpoint)
    if checkpoint.is_dir():
        checkpoint = run.best_checkpoint
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint at {checkpoint}")
    data = data or (run_data(run) if run else None)
    if not data:
        raise InvalidValueError("say which data to evaluate on: --data devset:NAME or a dataset directory")
    task = load_task(checkpoint)
    batch_size = batch_size or (run_batch_size(run) if run else None) or DEFAULT_BATCH_SIZE
    datamodule = evaluation_datamodule(data, splits, batch_size)
    logged = validate_on(task, datamodule, accelerator)
    meta = {"checkpoint": str(checkpoint), "data": data, "task": type(task).__name__,
            "backbone": task.hparams.get("backbone")}
    table = MetricsTable.from_logged(logged, meta=meta)
    out = Path(out) if out else (run.evaluation if run else checkpoint.with_name(f"{checkpoint.stem}-evaluation"))
    out.mkdir(parents=True, exist_ok=True)
    files = [table.write_csv(out / "metrics.csv"), table.write_json(out / "metrics.json")]
    if predictions and hasattr(task, "energy_target"):
        for split in order_splits(datamodule.val_names):
            dataset = datamodule.dataset(split)
            files.append(split_predictions(task, split, dataset, batch_size).save(out / "predictions"))
    release_datasets(datamodule)
    return Evaluation(table, out, files)


def evaluate_run(run: RunDirectory) -> Evaluation:
    """:func:`evaluate` of a run's best checkpoint on the run's data, into ``run/evaluation``."""
    return evaluate(run.path)


def evaluation_datamodule(data: str, splits: list[str] | None, batch_size: int) -> Any:
    """A DataModule with every split of ``data`` (or those in ``splits``) as a named
    validation set, the training split included."""
    from matforge.data.datamodule import AtomicDataModule, split_paths

    paths = split_paths(data)
    if splits:
        unknown = [s for s in splits if s not in paths]
        if unknown:
            raise InvalidValueError(f"{data} has no split {', '.join(unknown)}; its splits: {', '.join(paths)}")
        paths = {s: paths[s] for s in splits}
    return AtomicDataModule(val=paths, batch_size=batch_size)


def validate_on(task: Any, datamodule: Any, accelerator: str = "auto") -> dict[str, float]:
    """One validation pass over every split; ``{"<split>/<metric>": value}``."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import RichProgressBar

    from matforge.training.defaults import quiet_lightning

    quiet_lightning()
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[RichProgressBar(leave=False)],
    )
    results = trainer.validate(task, datamodule=datamodule, verbose=False)
    logged: dict[str, float] = {}
    for result in results:
        logged.update({k: float(v) for k, v in result.items()})
    return logged


def split_predictions(task: Any, split: str, dataset: Any, batch_size: int) -> SplitPredictions:
    """Predicted and reference energies (and forces, for force tasks) of one split."""
    structures = list(dataset)
    target = task.energy_target
    forces_target = task.hparams.get("forces_target") if _predicts_forces(task) else None
    result = task.predict(structures, batch_size=batch_size, forces=forces_target is not None)
    energy_ref = np.array([float(np.asarray(s.targets[target]).reshape(())) for s in structures])
    if forces_target is None:
        return SplitPredictions(split, np.asarray(result["energy"], dtype=float).reshape(-1), energy_ref)
    exclude_fixed = bool(task.hparams.get("exclude_fixed", False))
    keep = [~s.fixed if exclude_fixed else np.ones(len(s.fixed), bool) for s in structures]
    forces_pred = np.concatenate([f[k] for f, k in zip(result["forces"], keep)])
    forces_ref = np.concatenate([np.asarray(s.targets[forces_target])[k] for s, k in zip(structures, keep)])
    return SplitPredictions(split, np.asarray(result["energy"], dtype=float).reshape(-1), energy_ref,
                            forces_pred, forces_ref)


def _predicts_forces(task: Any) -> bool:
    return bool(task._prediction_defaults().get("forces"))


def run_data(run: RunDirectory) -> str | None:
    """The dataset a run trained on, from its ``config.yaml`` (``data.init_args.path``)."""
    init_args = _run_config(run).get("data", {}).get("init_args", {}) or {}
    return init_args.get("path")


def run_batch_size(run: RunDirectory) -> int | None:
    init_args = _run_config(run).get("data", {}).get("init_args", {}) or {}
    return init_args.get("batch_size")


def _run_config(run: RunDirectory) -> dict[str, Any]:
    if not run.config.is_file():
        return {}
    import yaml

    return yaml.safe_load(run.config.read_text()) or {}
