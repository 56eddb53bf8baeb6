"""Bad input fails early with errors that name what is wrong."""

from __future__ import annotations

import pytest

from matforge.atoms_representation import AtomsRepresentation
from matforge.batch import MissingTargetError
from matforge.registry import UnknownNameError, registry
from matforge.tasks import EnergyForceTask, EnergyTask, PropertyTask, RepresentationMismatchError
from matforge.testing.toy import PairMLP


def test_missing_target_names_the_target_and_what_the_batch_has(clusters):
    task = EnergyForceTask("toy-pair", {"hidden": 8}, forces_target="gradient")
    batch = AtomsRepresentation().collate(clusters[:2])
    with pytest.raises(MissingTargetError, match=r"EnergyForceTask needs target 'gradient'.*'energy', 'forces'"):
        task._losses(task(batch), batch)


def test_missing_target_in_the_statistics_is_reported_at_setup(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, target="energy_relaxed")
    with pytest.raises(MissingTargetError, match=r"no target 'energy_relaxed'.*\['energy', 'forces'\]"):
        make_trainer(max_steps=1).fit(task, datamodule=make_datamodule(clusters[:4]))


def test_representation_mismatch_names_both(clusters, make_trainer, make_datamodule):
    class GraphLike(AtomsRepresentation):
        name = "graph"

    datamodule = make_datamodule(clusters[:4])
    datamodule.set_representation(GraphLike())
    with pytest.raises(RepresentationMismatchError, match=r"'graph'.*PairMLP.*'atoms'"):
        make_trainer(max_steps=1).fit(EnergyTask("toy-pair"), datamodule=datamodule)


def test_unknown_backbone_name_is_the_registry_error():
    with pytest.raises(UnknownNameError, match="toy-pair"):
        EnergyTask("toy-pairs")


def test_checkpoint_of_a_missing_plugin_says_what_to_install(
    clusters, tmp_path, monkeypatch, make_trainer, make_datamodule
):
    registry.register("model", "vanishing-model", PairMLP)
    try:
        trainer = make_trainer(max_steps=1)
        trainer.fit(EnergyTask("vanishing-model", {"hidden": 8}), datamodule=make_datamodule(clusters[:2]))
        trainer.save_checkpoint(tmp_path / "task.ckpt")
    finally:
        registry.unregister("model", "vanishing-model")
    # The core names no plugin distributions of its own accord; which package to install
    # comes from the checkpoint's record (registry.missing_plugin_error) once it holds one.
    with pytest.raises(UnknownNameError, match="unknown model 'vanishing-model'"):
        EnergyTask.load_from_checkpoint(tmp_path / "task.ckpt")


def test_backbone_args_with_a_built_backbone_are_refused():
    with pytest.raises(ValueError, match="backbone_args go with a registry name"):
        EnergyTask(PairMLP(), {"hidden": 8})


def test_properties_must_be_a_list_of_names():
    with pytest.raises(ValueError, match="non-empty list"):
        PropertyTask("toy-pair", properties="band_gap")


def test_property_vector_target_of_the_wrong_width_is_refused(clusters):
    task = PropertyTask("toy-pair", {"output": "embedding", "width": 4}, properties=["forces_sum"], property_dims={"forces_sum": 2})
    structures = [s.copy() for s in clusters[:2]]
    for s in structures:
        s.targets = {"forces_sum": s.targets["forces"].sum(0)}
    batch = AtomsRepresentation().collate(structures)
    with pytest.raises(ValueError, match=r"target 'forces_sum' has shape \[2, 3\].*expects 2 value"):
        task._losses(task(batch), batch)


def test_unknown_loss_and_scheduler_are_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        EnergyTask("toy-pair", loss="l3")
    with pytest.raises(ValueError, match="scheduler must be one of"):
        EnergyTask("toy-pair", scheduler="step")
