"""Run directory naming, resume lookup, and the default loggers."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from matforge.training import defaults
from matforge.training.rundir import RunDirectory

NOON = datetime(2026, 1, 2, 12, 0, 0)


def test_new_run_names_task_model_and_time_and_never_reuses_a_folder(tmp_path):
    first = RunDirectory.new(tmp_path, "s2ef", "egnn-paper", now=NOON).make()
    assert first.path == tmp_path / "s2ef-egnn-paper-20260102-120000"
    second = RunDirectory.new(tmp_path, "s2ef", "egnn-paper", now=NOON)
    assert second.path.name == "s2ef-egnn-paper-20260102-120000-2"
    assert RunDirectory.new(tmp_path, "is2re", "a/b c", now=NOON).path.name == "is2re-a_b_c-20260102-120000"


def test_latest_is_the_newest_run_of_that_task_and_model_with_a_last_checkpoint(tmp_path):
    runs = {}
    for name, stamp in [("is2re-egnn-1", 100), ("is2re-egnn-2", 300), ("is2re-egnn-3", None), ("s2ef-egnn-4", 500)]:
        run = RunDirectory(tmp_path / name).make()
        if stamp is not None:
            run.last_checkpoint.write_bytes(b"")
            os.utime(run.last_checkpoint, (stamp, stamp))
        runs[name] = run
    assert RunDirectory.latest(tmp_path, "is2re", "egnn") == runs["is2re-egnn-2"]
    assert RunDirectory.latest(tmp_path, "is2re", "megnet") is None
    assert RunDirectory.latest(tmp_path / "missing", "is2re", "egnn") is None


def test_of_checkpoint(tmp_path):
    assert RunDirectory.of_checkpoint(tmp_path / "r" / "checkpoints" / "best.ckpt") == RunDirectory(tmp_path / "r")
    assert RunDirectory.of_checkpoint(tmp_path / "model.ckpt") is None


def test_csv_always_tensorboard_when_installed(tmp_path, monkeypatch):
    run = RunDirectory(tmp_path / "run")
    monkeypatch.setattr(defaults, "tensorboard_available", lambda: True)
    assert [type(x).__name__ for x in defaults.default_loggers(run)] == ["RunCSVLogger", "TensorBoardLogger"]
    monkeypatch.setattr(defaults, "tensorboard_available", lambda: False)
    (csv_logger,) = defaults.default_loggers(run)
    assert Path(csv_logger.log_dir) == run.logs


def test_resumed_csv_log_keeps_earlier_rows(tmp_path):
    run = RunDirectory(tmp_path / "run").make()
    first = defaults.RunCSVLogger(save_dir=run.path, name="logs", version="")
    first.log_metrics({"val_id/loss": 2.0, "epoch": 0}, step=0)
    first.save()
    second = defaults.RunCSVLogger(save_dir=run.path, name="logs", version="")
    second.log_metrics({"val_id/loss": 1.0, "val_id/energy_mae": 0.5, "epoch": 1}, step=1)
    second.save()
    lines = run.metrics_csv.read_text().splitlines()
    assert lines[0] == "epoch,step,val_id/energy_mae,val_id/loss"
    assert lines[1:] == ["0,0,,2.0", "1,1,0.5,1.0"]
