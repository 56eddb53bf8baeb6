"""`Predictions`: what tasks predict, with references and scored atoms, and its one file layout."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from matforge.predictions import Predictions, PredictionsFileError, load_predictions
from matforge.tasks import EnergyForceTask, PropertyTask


@pytest.fixture
def predicted(clusters) -> Predictions:
    """An S2EF toy model's predictions of three labelled clusters (first atom of each fixed)."""
    return EnergyForceTask("toy-pair", {"hidden": 8}).predict(clusters[:3])


def test_predictions_round_trip_through_their_file(predicted, tmp_path):
    path = predicted.save(tmp_path / "val_id.npz")
    loaded = Predictions.load(path)
    assert set(loaded) == {"energy", "forces"} and loaded.per_atom == {"forces"}
    assert loaded.targets == {"energy": "energy", "forces": "forces"}
    for name in ("num_atoms", "atomic_numbers", "scored", "sid", "index"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(predicted, name))
    for quantity in ("energy", "forces"):
        np.testing.assert_array_equal(loaded[quantity], predicted[quantity])
        np.testing.assert_array_equal(loaded.references[quantity], predicted.references[quantity])
    assert [p.name for p in load_predictions(tmp_path)] == ["predict"]


def test_a_file_of_another_layout_is_refused_naming_it(tmp_path):
    np.savez(tmp_path / "old.npz", energy_pred=np.zeros(2), energy_ref=np.zeros(2))
    with pytest.raises(PredictionsFileError, match=r"old\.npz is not a matforge-predictions/1 file"):
        Predictions.load(tmp_path / "old.npz")


def test_rows_must_match_the_structures():
    with pytest.raises(ValueError, match="predicted 'energy' has shape"):
        Predictions({"energy": np.zeros(3)}, num_atoms=[2, 2], atomic_numbers=[1, 1, 1, 1])


def test_forces_are_concatenated_and_split_per_structure(predicted, clusters):
    assert predicted["forces"].shape == (sum(s.num_atoms for s in clusters[:3]), 3)
    assert [f.shape for f in predicted.per_structure("forces")] == [(s.num_atoms, 3) for s in clusters[:3]]


def test_fixed_atoms_are_left_out_of_the_compared_forces(predicted, clusters):
    pred, ref = predicted.pair("forces")
    assert pred.shape[0] == ref.shape[0] == sum(s.num_atoms - 1 for s in clusters[:3])
    np.testing.assert_allclose(ref, np.concatenate([s.targets["forces"][1:] for s in clusters[:3]]))


def test_references_only_when_every_structure_carries_the_target(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    unlabelled = Atoms(numbers=clusters[0].atomic_numbers, positions=clusters[0].positions)
    assert task.predict([clusters[1], unlabelled]).references == {}
    np.testing.assert_allclose(task.predict(clusters[1:3]).references["energy"],
                               [float(s.targets["energy"]) for s in clusters[1:3]])  # fmt: skip


def test_property_predictions_name_their_targets(clusters):
    labelled = [s.copy() for s in clusters[:2]]
    for k, s in enumerate(labelled):
        s.targets = {"gap": np.asarray(float(k))}
    predicted = PropertyTask("toy-pair", properties=["gap"]).predict(labelled)
    assert predicted.targets == {"gap": "gap"} and predicted.references["gap"].tolist() == [0.0, 1.0]


def test_voigt_stress_references_are_compared_as_matrices(clusters):
    periodic = []
    for s in clusters[:2]:
        s = s.copy()
        s.cell, s.pbc = np.diag([10.0, 11.0, 12.0]), np.array([True, True, True])
        s.targets = {**s.targets, "stress": np.arange(6.0)}  # xx yy zz yz xz xy
        periodic.append(s)
    predicted = EnergyForceTask("toy-pair", {"hidden": 8}, stress=True).predict(periodic)
    assert predicted["stress"].shape == predicted.references["stress"].shape == (2, 3, 3)
    np.testing.assert_array_equal(predicted.references["stress"][0], [[0, 5, 4], [5, 1, 3], [4, 3, 2]])
