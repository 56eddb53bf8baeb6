"""The MEGNet paper configs resolve to the paper's hyperparameters (FACTS §1) with the
megnet-paper preset: the bond Set2Set off for IS2RE, on for S2EF. (Training one epoch on
each devset is the slow test in tests/cli/test_configs.py, which runs every config.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from matforge.cli.main import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
PAPER = {"backbone": "megnet-paper", "lr": 0.0001, "scheduler": "exponential", "gamma": 0.2, "loss": "l1"}


@pytest.mark.parametrize(("name", "bond_readout"), [("is2re", False), ("s2ef", True)])
def test_megnet_configs_use_the_paper_hyperparameters(name, bond_readout, capsys):
    assert main(["fit", "--config", str(CONFIGS / f"{name}-megnet-paper.yaml"), "--print_config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    task = resolved["model"]["init_args"]
    assert {k: task[k] for k in PAPER} == PAPER
    assert (task.get("backbone_args") or {}).get("bond_readout", True) is bond_readout
    assert resolved["data"]["init_args"]["batch_size"] == 8
    assert resolved["data"]["init_args"]["path"] == f"devset:emt-{name}"
