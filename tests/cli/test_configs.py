"""The shipped configs: the paper's hyperparameters (FACTS §1), and each trains on its devset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
PAPER_EGNN = {"backbone": "egnn-paper", "gamma": 0.6878}
#: Devset scale (docs/training.md): the paper's per-epoch decay is far too fast at 75–250
#: steps per epoch, so the configs default to cosine with warm-up and name the paper's schedule;
#: S2EF also needs a force-weighted loss at a constant rate ("Why egnn-paper did not learn forces").
DEVSET_SCHEDULE = {
    "is2re-egnn-paper": {"lr": 0.003626, "scheduler": "cosine", "warmup_epochs": 1},
    "s2ef-egnn-paper": {"lr": 0.003, "scheduler": "constant", "warmup_epochs": 0, "energy_weight": 0.01},
}
PAPER_SCHEDULE = "--model.init_args.scheduler exponential --model.init_args.gamma 0.6878"


def test_the_paper_experiments_are_shipped():
    assert {c.name for c in CONFIGS} >= {"is2re-egnn-paper.yaml", "s2ef-egnn-paper.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.stem)
def test_egnn_configs_use_the_paper_hyperparameters(config, matforge, capsys):
    if "egnn" not in config.stem:
        pytest.skip("not an EGNN config")
    assert matforge("fit", "--config", str(config), "--print_config") == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    task = resolved["model"]["init_args"]
    assert {k: task[k] for k in PAPER_EGNN} == PAPER_EGNN
    devset = DEVSET_SCHEDULE[config.stem]
    assert {k: task[k] for k in devset} == devset
    assert PAPER_SCHEDULE in config.read_text()  # the paper-scale setting, beside the default
    assert "0.003626" in config.read_text()  # the paper's lr: the default or the paper-scale override
    assert task["loss"] == "l1" and task.get("force_loss", "l1") == "l1"
    assert resolved["data"]["init_args"]["batch_size"] == 8
    assert resolved["data"]["init_args"]["path"].startswith("devset:")


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.stem)
def test_config_trains_one_epoch_on_its_devset(config, matforge):
    assert matforge(
        "fit", "--config", str(config),
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "2",
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
    ) == 0
    (run,) = list(Path("runs").iterdir())
    assert (run / "checkpoints/best.ckpt").is_file()
    header = next(csv.reader((run / "logs/metrics.csv").open()))
    assert {"val_id/energy_mae", "val_ood_both/energy_mae", "train/loss_epoch"} <= set(header)
