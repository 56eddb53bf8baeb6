"""The checkpoint record: one writer, one reader, everything that rebuilds the task."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from matforge import __version__
from matforge.checkpoint import (
    CHECKPOINT_KEY,
    CheckpointMismatchError,
    CheckpointVersionWarning,
    NotATaskCheckpointError,
    UnregisteredTaskError,
    load_task,
    read_record,
    statistics_hash,
    write_record,
)
from matforge.data.dataset import open_dataset
from matforge.errors import MatforgeUserError
from matforge.registry import PluginNotInstalledError, registry
from matforge.tasks import EnergyForceTask, EnergyTask
from matforge.testing.toy import PairMLP

from .helpers import edit_checkpoint, fit_and_save


def test_record_holds_registry_names_bound_arguments_and_versions(saved):
    record = read_record(torch.load(saved, weights_only=True), saved)
    assert (record.task, record.backbone) == ("is2re", "toy-pair")
    assert record.backbone_args == {"hidden": 8, "num_radial": 8, "cutoff": 5.0, "output": "energy", "width": 16}
    assert (record.representation, record.representation_settings) == ("atoms", {})
    assert record.core_version == __version__


def test_record_fingerprints_the_training_set(saved, dataset_dir):
    record = read_record(torch.load(saved, weights_only=True), saved)
    train = open_dataset(dataset_dir / "train")
    assert record.dataset.path == str((dataset_dir / "train").resolve())
    assert record.dataset.count == len(train) == 12
    assert record.dataset.statistics_sha256 == statistics_hash(train.statistics.to_dict())


def test_record_names_the_plugin_distribution_and_version():
    pytest.importorskip("matforge_egnn")
    task = EnergyTask("egnn", {"hidden": 8, "num_layers": 1})
    record = write_record(task, checkpoint := {})
    info = registry.info("model", "egnn")
    assert (record.plugin_distribution, record.plugin_version) == ("matforge-egnn", info.version)
    assert record.representation_settings == task.backbone.representation_config()
    assert checkpoint[CHECKPOINT_KEY]["backbone"]["distribution"] == "matforge-egnn"


def _register_pair_model(name: str, cutoff_default: float) -> None:
    def factory(hidden: int = 8, cutoff: float = cutoff_default) -> PairMLP:
        return PairMLP(hidden=hidden, cutoff=cutoff)

    registry.register("model", name, factory, override=True)


def test_a_default_changed_after_saving_leaves_the_loaded_model_unchanged(tmp_path, dataset_dir, structures):
    _register_pair_model("ckpt-moving-default", cutoff_default=5.0)
    try:
        task = EnergyTask("ckpt-moving-default")
        path = fit_and_save(task, dataset_dir, tmp_path / "task.ckpt")
        before = task.predict(structures)["energy"]
        _register_pair_model("ckpt-moving-default", cutoff_default=3.0)  # "the next release"
        assert EnergyTask("ckpt-moving-default").backbone.cutoff == 3.0
        loaded = load_task(path)
    finally:
        registry.unregister("model", "ckpt-moving-default")
    assert loaded.backbone.cutoff == 5.0
    np.testing.assert_allclose(loaded.predict(structures)["energy"], before, rtol=1e-6)


def test_a_missing_plugin_names_its_distribution_and_version(saved, tmp_path):
    def gone(checkpoint):
        checkpoint[CHECKPOINT_KEY]["backbone"].update(name="ckpt-gone", distribution="matforge-gone", version="1.2.3")

    path = edit_checkpoint(saved, tmp_path / "gone.ckpt", gone)
    with pytest.raises(PluginNotInstalledError, match=r"pip install 'matforge-gone==1\.2\.3'"):
        load_task(path)


def test_an_installed_plugin_that_lost_the_model_is_not_called_missing(saved, tmp_path):
    # matforge-graph is installed but registers no backbone "ckpt-lost": the hint says so,
    # read from the installed distributions, instead of "not installed".
    pytest.importorskip("matforge_graph")

    def lost(checkpoint):
        checkpoint[CHECKPOINT_KEY]["backbone"].update(name="ckpt-lost", distribution="matforge-graph", version="0.1.0")

    path = edit_checkpoint(saved, tmp_path / "lost.ckpt", lost)
    with pytest.raises(PluginNotInstalledError, match=r"which is installed \(matforge-graph 0\.1\.0\) but does not register it \(any more\)") as info:
        load_task(path)
    assert "not installed" not in str(info.value)


def test_a_plugin_version_mismatch_warns(tmp_path, structures):
    pytest.importorskip("matforge_egnn")
    task = EnergyTask("egnn", {"hidden": 8, "num_layers": 1})
    checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    write_record(task, checkpoint)
    checkpoint[CHECKPOINT_KEY]["backbone"]["version"] = "0.0.1"
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.warns(CheckpointVersionWarning, match=r"matforge-egnn 0\.0\.1"):
        loaded = load_task(tmp_path / "old.ckpt")
    assert loaded.backbone.representation_config() == task.backbone.representation_config()


def test_a_cli_checkpoint_loads_without_lightnings_instantiator(saved, tmp_path, structures):
    def from_cli(checkpoint):
        checkpoint["hyper_parameters"].update(_class_path="this.Zen", _instantiator="this.Zen")

    path = edit_checkpoint(saved, tmp_path / "cli.ckpt", from_cli)
    sys.modules.pop("this", None)
    loaded = load_task(path)
    assert "this" not in sys.modules
    np.testing.assert_allclose(loaded.predict(structures)["energy"], load_task(saved).predict(structures)["energy"])


@pytest.mark.parametrize("task", ["this:Zen", "zen"])
def test_the_task_must_be_a_registered_task(saved, tmp_path, task):
    def hostile(checkpoint):
        checkpoint[CHECKPOINT_KEY] = {"task": task, "version": __version__}  # format 1, as landed

    path = edit_checkpoint(saved, tmp_path / "zen.ckpt", hostile)
    sys.modules.pop("this", None)
    with pytest.raises(UnregisteredTaskError, match="not a registered task"):
        load_task(path)
    assert "this" not in sys.modules


def test_a_format_one_record_of_a_registered_task_still_loads(saved, tmp_path):
    def landed(checkpoint):
        checkpoint[CHECKPOINT_KEY] = {"task": "matforge.tasks.energy:EnergyTask", "version": __version__}

    assert type(load_task(edit_checkpoint(saved, tmp_path / "v1.ckpt", landed))) is EnergyTask


def test_a_file_without_a_record_is_a_user_error(saved, tmp_path):
    path = edit_checkpoint(saved, tmp_path / "plain.ckpt", lambda c: c.pop(CHECKPOINT_KEY))
    with pytest.raises(NotATaskCheckpointError, match="not a matforge task checkpoint") as raised:
        load_task(path)
    assert isinstance(raised.value, MatforgeUserError)


def test_load_from_checkpoint_of_another_task_class_is_refused(saved):
    with pytest.raises(CheckpointMismatchError, match=r"'is2re' task \(EnergyTask\), not a EnergyForceTask"):
        EnergyForceTask.load_from_checkpoint(saved)


def test_load_from_checkpoint_goes_through_the_record(saved, structures):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = EnergyTask.load_from_checkpoint(saved)
    np.testing.assert_allclose(loaded.predict(structures)["energy"], load_task(saved).predict(structures)["energy"])


def test_representation_settings_that_changed_since_saving_are_an_error(saved, tmp_path):
    def moved(checkpoint):
        checkpoint[CHECKPOINT_KEY]["representation"]["settings"] = {"cutoff": 9.0}

    with pytest.raises(CheckpointMismatchError, match=r"trained on representation 'atoms' \{'cutoff': 9\.0\}"):
        load_task(edit_checkpoint(saved, tmp_path / "moved.ckpt", moved))


class OwnTask(EnergyTask):
    """A user's task class, registered only after its checkpoint was written."""


def test_a_task_class_of_ones_own_loads_once_registered(tmp_path, dataset_dir):
    path = fit_and_save(OwnTask("toy-pair", {"hidden": 8}), dataset_dir, tmp_path / "own.ckpt")
    with pytest.raises(UnregisteredTaskError, match=r"class '.*:OwnTask'.*must be registered"):
        load_task(path)
    registry.register("task", "ckpt-own", OwnTask)
    try:
        assert type(load_task(path)) is OwnTask
    finally:
        registry.unregister("task", "ckpt-own")


def test_bound_arguments_flatten_keyword_arguments_and_name_the_valid_ones():
    from matforge.models import bound_arguments

    def factory(hidden: int = 4, *, cutoff: float = 5.0, **extra):
        return None

    assert bound_arguments("m", factory, {"layers": 2}) == {"hidden": 4, "cutoff": 5.0, "layers": 2}
    with pytest.raises(TypeError, match=r"backbone 'toy-pair': .*'hiden'.*arguments are: hidden, num_radial, cutoff"):
        bound_arguments("toy-pair", PairMLP, {"hiden": 8})
