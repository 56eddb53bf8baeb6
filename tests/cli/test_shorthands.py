"""Registry names as training-CLI shorthands, rewritten before LightningCLI parses them."""

from __future__ import annotations

import pytest

from matforge.cli.shorthands import DATAMODULE_CLASS, ShorthandError, expand
from matforge.registry import UnknownNameError

ENERGY_TASK = "matforge.tasks.energy.EnergyTask"
FORCE_TASK = "matforge.tasks.energy_force.EnergyForceTask"


def test_task_model_and_devset_become_lightning_options():
    out = expand(["fit", "--model", "toy-pair", "--task", "s2ef", "--data", "devset:emt-s2ef", "--trainer.max_epochs", "1"])
    assert out.args == [
        "fit",
        "--model.class_path", FORCE_TASK,
        "--model.init_args.backbone", "toy-pair",
        "--data.class_path", DATAMODULE_CLASS, "--data.init_args.path", "devset:emt-s2ef",
        "--trainer.max_epochs", "1",
    ]
    assert (out.task, out.model, out.data) == ("s2ef", "toy-pair", "devset:emt-s2ef")


def test_task_class_comes_before_init_args_overrides():
    out = expand(["fit", "--model.init_args.lr", "0.01", "--task=is2re", "--model=toy-pair"])
    assert out.args[:3] == ["fit", "--model.class_path", ENERGY_TASK]
    assert out.args.index("--model.init_args.lr") > out.args.index("--model.class_path")


def test_task_follows_a_config_file_so_it_can_override_it():
    out = expand(["fit", "--config", "x.yaml", "--task", "is2re"])
    assert out.args == ["fit", "--config", "x.yaml", "--model.class_path", ENERGY_TASK]


def test_devset_gives_its_task_when_none_is_named():
    out = expand(["fit", "--model", "toy-pair", "--data", "devset:emt-is2re"])
    assert out.task == "is2re"
    assert out.args[1:3] == ["--model.class_path", ENERGY_TASK]


def test_class_paths_config_files_and_other_options_pass_through():
    argv = ["fit", "--model", "matforge.tasks.energy.EnergyTask", "--model.backbone", "toy-pair",
            "--data", "data.yaml", "--trainer.accelerator", "cpu", "--print_config"]
    assert expand(argv).args == argv


def test_seed_and_deterministic_flags():
    out = expand(["fit", "--seed", "7", "--deterministic", "--config", "c.yaml"])
    assert out.args == ["fit", "--seed_everything", "7", "--trainer.deterministic", "true", "--config", "c.yaml"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "--task", "is2ree"], r"unknown task 'is2ree'\. Did you mean 'is2re'"),
        (["fit", "--task", "is2re", "--model", "toy-pairs"], r"unknown model 'toy-pairs'\. Did you mean 'toy-pair'"),
        (["fit", "--data", "devset:emt-is2r"], r"unknown dataset 'emt-is2r'\. Did you mean 'emt-is2re'"),
    ],
)
def test_unknown_names_get_the_registry_error_with_suggestions(argv, message):
    with pytest.raises(UnknownNameError, match=message):
        expand(argv)


def test_an_unknown_model_names_the_installed_plugins_that_did_not_load(monkeypatch):
    from matforge.plugins import PluginSpec, PluginStatus
    from matforge.registry import registry

    broken = PluginStatus(PluginSpec("megnet", "matforge_megnet.plugin", "matforge-megnet", "0.1.0"), "broken", error="import failed: boom")
    resolve = registry._resolve_or_none
    monkeypatch.setattr(registry, "_resolve_or_none", lambda kind, name: None if kind == "backbone" else resolve(kind, name))
    monkeypatch.setattr(registry, "_plugins", [*registry.plugins(), broken])
    with pytest.raises(UnknownNameError, match=r"did not load: matforge-megnet \(broken: import failed: boom\)"):
        expand(["fit", "--task", "is2re", "--model", "megnet"])


def test_model_without_any_task_is_refused():
    with pytest.raises(ShorthandError, match="needs a task: add --task NAME"):
        expand(["fit", "--model", "toy-pair"])


def test_missing_dataset_path():
    with pytest.raises(ShorthandError, match="expects a value"):
        expand(["fit", "--task"])
