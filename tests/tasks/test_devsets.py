"""A short ``Trainer.fit`` of every task on the shipped devsets with the toy backbone, logging
the metric columns the CSV log gets."""

from __future__ import annotations

import csv

import pytest
from pytorch_lightning.loggers import CSVLogger

from matforge.data.datamodule import AtomicDataModule
from matforge.registry import registry


@pytest.fixture
def devset_datamodule():
    """``devset_datamodule(name)``; its datasets are closed afterwards, as the CLI does (a
    second handle on an LMDB file that is still open in the process cannot open it)."""
    opened: list[AtomicDataModule] = []

    def build(name: str) -> AtomicDataModule:
        opened.append(AtomicDataModule.from_devset(name, batch_size=4))
        return opened[-1]

    yield build
    for datamodule in opened:
        for split in ["train", *datamodule.val_names]:
            datamodule.dataset(split).close()


#: (devset, task, task arguments, metrics every validation set logs)
CASES = [
    ("emt-is2re", "is2re", {}, ["energy_mae", "energy_ewt"]),
    ("emt-is2re", "property", {"properties": ["energy_relaxed"]}, ["energy_relaxed_mae"]),
    ("emt-s2ef", "s2ef", {}, ["energy_mae", "force_mae", "force_cos"]),
    ("emt-s2ef", "is2re", {}, ["energy_mae", "energy_per_atom_mae"]),
    ("lips", "s2ef", {}, ["energy_mae", "force_rmse", "force_cos"]),
    ("lips", "is2re", {}, ["energy_mae", "energy_rmse"]),
    ("lips", "property", {"properties": ["energy"]}, ["energy_mae", "energy_rmse"]),
]


@pytest.mark.parametrize(("devset", "task_name", "args", "metrics"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_short_fit_on_devset_logs_every_split(
    devset, task_name, args, metrics, make_trainer, devset_datamodule, tmp_path
):
    datamodule = devset_datamodule(devset)
    task = registry.get("task", task_name)("toy-pair", {"hidden": 8}, **args)
    logger = CSVLogger(tmp_path, name="log", version=0)
    trainer = make_trainer(logger=logger, max_epochs=1, limit_train_batches=3, limit_val_batches=2, log_every_n_steps=1)
    trainer.fit(task, datamodule=datamodule)
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert {"train/loss_step", "train/loss_epoch", "val/loss"} <= columns
    for split in datamodule.val_names:
        for metric in ["loss", *metrics]:
            assert f"{split}/{metric}" in columns, (split, metric, sorted(columns))
