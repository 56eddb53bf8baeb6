"""Task constructors are configurable from jsonargparse (LightningCLI) and tasks are registered."""

from __future__ import annotations

import pytest
from jsonargparse import ArgumentParser

from matforge.registry import registry
from matforge.tasks import EnergyForceTask, EnergyTask, PropertyTask


@pytest.mark.parametrize("task", [EnergyTask, EnergyForceTask, PropertyTask])
def test_every_setting_reaches_the_command_line(task):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(task, "model")
    args = ["--model.backbone", "toy-pair", "--model.backbone_args", '{"hidden": 4}', "--model.lr", "0.003626"]
    args += ["--model.scheduler", "exponential", "--model.gamma", "0.6878", "--model.ema_decay", "0.99"]
    if task is PropertyTask:
        args += ["--model.properties", '["energy"]']
    built = parser.instantiate(parser.parse_args(args)).model
    assert isinstance(built, task)
    assert (built.hparams.lr, built.hparams.gamma, built.hparams.ema_decay) == (0.003626, 0.6878, 0.99)
    # the bound arguments, defaults included (what a checkpoint rebuilds)
    assert built.hparams.backbone_args == {"hidden": 4, "num_radial": 8, "cutoff": 5.0, "output": "energy", "width": 16}


@pytest.mark.parametrize(("name", "cls"), [("is2re", EnergyTask), ("s2ef", EnergyForceTask), ("property", PropertyTask)])
def test_tasks_are_registered_by_name(name, cls):
    assert registry.get("task", name) is cls
