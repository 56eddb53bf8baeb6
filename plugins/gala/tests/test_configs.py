"""The shipped GALA configs: the paper's GALA hyperparameters (FACTS §1) on the devsets
(``tests/cli/test_configs.py`` trains every config for a few batches)."""

from pathlib import Path

import yaml

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


def test_is2re_config_uses_the_paper_preset_and_schedule_with_64_structures_per_step():
    config = load("is2re-gala-paper.yaml")
    task = config["model"]["init_args"]
    assert (task["backbone"], task["lr"], task["gamma"], task["loss"]) == ("gala-paper", 0.001, 0.8, "l1")
    assert config["data"]["init_args"]["batch_size"] * config["trainer"]["accumulate_grad_batches"] == 64
    assert config["data"]["init_args"]["path"] == "devset:emt-is2re"


def test_s2ef_config_trains_forces_at_batch_eight():
    config = load("s2ef-gala.yaml")
    task = config["model"]["init_args"]
    assert task["backbone"] == "gala" and task["force_loss"] == "l1" and task["forces_target"] == "forces"
    assert config["data"]["init_args"]["batch_size"] >= 8
    assert config["data"]["init_args"]["path"] == "devset:emt-s2ef"
