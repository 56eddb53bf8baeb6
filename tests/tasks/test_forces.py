"""Forces and stress are exact derivatives of the de-normalised energy; the force loss trains."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from matforge.atoms_representation import AtomsRepresentation
from matforge.data.statistics import DatasetStatistics
from matforge.structure import AtomicStructure
from matforge.tasks import EnergyForceTask

STEP = 1e-5  # Å; central differences in float64 are then accurate to ~1e-9 here


def _float64_task(clusters, **kwargs) -> EnergyForceTask:
    """A task with non-trivial normalisation (element references, shift, scale) in float64."""
    task = EnergyForceTask("toy-pair", {"hidden": 8}, **kwargs)
    task.set_statistics(DatasetStatistics.of(clusters))
    assert float(task.normalizer.scale) != 1.0 and task.normalizer.element_energies.abs().sum() > 0
    return task.double().eval()


def _energy(task, structure: AtomicStructure) -> float:
    batch = AtomsRepresentation(torch.float64).collate([structure])
    return float(task(batch)["energy"][0])


def test_forces_equal_central_differences_of_the_energy(clusters):
    task = _float64_task(clusters)
    structure = clusters[0]
    batch = AtomsRepresentation(torch.float64).collate([structure])
    forces = task(batch)["forces"].numpy()
    expected = np.zeros_like(forces)
    for atom in range(structure.num_atoms):
        for axis in range(3):
            shifted = []
            for sign in (1.0, -1.0):
                positions = structure.positions.copy()
                positions[atom, axis] += sign * STEP
                shifted.append(_energy(task, dataclasses.replace(structure, positions=positions)))
            expected[atom, axis] = -(shifted[0] - shifted[1]) / (2 * STEP)
    np.testing.assert_allclose(forces, expected, atol=1e-6, rtol=0)


def test_stress_equals_strain_derivative_of_the_energy(clusters):
    task = _float64_task(clusters, stress=True)
    structure = dataclasses.replace(
        clusters[0], cell=np.diag([9.0, 10.0, 11.0]) + 0.5, pbc=np.ones(3, dtype=bool)
    )
    batch = AtomsRepresentation(torch.float64).collate([structure])
    stress = task(batch)["stress"][0].numpy()
    volume = abs(np.linalg.det(structure.cell))
    expected = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            shifted = []
            for sign in (1.0, -1.0):
                strain = np.zeros((3, 3))
                strain[i, j] = sign * STEP
                deformation = np.eye(3) + strain
                deformed = dataclasses.replace(
                    structure, positions=structure.positions @ deformation, cell=structure.cell @ deformation
                )
                shifted.append(_energy(task, deformed))
            expected[i, j] = (shifted[0] - shifted[1]) / (2 * STEP) / volume
    np.testing.assert_allclose(stress, 0.5 * (expected + expected.T), atol=1e-6, rtol=0)


def test_a_step_on_the_force_loss_alone_moves_the_parameters(clusters, make_trainer, make_datamodule):
    task = EnergyForceTask("toy-pair", {"hidden": 8}, energy_weight=0.0, force_weight=1.0, lr=1e-2)
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    make_trainer(max_steps=1).fit(task, datamodule=make_datamodule(clusters[:4]))
    after = task.model.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("backbone.") for k in moved), "force loss did not reach the backbone"


def test_validation_computes_forces_inside_inference_mode(clusters, make_trainer, make_datamodule):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    trainer = make_trainer(inference_mode=True)
    trainer.validate(task, datamodule=make_datamodule(clusters[:4], val={"val": clusters[4:8]}))
    assert np.isfinite(float(trainer.callback_metrics["val/force_mae"]))
