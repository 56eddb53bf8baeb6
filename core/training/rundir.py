"""Run directories: one folder per training run, laid out the same way every time.

::

    runs/<task>-<model>-<YYYYmmdd-HHMMSS>/
        config.yaml            the full resolved configuration (LightningCLI)
        checkpoints/best.ckpt  best on the monitored validation metric
        checkpoints/last.ckpt  end of the last epoch (resume with --ckpt_path last)
        logs/metrics.csv       Lightning CSV log (one row per logging step/epoch)
        tensorboard/           TensorBoard events, when tensorboard is installed
        evaluation/            metrics.csv, metrics.json, predictions/<split>.npz
        predictions/<set>.npz  matforge predict with one of this run's checkpoints
        plots/                 learning_curves.png, parity_<split>.png
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: Environment variable carrying the run directory to DDP worker processes, which re-run the
#: command line and must not invent a second timestamp.
RUN_DIR_ENV = "MATFORGE_RUN_DIR"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class RunDirectory:
    """The folder of one run and the standard places inside it."""

    path: Path

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def metrics_csv(self) -> Path:
        return self.logs / "metrics.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def evaluation(self) -> Path:
        return self.path / "evaluation"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def make(self) -> RunDirectory:
        """Create the folder and its checkpoint and log folders; returns ``self``."""
        for folder in (self.path, self.checkpoints, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @classmethod
    def new(cls, runs_root: str | os.PathLike, task: str, model: str, now: datetime | None = None) -> RunDirectory:
        """``runs_root/<task>-<model>-<timestamp>``, with a suffix if that name is taken."""
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        base = Path(runs_root) / f"{_safe(task)}-{_safe(model)}-{stamp}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return cls(path)

    @classmethod
    def latest(cls, runs_root: str | os.PathLike, task: str, model: str) -> RunDirectory | None:
        """The newest run of ``task`` and ``model`` under ``runs_root`` with a last checkpoint."""
        root = Path(runs_root)
        if not root.is_dir():
            return None
        prefix = f"{_safe(task)}-{_safe(model)}-"
        candidates = [
            cls(p) for p in root.iterdir()
            if p.name.startswith(prefix) and (p / "checkpoints" / "last.ckpt").is_file()
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda run: run.last_checkpoint.stat().st_mtime)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | os.PathLike) -> RunDirectory | None:
        """The run a checkpoint ``RUN/checkpoints/x.ckpt`` belongs to, if it is laid out so."""
        path = Path(checkpoint).resolve()
        if path.parent.name == "checkpoints":
            return cls(path.parent.parent)
        return None


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "run"
