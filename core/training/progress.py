"""What a run prints while it trains: a rich bar on a terminal, one line per epoch elsewhere,
and a short parameter summary.

In a log file (stdout not a terminal) a live progress bar writes each refresh as text, about a
dozen wrapped lines per epoch; :class:`EpochLineProgress` prints one line per epoch instead::

    epoch 3/10  75 steps  12.4 s  train/loss 0.2113  val/loss 0.2544  val_id/energy_mae 0.1781 ...

:class:`ParameterSummary` is Lightning's model summary without the FLOPs column and its
``Total FLOPs: 0`` (matforge's batches are not sized tensors Lightning can count FLOPs on).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelSummary, RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar
from pytorch_lightning.utilities.model_summary.model_summary import get_human_readable_count

#: Metrics an epoch line shows first, then the other per-split epoch metrics, in log order.
_FIRST = ("train/loss_epoch", "val/loss")


class EpochLineProgress(ProgressBar):
    """A progress "bar" for logs: one plain line at the end of each training epoch, with the
    epoch's loss and validation metrics (``metrics`` caps how many)."""

    def __init__(self, metrics: int = 6) -> None:
        super().__init__()
        self._enabled = True
        self._metrics = metrics
        self._start = time.perf_counter()

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()
        self._first_step = trainer.global_step

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        print(epoch_line(trainer, time.perf_counter() - self._start, trainer.global_step - self._first_step, self._metrics),
              flush=True)  # fmt: skip


def epoch_line(trainer: pl.Trainer, seconds: float, steps: int, metrics: int = 6) -> str:
    """``epoch E/N  S steps  T s  name value …`` from the trainer's logged epoch metrics."""
    logged = {k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k and not k.endswith("_step")}
    # the losses, then each validation set's MAEs (the numbers a reader compares)
    names = [k for k in _FIRST if k in logged] + [k for k in logged if k.endswith("_mae") and not k.startswith("train/")]
    total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
    values = "  ".join(f"{k.removesuffix('_epoch')} {logged[k]:.4g}" for k in names[:metrics])
    return f"epoch {trainer.current_epoch + 1}/{total}  {steps} steps  {seconds:.1f} s  {values}".rstrip()


def progress_bar(interactive: bool | None = None) -> ProgressBar:
    """A rich bar when stdout is a terminal (``interactive=None``: ask it), else epoch lines."""
    interactive = sys.stdout.isatty() if interactive is None else interactive
    return RichProgressBar(leave=True) if interactive else EpochLineProgress()


class ParameterSummary(ModelSummary):
    """Model summary: the top-level modules with their parameter counts, and the totals."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        columns = dict(summary_data)
        rows = list(zip(columns.get("Name", []), columns.get("Type", []), columns.get("Params", [])))
        width = max([len(n) for n, _, _ in rows] + [4])
        lines = [f"  {name:<{width}}  {kind:<24} {params:>8}" for name, kind, params in rows]
        lines.append(
            f"  {get_human_readable_count(int(trainable_parameters))} trainable parameters of "
            f"{get_human_readable_count(int(total_parameters))} ({model_size:.3f} MB)"
        )
        print("\n".join(lines), flush=True)
