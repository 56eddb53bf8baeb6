"""Resuming a run: which run ``--ckpt_path last`` means, and a log that continues cleanly.

``--ckpt_path last`` resumes the run recorded (in its ``config.yaml``) with the same task
class, the same backbone registry name (exactly: ``egnn`` is not ``egnn-paper``) and the
same data; modification times never decide alone. Several such runs, or none, is an error
that lists the candidates. A run given with ``--run_dir`` is resumed only if it trained on
the same data.

A resumed run starts after its checkpoint's epoch; rows that a killed run logged past that
point are dropped from ``logs/metrics.csv`` (:class:`TrimLogsOnResume`), so every
(epoch, step) appears once and the curves never go backwards.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from matforge.errors import MatforgeUserError
from matforge.training.rundir import RunDirectory


class ResumeError(MatforgeUserError):
    """No run, several runs, or a run on other data matches ``--ckpt_path last``."""


@dataclass(frozen=True)
class RunRecord:
    """What a run was trained as, read from its ``config.yaml``: task class path, backbone
    registry name and data path (``None`` where the config does not say)."""

    task: str | None
    backbone: str | None
    data: str | None

    @classmethod
    def of(cls, run: RunDirectory) -> RunRecord:
        import yaml

        try:
            config = yaml.safe_load(run.config.read_text()) if run.config.is_file() else {}
        except (OSError, yaml.YAMLError):
            config = {}
        config = config if isinstance(config, dict) else {}
        model = config.get("model") if isinstance(config.get("model"), dict) else {}
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        return cls.from_parts(model.get("class_path"), (model.get("init_args") or {}).get("backbone"),
                              (data.get("init_args") or {}).get("path"))  # fmt: skip

    @classmethod
    def from_parts(cls, task: Any, backbone: Any, data: Any) -> RunRecord:
        text = lambda value: str(value) if isinstance(value, (str, os.PathLike)) else None  # noqa: E731
        return cls(text(task), text(backbone), same_data_key(text(data)))

    def describe(self) -> str:
        return f"task {self.task}, model {self.backbone}, data {self.data}"


def same_data_key(data: str | None) -> str | None:
    """A comparable form of a data path: ``devset:NAME`` as is, a directory resolved."""
    if data is None or data.startswith("devset:"):
        return data
    return str(Path(data).expanduser().resolve())


def choose_resumable(runs_root: str | os.PathLike, wanted: RunRecord) -> RunDirectory:
    """The one run under ``runs_root`` with a ``last.ckpt`` trained as ``wanted``; raises
    :class:`ResumeError` listing the candidates when there are none or several."""
    root = Path(runs_root)
    runs = [RunDirectory(p) for p in sorted(root.iterdir())] if root.is_dir() else []
    resumable = [run for run in runs if run.last_checkpoint.is_file()]
    matching = [run for run in resumable if RunRecord.of(run) == wanted]
    if len(matching) == 1:
        return matching[0]
    listing = "".join(f"\n  {run.path}  ({RunRecord.of(run).describe()})" for run in (matching or resumable))
    if matching:
        raise ResumeError(
            f"--ckpt_path last: {len(matching)} runs under {root}/ match {wanted.describe()}; say which "
            f"with --run_dir RUN (or --ckpt_path RUN/checkpoints/last.ckpt):{listing}"
        )
    raise ResumeError(
        f"--ckpt_path last: no run under {root}/ with checkpoints/last.ckpt was trained as {wanted.describe()}"
        + (f"; runs with a last checkpoint:{listing}" if resumable else "")
        + "\n(give --run_dir or a checkpoint path)"
    )


def check_same_data(run: RunDirectory, wanted: RunRecord) -> None:
    """Refuse to resume ``run`` when its recorded data differs from ``wanted.data``."""
    recorded = RunRecord.of(run)
    if recorded.data is not None and wanted.data is not None and recorded.data != wanted.data:
        raise ResumeError(
            f"{run.path} was trained on {recorded.data}, not {wanted.data}: resuming it would continue "
            "on other data; start a new run (no --ckpt_path) or pass the run's own data"
        )


def trim_metrics(path: str | os.PathLike, last_epoch: int) -> int:
    """Drop rows of a Lightning CSV log logged after epoch ``last_epoch``; returns how many."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        rows = list(reader)
    if header is None or "epoch" not in header:
        return 0
    column = header.index("epoch")

    def keep(row: list[str]) -> bool:
        try:
            return float(row[column]) <= last_epoch
        except (ValueError, IndexError):
            return True  # rows without an epoch (hyperparameters) are not the loop's

    kept = [row for row in rows if keep(row)]
    if len(kept) < len(rows):
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(kept)
        os.replace(temporary, path)
    return len(rows) - len(kept)


class TrimLogsOnResume(Callback):
    """When fit restores a checkpoint, cut ``metrics_csv`` back to the checkpoint's epoch."""

    def __init__(self, metrics_csv: str | os.PathLike) -> None:
        self.metrics_csv = Path(metrics_csv)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.is_global_zero and trainer.state.fn == "fit":
            trim_metrics(self.metrics_csv, int(checkpoint.get("epoch", -1)))
