"""``matforge predict`` output: one ``<folder>/<set>.npz`` per prediction set, in the layout of
:class:`~matforge.predictions.Predictions`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import BasePredictionWriter

from matforge.predictions import Predictions


class PredictionWriter(BasePredictionWriter):
    """Saves the :class:`~matforge.predictions.Predictions` the task's ``predict_step`` returns,
    one file per prediction set named after it (the datamodule's ``predict_names``); under DDP
    each rank writes ``<set>-rank<r>.npz``."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = Path(folder)
        self.written: list[Path] = []
        self._parts: dict[int, list[Predictions]] = {}

    def write_on_batch_end(
        self, trainer: Any, pl_module: Any, prediction: Any, batch_indices: Any, batch: Any, batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        self._parts.setdefault(dataloader_idx, []).append(prediction)

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_epoch_end(trainer, pl_module)
        names = list(getattr(trainer.datamodule, "predict_names", None) or [])
        suffix = f"-rank{trainer.global_rank}" if trainer.world_size > 1 else ""
        for idx, parts in sorted(self._parts.items()):
            name = names[idx] if idx < len(names) else ("predict" if len(self._parts) == 1 else f"predict_{idx}")
            predictions = Predictions.concatenate(parts, name=name)
            self.written.append(predictions.save(self.folder / f"{name}{suffix}.npz"))
        self._parts.clear()


def predictions_folder(checkpoint: str | Path) -> Path:
    """Where ``matforge predict`` writes a checkpoint's predictions: ``RUN/predictions`` for a
    checkpoint ``RUN/checkpoints/x.ckpt``, else a ``predictions`` folder beside the file."""
    path = Path(checkpoint)
    in_run = path.resolve().parent.name == "checkpoints"  # RunDirectory.of_checkpoint's layout
    return (path.parent.parent if in_run else path.parent) / "predictions"
