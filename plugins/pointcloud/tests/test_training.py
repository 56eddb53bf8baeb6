"""S2EF on point clouds, end to end: emt-s2ef devset frames through AtomicDataModule (the
representation runs in a DataLoader worker), the reference backbone in OC20 mode, a few
Lightning training steps on energy + force losses."""

from __future__ import annotations

import warnings

import pytorch_lightning as pl
import torch

from matforge.data import AtomicDataModule, open_dataset, write_dataset
from matforge.tasks import EnergyForceTask


def test_s2ef_trains_on_oc20_point_clouds(tmp_path):
    for split, count in (("train", 32), ("val_id", 8)):
        frames = open_dataset(f"devset:emt-s2ef/{split}", indices=range(count))
        write_dataset(tmp_path / "data" / split, list(frames), progress=False)
    data = AtomicDataModule(str(tmp_path / "data"), batch_size=8, num_workers=1)
    task = EnergyForceTask("cloud-pair", {"width": 8, "cutoff": 5.0, "max_neighbors": 24, "centres": "oc20"})
    before = [p.detach().clone() for p in task.parameters()]
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(workers|log_every_n_steps).*")
        trainer.fit(task, datamodule=data)
    assert data.representation_name == "pointcloud"
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["val_id/force_mae"]) and torch.isfinite(metrics["val_id/energy_mae"])
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, task.parameters())), "training moved no weight"
