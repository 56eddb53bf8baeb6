"""Logged metrics equal hand computations, per named validation set."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from pytorch_lightning.loggers import CSVLogger

from matforge.tasks import EnergyForceTask, PropertyTask


def _hand_metrics(pred, structures, *, exclude_fixed: bool) -> dict[str, float]:
    energy = np.array([float(s.targets["energy"]) for s in structures])
    atoms = np.array([s.num_atoms for s in structures])
    error = pred["energy"] - energy
    keep = [~s.fixed if exclude_fixed else np.ones(s.num_atoms, bool) for s in structures]
    f_pred = np.concatenate([f[k] for f, k in zip(pred.per_structure("forces"), keep)])
    f_ref = np.concatenate([s.targets["forces"][k] for s, k in zip(structures, keep)])
    cos = (f_pred * f_ref).sum(1) / (np.linalg.norm(f_pred, axis=1) * np.linalg.norm(f_ref, axis=1))
    return {
        "energy_mae": np.abs(error).mean(),
        "energy_rmse": np.sqrt((error**2).mean()),
        "energy_ewt": (np.abs(error) < 0.02).mean(),
        "energy_per_atom_mae": (np.abs(error) / atoms).mean(),
        "force_mae": np.abs(f_pred - f_ref).mean(),
        "force_rmse": np.sqrt(((f_pred - f_ref) ** 2).mean()),
        "force_cos": cos.mean(),
    }


@pytest.mark.parametrize("exclude_fixed", [True, False])
def test_validation_metrics_equal_a_hand_computation(clusters, make_trainer, make_datamodule, exclude_fixed):
    val = clusters[:6]
    task = EnergyForceTask("toy-pair", {"hidden": 8}, exclude_fixed=exclude_fixed)
    trainer = make_trainer()
    # batches of 4: two batches of unequal size, so epoch accumulation is exercised
    trainer.validate(task, datamodule=make_datamodule(clusters[6:], val={"val_id": val}, batch_size=4))
    expected = _hand_metrics(task.predict(val), val, exclude_fixed=exclude_fixed)
    for name, value in expected.items():
        assert float(trainer.callback_metrics[f"val_id/{name}"]) == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_energy_within_threshold_counts_errors_below_20_mev(clusters, make_trainer, make_datamodule):
    val = [s.copy() for s in clusters[:4]]
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    task.set_statistics(None)
    predicted = task.predict(val)["energy"]
    for s, e, offset in zip(val, predicted, [0.0, 0.019, -0.021, 0.5]):
        s.targets["energy"] = np.asarray(e + offset)
    trainer = make_trainer()
    trainer.validate(task, datamodule=make_datamodule(val, val={"val_id": val}))
    assert float(trainer.callback_metrics["val_id/energy_ewt"]) == pytest.approx(0.5)


def test_two_named_validation_sets_are_logged_under_their_names(
    clusters, make_trainer, make_datamodule, tmp_path
):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    logger = CSVLogger(tmp_path, name="log", version=0)
    trainer = make_trainer(logger=logger, max_epochs=1, log_every_n_steps=1)
    val = {"val_id": clusters[:4], "val_ood_ads": clusters[4:6]}
    trainer.fit(task, datamodule=make_datamodule(clusters[6:14], val=val))
    with open(logger.log_dir + "/metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    for split in ("val_id", "val_ood_ads"):
        for metric in ("loss", "energy_mae", "energy_ewt", "force_mae", "force_cos"):
            assert f"{split}/{metric}" in columns, (split, metric, sorted(columns))
    assert {"train/loss_step", "train/loss_epoch", "train/energy_mae"} <= columns
    assert not any("dataloader_idx" in c for c in columns)


def test_property_metrics_are_named_after_the_targets(clusters, make_trainer, make_datamodule):
    task = PropertyTask("toy-pair", {"hidden": 8}, properties=["energy"])
    trainer = make_trainer()
    val = clusters[:5]
    trainer.validate(task, datamodule=make_datamodule(clusters[5:], val={"val": val}))
    error = task.predict(val)["energy"] - np.array([float(s.targets["energy"]) for s in val])
    assert float(trainer.callback_metrics["val/energy_mae"]) == pytest.approx(np.abs(error).mean(), rel=1e-4)
    assert float(trainer.callback_metrics["val/energy_rmse"]) == pytest.approx(np.sqrt((error**2).mean()), rel=1e-4)
