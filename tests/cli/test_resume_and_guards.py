"""Checkpoints, resuming and stopping: ``last.ckpt`` is the end of every epoch, a resumed run's
log continues without duplicates, ``--ckpt_path last`` picks the run by task, model and data,
a non-finite loss stops training with the step and the last good checkpoint, and what a run
prints in a log file stays compact."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from matforge.training.resume import ResumeError, RunRecord, choose_resumable, trim_metrics
from matforge.training.rundir import RunDirectory

#: lr 0: the validation loss is the same every epoch, so "best" never moves after epoch 0.
CONSTANT = ["--model.init_args.lr", "0.0"]


def fit_args(cluster_data: str, fast: list[str]) -> list[str]:
    return ["fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast, *CONSTANT]


def only_run(root: Path = Path("runs")) -> Path:
    (run,) = list(root.iterdir())
    return run


def saved_epoch(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


def logged_rows(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "logs/metrics.csv").open()))


def duplicated_rows(rows: list[dict[str, str]]) -> list[tuple]:
    """(epoch, step, columns logged) that occur more than once."""
    keys = Counter((r["epoch"], r["step"], tuple(k for k, v in r.items() if v and k not in ("epoch", "step"))) for r in rows)
    return [key for key, count in keys.items() if count > 1]


def test_last_checkpoint_is_the_end_of_every_epoch_even_without_improvement(matforge, cluster_data, fast):
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "3") == 0
    run = only_run()
    assert saved_epoch(run / "checkpoints/last.ckpt") == 2
    assert saved_epoch(run / "checkpoints/best.ckpt") == 0


def test_resumed_run_continues_its_log_from_the_checkpoint(matforge, cluster_data, fast):
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "3") == 0
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "4", "--ckpt_path", "last") == 0
    rows = logged_rows(only_run())
    assert {int(r["epoch"]) for r in rows} == {0, 1, 2, 3}
    assert duplicated_rows(rows) == []
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)


def test_rows_a_killed_run_logged_after_its_last_checkpoint_are_dropped(matforge, cluster_data, fast, tmp_path):
    # A run killed during epoch 2: its log holds epoch 2, its last checkpoint is epoch 1.
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "2") == 0
    run = only_run()
    shutil.copy(run / "checkpoints/last.ckpt", tmp_path / "epoch1.ckpt")
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "3", "--ckpt_path", "last") == 0
    shutil.copy(tmp_path / "epoch1.ckpt", run / "checkpoints/last.ckpt")
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "3", "--ckpt_path", "last") == 0
    rows = logged_rows(run)
    assert duplicated_rows(rows) == []
    assert {int(r["epoch"]) for r in rows} == {0, 1, 2}


def test_trim_keeps_rows_up_to_the_epoch_and_rows_without_one(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss_step,lr\n0,0,1.0,\n1,5,0.5,\n2,9,0.4,\n,,,0.1\n")
    assert trim_metrics(path, 1) == 1
    assert path.read_text().splitlines() == ["epoch,step,train/loss_step,lr", "0,0,1.0,", "1,5,0.5,", ",,,0.1"]


def fake_run(root: Path, name: str, task: str, backbone: str, data: str) -> RunDirectory:
    run = RunDirectory(root / name).make()
    config = {"model": {"class_path": task, "init_args": {"backbone": backbone}}, "data": {"init_args": {"path": data}}}
    run.config.write_text(yaml.safe_dump(config))
    run.last_checkpoint.write_bytes(b"")
    return run


ENERGY = "matforge.tasks.energy.EnergyTask"


def test_last_means_the_run_with_the_same_task_exact_model_and_data(tmp_path):
    wanted = fake_run(tmp_path, "is2re-egnn-1", ENERGY, "egnn", "devset:emt-is2re")
    fake_run(tmp_path, "is2re-egnn-paper-2", ENERGY, "egnn-paper", "devset:emt-is2re")  # not "egnn"
    fake_run(tmp_path, "is2re-egnn-3", ENERGY, "egnn", "devset:lips")  # other data, newer
    fake_run(tmp_path, "s2ef-egnn-4", "matforge.tasks.energy_force.EnergyForceTask", "egnn", "devset:emt-is2re")
    assert choose_resumable(tmp_path, RunRecord(ENERGY, "egnn", "devset:emt-is2re")) == wanted


def test_last_refuses_with_the_candidates_when_ambiguous_or_missing(tmp_path):
    first = fake_run(tmp_path, "is2re-egnn-1", ENERGY, "egnn", "devset:emt-is2re")
    second = fake_run(tmp_path, "is2re-egnn-2", ENERGY, "egnn", "devset:emt-is2re")
    with pytest.raises(ResumeError, match="2 runs") as ambiguous:
        choose_resumable(tmp_path, RunRecord(ENERGY, "egnn", "devset:emt-is2re"))
    assert str(first.path) in str(ambiguous.value) and str(second.path) in str(ambiguous.value)
    with pytest.raises(ResumeError, match=r"no run .* was trained as") as missing:
        choose_resumable(tmp_path, RunRecord(ENERGY, "egnn", "devset:lips"))
    assert str(first.path) in str(missing.value)


def test_a_run_on_other_data_is_never_resumed(matforge, cluster_data, fast, capsys, tmp_path):
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "1") == 0
    run = only_run()
    other = tmp_path / "other"
    shutil.copytree(cluster_data, other)
    status = matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", str(other), *fast,
                      "--run_dir", str(run), "--ckpt_path", "last")  # fmt: skip
    assert status == 1
    assert "trained on" in capsys.readouterr().err
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", str(other), *fast, "--ckpt_path", "last") == 1


def test_a_non_finite_loss_stops_training_naming_the_step_and_the_last_checkpoint(matforge, cluster_data, fast, capsys):
    # epoch 0 at lr 1e-3, then gamma**1 = 1e30 times that: the loss overflows in epoch 1
    status = matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", cluster_data, *fast,
                      "--model.init_args.lr", "1e-3", "--model.init_args.scheduler", "exponential",
                      "--model.init_args.gamma", "1e30", "--trainer.max_epochs", "4")  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1, err
    assert "training stopped at epoch 1, step" in err and "the training loss is" in err
    assert "last good checkpoint is" in err and "last.ckpt (epoch 0, step 3)" in err
    run = only_run()
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=False)
        assert checkpoint["epoch"] == 0, name
        state = checkpoint["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), name


def test_early_stopping_ends_a_run_whose_validation_loss_stalls(matforge, cluster_data, fast):
    assert matforge(*fit_args(cluster_data, fast), "--trainer.max_epochs", "6", "--early_stopping", "1") == 0
    assert saved_epoch(only_run() / "checkpoints/last.ckpt") == 1


def test_log_file_output_is_one_line_per_epoch_without_flops(matforge, cluster_data, fast, capsys):
    quiet = [a for a in fast if a not in ("--trainer.enable_progress_bar", "--trainer.enable_model_summary", "false")]
    assert matforge(*fit_args(cluster_data, quiet), "--trainer.max_epochs", "2") == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert "val/loss" in lines[0]
    assert "FLOPs" not in out and "Flops" not in out
    assert "trainable parameters" in out


def test_validation_split_named_val_is_logged_once(matforge, cluster_data, fast, tmp_path, capsys):
    data = tmp_path / "named-val"
    data.mkdir()
    shutil.copytree(Path(cluster_data) / "train", data / "train")
    shutil.copytree(Path(cluster_data) / "val_id", data / "val")
    shutil.copytree(Path(cluster_data) / "val_ood_ads", data / "test")
    assert matforge("fit", "--task", "is2re", "--model", "toy-pair", "--data", str(data), *fast, "--trainer.max_epochs", "1") == 0
    run = only_run()
    assert matforge("evaluate", str(run)) == 0, capsys.readouterr().err
    assert matforge("plot", str(run)) == 0, capsys.readouterr().err


def test_curves_keep_the_loss_of_a_validation_set_named_val(tmp_path):
    from matforge.training.curves import read_curves

    named = tmp_path / "named.csv"
    named.write_text("epoch,step,val/loss,val/force_mae\n0,3,0.5,0.2\n1,7,0.4,0.1\n")
    assert read_curves(named)["loss"]["val"] == [(0, 0.5), (1, 0.4)]
    alias = tmp_path / "alias.csv"
    alias.write_text("epoch,step,val/loss,val_id/loss\n0,3,0.5,0.5\n")
    assert set(read_curves(alias)["loss"]) == {"val_id"}
