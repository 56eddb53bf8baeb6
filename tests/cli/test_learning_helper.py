"""``matforge.testing.learning``: the baselines are right, and ``train_config`` trains a config
through ``matforge fit`` and scores it against them."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from matforge.structure import AtomicStructure
from matforge.testing.learning import composition_baseline_mae, train_config


def structure(numbers: list[int], energy: float) -> AtomicStructure:
    positions = np.arange(3 * len(numbers), dtype=float).reshape(-1, 3)
    return AtomicStructure(positions=positions, atomic_numbers=np.array(numbers), targets={"energy": energy})


def test_composition_baseline_is_zero_for_energies_linear_in_composition():
    per_element = {1: -3.0, 8: -5.0}
    counts = [[1, 8], [1, 1, 8], [8, 8], [1, 1, 1, 8, 8], [1]]
    structures = [structure(c, 0.5 + sum(per_element[z] for z in c)) for c in counts]
    assert composition_baseline_mae(structures[:4], structures[4:], "energy") == pytest.approx(0.0, abs=1e-9)


def test_composition_baseline_is_the_error_a_fit_cannot_remove():
    train = [structure([1], 0.0), structure([1], 2.0), structure([1, 1], 2.0)]
    # least squares: E = n_H; the two one-atom structures keep residuals -1 and +1
    assert composition_baseline_mae(train, train, "energy") == pytest.approx(2 / 3, rel=1e-6)


def test_train_config_scores_the_best_checkpoint_against_the_baselines(cluster_data, tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"class_path": "matforge.tasks.energy_force.EnergyForceTask",
                  "init_args": {"backbone": "toy-pair", "backbone_args": {"hidden": 8}, "lr": 0.01}},
        "data": {"class_path": "matforge.data.datamodule.AtomicDataModule",
                 "init_args": {"path": cluster_data, "batch_size": 8}},
    }))
    result = train_config(config, epochs=2, runs_root=tmp_path / "runs")
    assert set(result.metrics) == {"val_id", "val_ood_ads"}
    assert set(result.metrics["val_id"]) == {"energy_mae", "force_mae"}
    assert result.baselines["val_id"]["force_mae"] > 0 and len(result.curve) == 2
    assert result.ratio("val_id", "force_mae") == result.metrics["val_id"]["force_mae"] / result.baselines["val_id"]["force_mae"]
    assert "val_ood_ads" in result.table()
