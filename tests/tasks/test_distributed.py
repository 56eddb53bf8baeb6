"""Under DDP the metrics are synced over all ranks' samples (torchmetrics state sync)."""

from __future__ import annotations

import numpy as np
import pytest
import torch.distributed

from matforge.tasks import EnergyTask


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_rank_validation_metrics_cover_both_ranks(
    clusters, make_trainer, make_datamodule, monkeypatch, pytestconfig
):
    # spawned ranks unpickle the test datamodule by module name: let them import it
    monkeypatch.syspath_prepend(str(pytestconfig.rootpath))
    val = clusters[:8]  # 4 structures per rank, no sampler padding
    task = EnergyTask("toy-pair", {"hidden": 8})
    task.set_statistics(None)
    expected = task.predict(val)["energy"] - np.array([float(s.targets["energy"]) for s in val])
    trainer = make_trainer(strategy="ddp_spawn", devices=2)
    trainer.validate(task, datamodule=make_datamodule(val, val={"val_id": val}, batch_size=2))
    assert float(trainer.callback_metrics["val_id/energy_mae"]) == pytest.approx(np.abs(expected).mean(), rel=1e-5)
    assert float(trainer.callback_metrics["val_id/energy_rmse"]) == pytest.approx(
        np.sqrt((expected**2).mean()), rel=1e-5
    )
