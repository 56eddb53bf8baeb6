"""Normalisation comes from the training statistics, lives in the state dict and survives a
checkpoint; a loaded task never refits it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matforge.data.statistics import DatasetStatistics
from matforge.tasks import EnergyForceTask, EnergyTask, PropertyTask, load_task


def test_energy_normaliser_takes_references_and_scales_from_the_statistics(clusters):
    stats = DatasetStatistics.of(clusters)
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    task.set_statistics(stats)
    norm = task.normalizer
    reference = stats.linear_references["energy"]
    for z, energy in reference.element_energies.items():
        assert float(norm.element_energies[z]) == pytest.approx(energy, rel=1e-6)
    assert float(norm.shift) == pytest.approx(reference.residual_per_atom_mean, abs=1e-6)
    assert float(norm.scale) == pytest.approx(stats.force_rms, rel=1e-6)  # s2ef: force RMS
    assert float(norm.energy_scale) == pytest.approx(reference.residual_std, rel=1e-6)
    assert float(norm.force_scale) == pytest.approx(stats.force_rms, rel=1e-6)


def test_intensive_energy_uses_mean_and_std_without_references(clusters):
    stats = DatasetStatistics.of(clusters)
    task = EnergyTask("toy-pair", {"hidden": 8}, readout="mean")
    task.set_statistics(stats)
    assert float(task.normalizer.element_energies.abs().sum()) == 0.0
    assert float(task.normalizer.shift) == pytest.approx(stats.targets["energy"].mean, rel=1e-6)
    assert float(task.normalizer.scale) == pytest.approx(stats.targets["energy"].std, rel=1e-6)


def test_normalize_false_keeps_the_identity(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, normalize=False)
    make_trainer(max_steps=1).fit(task, datamodule=make_datamodule(clusters[:4]))
    assert bool(task.normalizer.ready)
    assert float(task.normalizer.scale) == 1.0 and float(task.normalizer.element_energies.abs().sum()) == 0.0


def test_checkpoint_predicts_in_ev_without_the_dataset(clusters, make_trainer, make_datamodule, tmp_path):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    trainer = make_trainer(max_epochs=1)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8]))
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    expected = task.predict(clusters[8:12])

    loaded = EnergyForceTask.load_from_checkpoint(path)
    got = loaded.predict(clusters[8:12])
    np.testing.assert_allclose(got["energy"], expected["energy"], rtol=1e-6)
    for a, b in zip(got["forces"], expected["forces"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert bool(loaded.normalizer.ready)
    assert float(loaded.normalizer.scale) == pytest.approx(float(task.normalizer.scale))


def test_loaded_task_keeps_its_statistics_when_validated_on_other_data(
    clusters, make_trainer, make_datamodule, tmp_path
):
    task = EnergyTask("toy-pair", {"hidden": 8})
    trainer = make_trainer(max_steps=2)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8]))
    trainer.save_checkpoint(tmp_path / "task.ckpt")
    loaded = load_task(tmp_path / "task.ckpt")
    before = {k: v.clone() for k, v in loaded.normalizer.state_dict().items()}
    shifted = [s.copy() for s in clusters[8:16]]
    for s in shifted:
        s.targets["energy"] = s.targets["energy"] + 100.0
    make_trainer().validate(loaded, datamodule=make_datamodule(shifted, val={"val": shifted}))
    for name, value in loaded.normalizer.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_property_normaliser_uses_each_targets_mean_and_std(clusters):
    structures = [s.copy() for s in clusters]
    for k, s in enumerate(structures):
        s.targets["dipole"] = np.array([k, 2.0 * k, -k], dtype=float)
    stats = DatasetStatistics.of(structures)
    task = PropertyTask("toy-pair", {"hidden": 8, "output": "embedding"}, properties=["energy", "dipole"], property_dims={"dipole": 3})
    task.set_statistics(stats)
    expected_mean = [stats.targets["energy"].mean] + [stats.targets["dipole"].mean] * 3
    expected_std = [stats.targets["energy"].std] + [stats.targets["dipole"].std] * 3
    np.testing.assert_allclose(task.normalizer.mean.numpy(), expected_mean, rtol=1e-6)
    np.testing.assert_allclose(task.normalizer.std.numpy(), expected_std, rtol=1e-6)


def test_is2re_default_learns_the_whole_energy_at_the_per_structure_scale(clusters):
    stats = DatasetStatistics.of(clusters)
    task = EnergyTask("toy-pair", {"hidden": 8})  # defaults: per_structure, no composition fit
    task.set_statistics(stats)
    atoms = stats.num_atoms / stats.num_structures
    assert float(task.normalizer.element_energies.abs().sum()) == 0.0
    assert float(task.normalizer.shift) == pytest.approx(stats.targets["energy"].mean / atoms, rel=1e-6)
    assert float(task.normalizer.scale) == pytest.approx(stats.targets["energy"].std, rel=1e-6)
    assert float(task.normalizer.energy_scale) == pytest.approx(stats.targets["energy"].std, rel=1e-6)


def test_per_structure_scale_with_a_composition_fit_uses_the_residual_std(clusters):
    stats = DatasetStatistics.of(clusters)
    reference = stats.linear_references["energy"]
    task = EnergyTask("toy-pair", {"hidden": 8}, output_scale="per_structure", composition_reference=True)
    task.set_statistics(stats)
    assert float(task.normalizer.element_energies.abs().sum()) > 0
    assert float(task.normalizer.scale) == pytest.approx(reference.residual_std, rel=1e-6)


@pytest.mark.parametrize("composition_reference", [True, False])
def test_output_scale_none_trains_in_electronvolts(clusters, composition_reference):
    stats = DatasetStatistics.of(clusters)
    task = EnergyTask("toy-pair", {"hidden": 8}, output_scale="none", composition_reference=composition_reference)
    task.set_statistics(stats)
    assert float(task.normalizer.scale) == 1.0 and float(task.normalizer.energy_scale) == 1.0
    assert (float(task.normalizer.element_energies.abs().sum()) > 0) == composition_reference


def test_s2ef_default_subtracts_the_composition_fit(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8})
    assert (task.hparams.output_scale, task.hparams.composition_reference) == ("per_atom", True)


def test_unknown_output_scale_and_a_reference_with_mean_readout_are_refused():
    with pytest.raises(ValueError, match="output_scale must be one of"):
        EnergyTask("toy-pair", {"hidden": 8}, output_scale="per_bond")
    with pytest.raises(ValueError, match="composition_reference=True needs readout='sum'"):
        EnergyTask("toy-pair", {"hidden": 8}, readout="mean", composition_reference=True)
