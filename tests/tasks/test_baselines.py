"""Baselines from training statistics: composition fit for energies, zero forces, mean properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matforge.baselines import (
    baseline_metrics,
    baseline_predictions,
    composition_energies,
    prediction_metrics,
)
from matforge.data.statistics import DatasetStatistics, LinearReference
from matforge.predictions import Predictions
from matforge.structure import AtomicStructure
from matforge.tasks import EnergyForceTask


def test_composition_energies_sum_the_element_references():
    reference = LinearReference({29: -3.0, 79: -1.0}, 0.0, 0.0, 0.0, 0.0, 2)
    energies = composition_energies(reference, np.array([29, 29, 79, 79, 1]), np.array([3, 2]))
    assert energies.tolist() == [-3.0 - 3.0 - 1.0, -1.0 + 0.0]  # H has no reference: 0


def _linear_in_composition(count: int, seed: int) -> list[AtomicStructure]:
    """Clusters whose energy is exactly 2·n_H − 5·n_O eV, with random forces."""
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(count):
        numbers = rng.choice([1, 8], size=int(rng.integers(2, 6)))
        structures.append(AtomicStructure(
            positions=rng.uniform(0, 4, (numbers.size, 3)), atomic_numbers=numbers,
            targets={"energy": np.asarray(2.0 * (numbers == 1).sum() - 5.0 * (numbers == 8).sum()),
                     "forces": rng.normal(size=(numbers.size, 3))}))  # fmt: skip
    return structures


def test_the_composition_baseline_is_exact_on_energies_linear_in_composition():
    train, val = _linear_in_composition(30, 0), _linear_in_composition(8, 1)
    statistics = DatasetStatistics.of(train)
    predicted = EnergyForceTask("toy-pair", {"hidden": 8}).predict(val)
    baseline = baseline_predictions(predicted, statistics)
    np.testing.assert_allclose(baseline["energy"], predicted.references["energy"], atol=1e-9)
    assert not baseline["forces"].any()  # zero forces
    metrics = baseline_metrics(predicted, statistics)
    assert metrics["energy_mae"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["force_mae"] == pytest.approx(np.abs(predicted.pair("forces")[1]).mean(), rel=1e-6)


def test_properties_get_the_training_mean():
    statistics = DatasetStatistics.of([AtomicStructure(positions=np.zeros((1, 3)), atomic_numbers=np.array([1]),
                                                       targets={"gap": np.asarray(g)}) for g in (1.0, 3.0)])  # fmt: skip
    predicted = Predictions({"gap": np.array([5.0, 0.0])}, [1, 1], [1, 1], references={"gap": np.array([2.0, 2.0])},
                            targets={"gap": "gap"})  # fmt: skip
    assert baseline_predictions(predicted, statistics)["gap"].tolist() == [2.0, 2.0]
    assert baseline_metrics(predicted, statistics)["gap_mae"] == 0.0


def test_prediction_metrics_match_the_tasks_own_metrics(clusters):
    from matforge.atoms_representation import AtomsRepresentation

    task = EnergyForceTask("toy-pair", {"hidden": 8})
    task.set_statistics(None)
    batch = AtomsRepresentation().collate(clusters[:6])
    with torch.no_grad():
        predicted = task.evaluate_batch(batch, "val_id")
    logged = task.evaluation_results("val_id")
    for name, value in prediction_metrics(predicted).items():
        assert value == pytest.approx(logged[name], rel=1e-5, abs=1e-7), name
    assert {"loss", "energy_loss", "force_loss"} <= set(logged)
