"""A training job run by the scaling tests in its own process (Lightning's DDP launcher re-runs
this script once per rank): a toy-pair property model on a small QM9 subset.

Rank 0 writes ``metrics.json`` (validation metrics after the last epoch); every rank writes
``seen-rank<R>-epoch<E>.json`` (the structures it trained on) and ``handles-rank<R>.json``
(which process opened its LMDB readers).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from matforge.data import AtomicDataModule
from matforge.tasks import PropertyTask


class Recorder(pl.Callback):
    """Writes what each rank trained on, and rank 0's final validation metrics."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seen: list[str] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen += [str(ids["sid"]) for ids in batch.ids]

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        name = f"seen-rank{trainer.global_rank}-epoch{trainer.current_epoch}.json"
        (self.out / name).write_text(json.dumps({"world_size": trainer.world_size, "sids": self.seen}))

    def on_fit_end(self, trainer, pl_module) -> None:
        train = trainer.datamodule.dataset("train")
        opened = {"pid": os.getpid(), "reader_pid": getattr(train, "_pid", None)}
        (self.out / f"handles-rank{trainer.global_rank}.json").write_text(json.dumps(opened))
        if trainer.global_rank == 0:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            (self.out / "metrics.json").write_text(json.dumps({"epoch": trainer.current_epoch, **metrics}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--num-nodes", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-atoms", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(0, workers=True)
    task = PropertyTask("toy-pair", {"hidden": 16}, properties=["gap"], lr=1e-2)
    data = AtomicDataModule(
        train=f"{args.data}/train", val={"val": f"{args.data}/val"}, batch_size=args.batch_size,
        max_atoms=args.max_atoms, targets=["gap"],
    )  # fmt: skip
    distributed = args.devices * args.num_nodes > 1
    trainer = pl.Trainer(
        accelerator="cpu", devices=args.devices, num_nodes=args.num_nodes,
        strategy="ddp" if distributed else "auto", max_epochs=args.epochs, deterministic=True,
        logger=CSVLogger(args.out, name="logs", version=""), enable_progress_bar=False,
        enable_model_summary=False, log_every_n_steps=1,
        callbacks=[Recorder(args.out), ModelCheckpoint(dirpath=args.out / "checkpoints", save_last=True)],
    )  # fmt: skip
    trainer.fit(task, datamodule=data, ckpt_path=args.resume)


if __name__ == "__main__":
    main()
