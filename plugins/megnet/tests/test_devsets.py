"""``megnet`` beyond OC20-style data: forces on LiPS (periodic bulk, no tags) and a QM9
property through the per-structure Set2Set output (slow: short CPU training runs)."""

from __future__ import annotations

import pytest
import torch

from matforge.data import AtomicDataModule
from matforge.interfaces import build_representation
from matforge.tasks import EnergyForceTask, PropertyTask

pytestmark = pytest.mark.slow

SMALL = {"node_features": 16, "hiddens": [32, 32], "conv_hiddens": [32, 32], "num_blocks": 2,
         "set2set_iterations": 2, "output_dims": [32], "num_gaussians": 32, "gaussian_width": 0.3}  # fmt: skip


def evaluate(task, structures, metric) -> float:
    task.eval()
    rep = build_representation(task.backbone)
    errors = []
    for start in range(0, len(structures), 16):
        errors.append(metric(task, rep.collate([rep(s) for s in structures[start : start + 16]])))
    return float(torch.cat(errors).mean())


def force_errors(task, batch) -> torch.Tensor:
    return (task(batch)["forces"].detach() - batch.target("forces")).abs().flatten()


def test_lips_forces_improve_with_training(fit):
    datamodule = AtomicDataModule.from_devset("lips", batch_size=4)
    val = list(datamodule.dataset("val"))
    task = EnergyForceTask("megnet", {**SMALL, "cutoff": 5.0}, lr=3e-3, energy_weight=0.02)
    before = evaluate(task, val, force_errors)
    fit(task, datamodule, steps=300)
    after = evaluate(task, val, force_errors)
    print(f"\nLiPS val force MAE: {before:.4f} -> {after:.4f} eV/Å after 300 steps")
    assert after < 0.8 * before


def test_qm9_gap_through_the_set2set_output_beats_the_mean(fit):
    datamodule = AtomicDataModule.from_devset("qm9", batch_size=16)
    train, val = list(datamodule.dataset("train")), list(datamodule.dataset("val"))
    task = PropertyTask("megnet", {**SMALL, "output": "structure"}, properties=["gap"], lr=3e-3, head_hidden=[32])
    fit(task, datamodule, steps=300)

    mean = sum(float(s.targets["gap"]) for s in train) / len(train)
    baseline = sum(abs(float(s.targets["gap"]) - mean) for s in val) / len(val)
    with torch.no_grad():
        model = evaluate(task, val, lambda t, b: (t(b)["gap"] - b.target("gap").reshape(-1)).abs())
    print(f"\nQM9 val gap MAE: MEGNet (Set2Set output) {model:.4f} eV, train-mean baseline {baseline:.4f} eV")
    assert model < 0.8 * baseline
