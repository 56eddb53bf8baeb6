"""Training stops on a non-finite loss, before the bad step reaches the weights or a checkpoint.

A NaN or infinite loss (a learning rate far too high, an overflow) used to run on for epochs
and save NaN weights as ``best.ckpt``. :class:`StopOnNonFinite` checks the loss before every
backward pass and the validation loss and weights before any checkpoint of that epoch is
written (Lightning runs checkpoint callbacks after all others), and stops the run with
:class:`NonFiniteLossError`, naming the step and the last checkpoint that was written.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from matforge.errors import MatforgeUserError


class NonFiniteLossError(MatforgeUserError):
    """Training produced a non-finite loss or non-finite weights; the run was stopped."""


class StopOnNonFinite(Callback):
    """Raises :class:`NonFiniteLossError` at the first non-finite training loss, validation
    loss (``monitor``) or weight; nothing of that step is applied or saved."""

    def __init__(self, monitor: str | None = None) -> None:
        self.monitor = monitor
        self._saved: tuple[int, int] | None = None  # (epoch, global step) of the last save

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            self._stop(trainer, f"the training loss is {float(loss.detach().float().mean())}")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
        if value is not None and not bool(torch.isfinite(torch.as_tensor(value)).all()):
            self._stop(trainer, f"the validation loss {self.monitor} is {float(value)}")
        bad = next((name for name, p in pl_module.named_parameters() if not bool(torch.isfinite(p).all())), None)
        if bad is not None:
            self._stop(trainer, f"weight {bad} is not finite")

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._saved = (int(checkpoint.get("epoch", trainer.current_epoch)), int(checkpoint.get("global_step", trainer.global_step)))

    def _stop(self, trainer: pl.Trainer, what: str) -> None:
        raise NonFiniteLossError(
            f"training stopped at epoch {trainer.current_epoch}, step {trainer.global_step}: {what}; "
            f"{self._last_good(trainer)}. Lower --model.init_args.lr, or add gradient clipping "
            "(--trainer.gradient_clip_val 1.0), and resume from that checkpoint or start again"
        )

    def _last_good(self, trainer: pl.Trainer) -> str:
        paths = [p for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)
                 for p in (cb.last_model_path, cb.best_model_path) if p]  # fmt: skip
        path = next((p for p in paths if p.endswith("last.ckpt")), paths[0] if paths else None)
        if path is None or self._saved is None:
            return "no checkpoint was written before it (nothing to resume from)"
        epoch, step = self._saved
        return f"the last good checkpoint is {path} (epoch {epoch}, step {step})"
