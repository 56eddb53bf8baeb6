"""The loggers and callbacks every matforge run gets unless the configuration says otherwise:
CSV logging (always), TensorBoard (when installed), best and last checkpoints, a rich
progress bar. Usable from Python: ``Trainer(logger=default_loggers(run), ...)``.
"""

from __future__ import annotations

import csv
import importlib.util
from typing import Any

from pytorch_lightning.callbacks import Callback, ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from matforge.training.rundir import RunDirectory


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued (a resumed
    run) rather than deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])


class RunCSVLogger(CSVLogger):
    """:class:`CSVLogger` that appends to the run's ``metrics.csv`` when training resumes."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def default_loggers(run: RunDirectory) -> list[Logger]:
    """CSV log at ``run/logs/metrics.csv`` plus TensorBoard at ``run/tensorboard`` if installed."""
    loggers: list[Logger] = [RunCSVLogger(save_dir=run.path, name="logs", version="")]
    if tensorboard_available():
        loggers.append(TensorBoardLogger(save_dir=run.path, name="tensorboard", version="", default_hp_metric=False))
    return loggers


def checkpoint_callback(run: RunDirectory, monitor: str | None, mode: str = "min") -> ModelCheckpoint:
    """``best.ckpt`` (lowest ``monitor``; the latest epoch when ``monitor`` is None) and ``last.ckpt``."""
    return ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def release_datasets(datamodule: Any) -> None:
    """Close the LMDB environments a matforge DataModule opened, so that another DataModule
    in the same process (an evaluation after training) can open the same files."""
    names = [*getattr(datamodule, "val_names", []), *getattr(datamodule, "test_names", [])]
    if getattr(datamodule, "statistics", None) is not None:
        names.insert(0, "train")
    for name in names:
        dataset = datamodule.dataset(name)
        if hasattr(dataset, "close"):
            dataset.close()


class ReleaseDatasets(Callback):
    """Closes the DataModule's datasets when fit, validate, test or predict ends."""

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "dataset"):
            release_datasets(datamodule)


def default_callbacks(
    run: RunDirectory | None,
    monitor: str | None,
    *,
    progress_bar: bool = True,
    checkpoints: bool = True,
) -> list[Callback]:
    """Rich progress bar and checkpoints, each only where the trainer's flags allow it, and
    :class:`ReleaseDatasets`."""
    callbacks: list[Callback] = [ReleaseDatasets()]
    if progress_bar:
        callbacks.append(RichProgressBar(leave=True))
    if checkpoints and run is not None:
        callbacks.append(checkpoint_callback(run, monitor))
    return callbacks


def flag_enabled(trainer_config: dict[str, Any], key: str) -> bool:
    """Trainer flags such as ``enable_progress_bar`` default to on when left as None."""
    return trainer_config.get(key) is not False


def quiet_lightning() -> None:
    """Hide Lightning's start-up chatter (accelerator lines, tips) and a known deprecation
    warning it raises with recent torch; warnings about the run itself stay."""
    import logging
    import warnings

    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # validate/test/predict from a checkpoint: its checkpoint callbacks matter only to fit
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks")
