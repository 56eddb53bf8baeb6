"""One point of ``matforge bench scaling``: train a job on N processes and time its epochs.

Run as ``python -m matforge.bench.scaling_worker '<json spec>'``; Lightning's DDP launcher
re-runs the same command once per extra process. Rank 0 writes ``{"epoch_seconds": [...]}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl


class EpochTimer(pl.Callback):
    """Wall time of each training epoch, measured on rank 0 between barriers-free hooks."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def main(spec: dict) -> None:
    from matforge.data import AtomicDataModule
    from matforge.registry import registry

    pl.seed_everything(0)
    task_cls = registry.get("task", spec["task"])
    task = task_cls(spec["model"], spec["backbone_args"] or None, **spec["task_args"])
    data = AtomicDataModule(spec["data"], batch_size=spec["batch_size"])
    n = spec["processes"]
    timer = EpochTimer()
    trainer = pl.Trainer(
        accelerator=spec["accelerator"], devices=n, strategy="ddp" if n > 1 else "auto",
        max_epochs=spec["epochs"], limit_val_batches=0, num_sanity_val_steps=0,
        limit_train_batches=spec["max_batches"] or 1.0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(task, datamodule=data)
    if trainer.global_rank == 0:
        Path(spec["out"]).write_text(json.dumps({"epoch_seconds": timer.seconds, "world_size": trainer.world_size}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
