"""The loggers and callbacks every matforge run gets unless the configuration says otherwise:
CSV logging (always), TensorBoard (when installed), ``best.ckpt`` (lowest validation loss)
and ``last.ckpt`` (end of every epoch), a stop on non-finite losses, logs trimmed back to the
checkpoint on resume, a rich progress bar on a terminal (one line per epoch in a log file),
a short parameter summary and optional early stopping. Usable from Python:
``Trainer(logger=default_loggers(run), callbacks=default_callbacks(run, task.monitor))``.
"""

from __future__ import annotations

import csv
import importlib.util
from typing import Any

from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from matforge.training.guards import StopOnNonFinite
from matforge.training.progress import ParameterSummary, progress_bar
from matforge.training.resume import TrimLogsOnResume
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


def checkpoint_callbacks(run: RunDirectory, monitor: str | None, mode: str = "min") -> list[ModelCheckpoint]:
    """``best.ckpt`` (lowest ``monitor``; the latest epoch when ``monitor`` is None) and
    ``last.ckpt``, written at the end of every epoch.

    Two callbacks: Lightning's ``save_last`` writes ``last.ckpt`` only when a top-k checkpoint
    is written, i.e. only when the monitored loss improved.
    """
    def checkpoint(filename: str, watched: str | None, save_last: bool) -> ModelCheckpoint:
        return ModelCheckpoint(dirpath=run.checkpoints, filename=filename, monitor=watched, mode=mode, save_top_k=1,
                               save_last=save_last, auto_insert_metric_name=False, enable_version_counter=False)  # fmt: skip

    if monitor is None:  # best is the latest: one callback writes both
        return [checkpoint("best", None, True)]
    return [checkpoint("best", monitor, False), checkpoint("last", None, False)]


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
    model_summary: bool = True,
    early_stopping: int | None = None,
) -> list[Callback]:
    """Progress display (:func:`~matforge.training.progress.progress_bar`), parameter summary
    and checkpoints, each only where the trainer's flags allow it; :class:`StopOnNonFinite`,
    :class:`ReleaseDatasets`, :class:`TrimLogsOnResume` for a run directory, and
    ``EarlyStopping`` on ``monitor`` after ``early_stopping`` epochs without improvement."""
    callbacks: list[Callback] = [ReleaseDatasets(), StopOnNonFinite(monitor)]
    if progress_bar:
        callbacks.append(progress_bar_callback())
    if model_summary:
        callbacks.append(ParameterSummary())
    if run is not None:
        callbacks.append(TrimLogsOnResume(run.metrics_csv))
    if checkpoints and run is not None:
        callbacks.extend(checkpoint_callbacks(run, monitor))
    if early_stopping is not None:
        if monitor is None:
            raise ValueError("early stopping needs a monitored validation metric; this task has none")
        if early_stopping < 1:
            raise ValueError(f"--early_stopping takes a number of epochs >= 1, got {early_stopping}")
        callbacks.append(EarlyStopping(monitor=monitor, mode="min", patience=early_stopping, check_finite=True))
    return callbacks


def progress_bar_callback() -> Callback:
    """The progress display for this process's stdout (rich bar on a terminal, else lines)."""
    return progress_bar()


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
    hide_lightning_adverts()
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # validate/test/predict from a checkpoint: its checkpoint callbacks matter only to fit
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks")


def hide_lightning_adverts() -> None:
    """Drop Lightning's litlogger/litmodels "Tip" adverts and its notice that tensorboardX is
    no longer a dependency, from the CLI and from plain ``Trainer`` use alike (done when
    :mod:`matforge.tasks` is imported); every other message stays. Idempotent."""
    import logging
    import warnings

    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _drop_adverts not in logger.filters:
            logger.addFilter(_drop_adverts)
    warnings.filterwarnings("ignore", message=r"Starting from v1.9.0, `tensorboardX` has been removed")


#: Lightning's adverts for its cloud products, printed as INFO records on every fit.
_ADVERTS = ("litlogger", "litmodels", "Lightning model registry", "💡 Tip",
            # and its note that matforge's own summary replaces the default one
            "Skipping setting a default `ModelSummary` callback")


def _drop_adverts(record: Any) -> bool:
    """A logging filter: False (drop) for Lightning's product tips, True for everything else."""
    message = record.getMessage() if hasattr(record, "getMessage") else str(record)
    return not any(advert in message for advert in _ADVERTS)
