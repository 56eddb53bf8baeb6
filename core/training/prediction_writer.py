"""``matforge predict`` output: one ``<run>/predictions/<set>.npz`` per prediction set."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from pytorch_lightning.callbacks import BasePredictionWriter


class PredictionWriter(BasePredictionWriter):
    """Saves what the task's ``predict_step`` returns, in physical units.

    Each file holds per-structure values with leading dimension G (``energy`` eV, ``stress``
    eV/Å³, properties), per-atom values concatenated over structures (``forces`` [N, 3] eV/Å)
    with ``num_atoms`` [G] to split them, and each structure's ``sid`` and dataset ``index``.
    """

    def __init__(self, folder: str | Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = Path(folder)
        self.written: list[Path] = []
        self._parts: dict[int, dict[str, list[np.ndarray]]] = {}

    def write_on_batch_end(
        self, trainer: Any, pl_module: Any, prediction: Any, batch_indices: Any, batch: Any, batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        parts = self._parts.setdefault(dataloader_idx, defaultdict(list))
        for name, value in prediction.items():
            parts[name].append(value.detach().to("cpu").numpy())
        parts["num_atoms"].append(batch.num_atoms.cpu().numpy())
        parts["sid"].append(np.array([str(ids.get("sid")) for ids in batch.ids]))
        parts["index"].append(np.array([int(ids.get("index", -1)) for ids in batch.ids]))

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_epoch_end(trainer, pl_module)
        names = list(getattr(trainer.datamodule, "predict_names", None) or [])
        suffix = f"-rank{trainer.global_rank}" if trainer.world_size > 1 else ""
        self.folder.mkdir(parents=True, exist_ok=True)
        for idx, parts in sorted(self._parts.items()):
            name = names[idx] if idx < len(names) else ("predict" if len(self._parts) == 1 else f"predict_{idx}")
            path = self.folder / f"{name}{suffix}.npz"
            np.savez_compressed(path, **{k: np.concatenate(v) for k, v in parts.items()})
            self.written.append(path)
        self._parts.clear()
