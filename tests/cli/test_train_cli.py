"""``matforge fit|validate|predict`` end to end on a small on-disk dataset with the toy backbone."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from matforge.predictions import Predictions


def only_run(root: Path = Path("runs")) -> Path:
    (run,) = list(root.iterdir())
    return run


def test_fit_with_shorthands_writes_a_run_directory(matforge, cluster_data, capsys, fast):
    assert matforge("fit", "--task", "s2ef", "--model", "toy-pair", "--data", cluster_data, *fast,
                    "--model.init_args.lr", "0.01", "--model.init_args.backbone_args.hidden", "8") == 0
    run = only_run()
    assert run.name.startswith("s2ef-toy-pair-")
    out = capsys.readouterr().out
    assert out.count(f"run directory: {Path('runs') / run.name}") == 2  # at start and at end
    assert f"best checkpoint: {Path('runs') / run.name / 'checkpoints' / 'best.ckpt'}" in out
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["class_path"] == "matforge.tasks.energy_force.EnergyForceTask"
    assert config["model"]["init_args"]["backbone"] == "toy-pair"
    assert config["model"]["init_args"]["lr"] == 0.01
    # the backbone's arguments as resolved: given ones and every default
    assert config["model"]["init_args"]["backbone_args"] == {"hidden": 8, "num_radial": 8, "cutoff": 5.0, "output": "energy", "width": 16}
    assert config["data"]["init_args"]["path"] == cluster_data
    header = next(csv.reader((run / "logs/metrics.csv").open()))
    assert {"val_id/energy_mae", "val_ood_ads/force_mae", "train/loss_epoch"} <= set(header)


def test_resume_from_last_continues_the_same_run(matforge, cluster_data, fast):
    args = ["fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast]
    assert matforge(*args) == 0
    run = only_run()
    assert matforge(*args, "--trainer.max_epochs", "3", "--ckpt_path", "last") == 0
    assert only_run() == run
    epochs = {int(row["epoch"]) for row in csv.DictReader((run / "logs/metrics.csv").open())}
    assert epochs == {0, 1, 2}
    steps_per_epoch = 24 // 8
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=False)["global_step"] == 3 * steps_per_epoch


def test_resume_without_an_earlier_run_is_an_error(matforge, cluster_data, capsys):
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, "--ckpt_path", "last") == 1
    assert "no run under runs/ with checkpoints/last.ckpt was trained as" in capsys.readouterr().err


def test_same_seed_same_result_in_deterministic_mode(matforge, cluster_data, fast):
    args = ["fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast, "--seed", "3", "--deterministic"]
    assert matforge(*args, "--run_dir", "runs/a") == 0
    assert matforge(*args, "--run_dir", "runs/b") == 0
    config = yaml.safe_load(Path("runs/a/config.yaml").read_text())
    assert config["seed_everything"] == 3 and config["trainer"]["deterministic"] is True
    a, b = (list(csv.DictReader(Path(f"runs/{r}/logs/metrics.csv").open())) for r in "ab")
    assert [r["val_id/energy_mae"] for r in a] == [r["val_id/energy_mae"] for r in b]


def test_validate_and_predict_with_a_checkpoint(matforge, cluster_data, capsys, fast):
    assert matforge("fit", "--task", "s2ef", "--model", "toy-pair", "--data", cluster_data, *fast, "--run_dir", "runs/fit") == 0
    checkpoint = "runs/fit/checkpoints/best.ckpt"
    # the task and its settings come from the checkpoint; only the data is given
    quiet = ["--trainer.enable_progress_bar", "false"]
    assert matforge("validate", "--data", cluster_data, "--ckpt_path", checkpoint, *quiet, "--run_dir", "runs/val") == 0
    header = next(csv.reader(Path("runs/val/logs/metrics.csv").open()))
    assert {"val_ood_ads/energy_mae", "val_ood_ads/force_mae"} <= set(header)
    assert matforge("predict", "--ckpt_path", checkpoint, "--data", cluster_data,
                    "--data.init_args.predict", f"{cluster_data}/val_id", *quiet, "--run_dir", "runs/pred") == 0
    assert "predictions: runs/pred/predictions/val_id.npz" in capsys.readouterr().out
    predictions = Predictions.load("runs/pred/predictions/val_id.npz")
    assert predictions["energy"].shape == (8,)
    assert predictions["forces"].shape == (predictions.num_atoms.sum(), 3)
    assert list(predictions.index) == list(range(8))


def test_predict_writes_next_to_the_checkpoint_named_by_set(matforge, cluster_data, capsys, fast):
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast, "--run_dir", "runs/fit") == 0
    assert matforge("predict", "--ckpt_path", "runs/fit/checkpoints/best.ckpt", "--data", cluster_data,
                    "--data.init_args.predict", f"{cluster_data}/val_ood_ads", "--trainer.enable_progress_bar", "false") == 0
    assert "predictions: runs/fit/predictions/val_ood_ads.npz" in capsys.readouterr().out
    assert sorted(p.name for p in Path("runs").iterdir()) == ["fit"]  # no new run directory
    assert Predictions.load("runs/fit/predictions/val_ood_ads.npz").name == "val_ood_ads"


def test_validate_prints_matforge_table(matforge, cluster_data, capsys, fast):
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast, "--run_dir", "runs/fit") == 0
    capsys.readouterr()
    assert matforge("validate", "--data", cluster_data, "--ckpt_path", "runs/fit/checkpoints/best.ckpt",
                    "--trainer.enable_progress_bar", "false", "--run_dir", "runs/val") == 0
    printed = capsys.readouterr().out
    assert "DataLoader" not in printed
    header = next(line for line in printed.splitlines() if "metric" in line)
    assert [c.strip() for c in header.split("┃") if c.strip()] == ["metric", "val_id", "val_ood_ads"]
    assert "energy_per_atom_mae" in printed  # full metric names


def test_missing_checkpoint_file(matforge, cluster_data, capsys):
    assert matforge("validate", "--data", cluster_data, "--ckpt_path", "nope.ckpt") == 1
    assert "--ckpt_path nope.ckpt: no such checkpoint file" in capsys.readouterr().err


def test_print_config_is_a_complete_config(matforge, cluster_data, capsys, tmp_path, fast):
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, "--print_config") == 0
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert config["model"]["init_args"]["backbone"] == "toy-pair"
    (tmp_path / "c.yaml").write_text(printed)
    assert matforge("fit", "--config", "c.yaml", *fast, "--trainer.max_epochs", "1") == 0
    assert only_run().name.startswith("is2re-toy-pair-")


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--task", "is2ree", "--model", "toy-pair"], 1, "unknown task 'is2ree'. Did you mean 'is2re'"),
        (["--task", "is2re", "--model", "toy-pairs"], 1, "unknown model 'toy-pairs'. Did you mean 'toy-pair'"),
        (["--task", "is2re", "--model", "toy-pair", "--model.init_args.learning_rate", "1"], 2, "learning_rate"),
        (["--task", "is2re", "--model", "toy-pair", "--trainer.epochs", "1"], 2, "trainer.epochs"),
        (["--task", "is2re", "--model", "toy-pair", "--data.init_args.representation", "graph"], 1,
         "set up for representation 'graph' (no settings) (--data.init_args.representation / representation_args) "
         "but backbone 'toy-pair' (PairMLP) consumes 'atoms' (no settings)"),
    ],
)
def test_bad_input_is_one_clear_error(matforge, cluster_data, capsys, args, status, message):
    assert matforge("fit", "--data", cluster_data, *args) == status
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not Path("runs").exists()


def test_unknown_devset_gets_suggestions(matforge, capsys):
    assert matforge("fit", "--model", "toy-pair", "--data", "devset:emt-is2r") == 1
    assert "Did you mean 'emt-is2re'" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_processes_share_one_run_directory(cluster_data, tmp_path, fast):
    """Lightning's DDP launcher re-runs the command line in a second process; both must write
    to the run directory the first one chose."""
    command = [sys.executable, "-m", "matforge.cli.main", "fit", "--task", "is2re", "--model", "toy-pair",
               "--data", cluster_data, *fast, "--trainer.max_epochs", "1",
               "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = list((tmp_path / "runs").iterdir())
    assert (run / "checkpoints/best.ckpt").is_file()
    assert done.stdout.count("run directory:") == 2  # printed by rank 0 only, at start and end
