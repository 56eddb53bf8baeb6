"""The backbone owns its representation and its settings; the datamodule takes them from it."""

from __future__ import annotations

import pytest

from matforge.atoms_representation import AtomsRepresentation
from matforge.data.datamodule import AtomicDataModule
from matforge.data.representation import RepresentationMismatchError
from matforge.errors import MatforgeUserError
from matforge.tasks import EnergyTask

from .helpers import quiet_trainer


def _fit(task, datamodule, tmp_path) -> None:
    try:
        quiet_trainer(tmp_path, max_steps=1).fit(task, datamodule=datamodule)
    finally:
        datamodule.dataset("train").close()


def test_the_task_gives_the_datamodule_its_backbones_representation(dataset_dir, tmp_path):
    pytest.importorskip("matforge_egnn")
    datamodule = AtomicDataModule(str(dataset_dir), batch_size=4)
    task = EnergyTask("egnn", {"hidden": 8, "num_layers": 1, "cutoff": 4.5})
    _fit(task, datamodule, tmp_path)
    assert datamodule.representation.name == "graph"
    assert datamodule.representation.cutoff == 4.5


def test_representation_settings_other_than_the_backbones_are_an_error_naming_both(dataset_dir, tmp_path):
    pytest.importorskip("matforge_egnn")
    datamodule = AtomicDataModule(str(dataset_dir), representation="graph", representation_args={"cutoff": 2.0})
    task = EnergyTask("egnn", {"hidden": 8, "num_layers": 1, "cutoff": 5.0})
    with pytest.raises(RepresentationMismatchError, match=r"'graph' \(cutoff=2\.0\).*backbone 'egnn'.*'graph' \(cutoff=5\.0"):
        _fit(task, datamodule, tmp_path)


def test_a_setting_the_representation_does_not_have_is_an_error(dataset_dir, tmp_path):
    datamodule = AtomicDataModule(str(dataset_dir), representation_args={"cutoff": 2.0})
    with pytest.raises(RepresentationMismatchError, match=r"\(cutoff=2\.0\).*consumes 'atoms' \(no settings\)"):
        _fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule, tmp_path)


def test_another_representation_name_is_an_error(dataset_dir, tmp_path):
    pytest.importorskip("matforge_graph")
    datamodule = AtomicDataModule(str(dataset_dir), representation="graph")
    with pytest.raises(RepresentationMismatchError, match=r"'graph'.*backbone 'toy-pair' \(PairMLP\) consumes 'atoms'"):
        _fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule, tmp_path)


def test_a_set_representation_with_other_settings_is_an_error(dataset_dir, tmp_path):
    pytest.importorskip("matforge_egnn")
    from matforge_graph.representation import GraphRepresentation

    datamodule = AtomicDataModule(str(dataset_dir))
    datamodule.set_representation(GraphRepresentation(cutoff=3.0))
    with pytest.raises(RepresentationMismatchError, match=r"cutoff=3\.0.*cutoff=6\.0"):
        _fit(EnergyTask("egnn", {"hidden": 8, "num_layers": 1}), datamodule, tmp_path)


def test_a_matching_representation_set_by_the_user_is_kept(dataset_dir, tmp_path):
    datamodule = AtomicDataModule(str(dataset_dir))
    mine = AtomsRepresentation()
    datamodule.set_representation(mine)
    _fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule, tmp_path)
    assert datamodule.representation is mine


def test_the_mismatch_is_a_user_error():
    assert issubclass(RepresentationMismatchError, MatforgeUserError)


def test_the_cli_refuses_a_cutoff_the_model_does_not_have(tmp_path, monkeypatch, dataset_dir, capsys):
    pytest.importorskip("matforge_egnn")
    from matforge.cli.main import main

    monkeypatch.chdir(tmp_path)
    status = main(["fit", "--task", "is2re", "--model", "egnn", "--data", str(dataset_dir),
                   "--model.init_args.backbone_args.cutoff", "5.0",
                   "--data.init_args.representation_args", "{cutoff: 2.0}", "--trainer.max_epochs", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert "cutoff=2.0" in err and "cutoff=5.0" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
