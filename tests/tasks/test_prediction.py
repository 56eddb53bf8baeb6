"""Prediction outside a Trainer, loading by checkpoint, and the ASE calculator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.constraints import FixAtoms
from ase.optimize import BFGS

from matforge.ase import MatforgeCalculator
from matforge.atoms_representation import AtomsRepresentation
from matforge.data.datamodule import AtomicDataModule
from matforge.data.dataset import open_dataset
from matforge.tasks import EnergyForceTask, EnergyTask, PropertyTask, load_task


def _atoms(structure) -> Atoms:
    atoms = Atoms(numbers=structure.atomic_numbers, positions=structure.positions)
    atoms.set_constraint(FixAtoms(mask=structure.fixed))
    return atoms


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory, trainer_in):
    """A toy-pair S2EF model trained briefly on the EMT S2EF devset, saved as a checkpoint."""
    directory = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    datamodule = AtomicDataModule.from_devset("emt-s2ef", batch_size=8, val=[])
    task = EnergyForceTask("toy-pair", {"hidden": 16}, lr=5e-3)
    trainer = trainer_in(directory, max_epochs=2, limit_train_batches=25)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(task, datamodule=datamodule)
    finally:
        torch.set_num_threads(threads)
        datamodule.dataset("train").close()
    trainer.save_checkpoint(directory / "toy.ckpt")
    return directory / "toy.ckpt"


def test_predict_accepts_ase_atoms_like_structures(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    from_structures = task.predict(clusters[:3])
    from_atoms = task.predict([_atoms(s) for s in clusters[:3]])
    np.testing.assert_allclose(from_atoms["energy"], from_structures["energy"], rtol=1e-6)
    np.testing.assert_allclose(from_atoms["forces"], from_structures["forces"], rtol=1e-5, atol=1e-7)


def test_energy_task_predicts_energies_only_unless_asked(clusters):
    task = EnergyTask("toy-pair", {"hidden": 8})
    assert set(task.predict(clusters[:2])) == {"energy"}
    assert set(task.predict(clusters[:2], forces=True)) == {"energy", "forces"}


def test_calculator_matches_predict(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    atoms = _atoms(clusters[0])
    atoms.calc = MatforgeCalculator(task)
    expected = task.predict(clusters[:1])
    assert atoms.get_potential_energy() == pytest.approx(float(expected["energy"][0]), rel=1e-6)
    np.testing.assert_allclose(atoms.get_forces(apply_constraint=False), expected["forces"], rtol=1e-5, atol=1e-7)


def test_calculator_gives_voigt_stress_for_periodic_cells(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    atoms = _atoms(clusters[0])
    atoms.set_cell(np.diag([10.0, 11.0, 12.0]))
    atoms.pbc = True
    atoms.calc = MatforgeCalculator(task)
    stress = atoms.get_stress()
    full = task.predict([atoms], stress=True)["stress"][0]
    np.testing.assert_allclose(stress, full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], rtol=1e-5, atol=1e-9)


def test_calculator_refuses_a_property_task():
    with pytest.raises(TypeError, match="needs an energy task"):
        MatforgeCalculator(PropertyTask("toy-pair", properties=["gap"]))


def test_calculator_relaxes_a_devset_structure_with_a_trained_toy_model(trained_checkpoint):
    dataset = open_dataset("devset:emt-s2ef/val_id")
    atoms = dataset[0].to_ase()  # a slab with adsorbate, bottom layers held by FixAtoms
    dataset.close()
    atoms.calc = MatforgeCalculator(trained_checkpoint)
    assert BFGS(atoms, logfile=None).run(fmax=0.05, steps=300)
    assert np.linalg.norm(atoms.get_forces(), axis=1).max() < 0.05


def test_load_task_restores_the_task_class(trained_checkpoint):
    assert type(load_task(trained_checkpoint)) is EnergyForceTask


def test_trainer_predict_returns_forces_from_inside_inference_mode(clusters, make_trainer, make_datamodule):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    datamodule = make_datamodule(clusters[:4], val={"val": clusters[:3]})
    datamodule.set_representation(AtomsRepresentation())
    (batch_output,) = make_trainer(inference_mode=True).predict(task, dataloaders=datamodule.val_dataloader()[0])
    expected = task.predict(clusters[:3])
    np.testing.assert_allclose(batch_output["forces"], expected["forces"], rtol=1e-5, atol=1e-7)
