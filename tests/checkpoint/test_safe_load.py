"""Checkpoints run no code: every load is weights_only, whatever path reaches it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from matforge.checkpoint import (
    CHECKPOINT_KEY,
    SafeCheckpointIO,
    UnregisteredTaskError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_task,
)
from matforge.cli.train import with_safe_checkpoint_io
from matforge.data.datamodule import AtomicDataModule
from matforge.errors import MatforgeUserError
from matforge.tasks import EnergyTask

from .helpers import edit_checkpoint, fit_and_save, quiet_trainer


class _Payload:
    """Unpickling this calls ``os.makedirs(marker)``: evidence that the file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _hostile(saved: Path, tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-ran"
    path = edit_checkpoint(saved, tmp_path / "hostile.ckpt", lambda c: c["callbacks"].update(x=_Payload(marker)))
    return path, marker


def test_a_checkpoint_that_would_run_code_is_refused(saved, tmp_path):
    path, marker = _hostile(saved, tmp_path)
    with pytest.raises(UnsafeCheckpointError, match=r"hostile\.ckpt: refused.*makedirs") as raised:
        load_checkpoint(path)
    assert not marker.exists()
    assert isinstance(raised.value, MatforgeUserError)


def test_the_fallback_for_torch_without_safe_globals_refuses_it_too(saved, tmp_path, monkeypatch):
    path, marker = _hostile(saved, tmp_path)
    monkeypatch.delattr(torch.serialization, "safe_globals")
    with pytest.raises(UnsafeCheckpointError, match="makedirs"):
        load_checkpoint(path)
    assert not marker.exists()


def test_the_fallback_reads_a_real_checkpoint_as_torch_does(saved, monkeypatch):
    expected = load_checkpoint(saved)
    monkeypatch.delattr(torch.serialization, "safe_globals")
    loaded = load_checkpoint(saved)
    assert loaded.keys() == expected.keys()
    for name, value in expected["state_dict"].items():
        assert torch.equal(loaded["state_dict"][name], value), name


def test_paths_in_a_datamodules_hyperparameters_are_allowed(tmp_path, dataset_dir):
    datamodule = AtomicDataModule(dataset_dir, batch_size=4)  # a Path, saved as a Path
    trainer = quiet_trainer(tmp_path, max_steps=1)
    try:
        trainer.fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule=datamodule)
        trainer.save_checkpoint(tmp_path / "path.ckpt")
    finally:
        datamodule.dataset("train").close()
    assert load_checkpoint(tmp_path / "path.ckpt")["datamodule_hyper_parameters"]["path"] == dataset_dir


def test_load_task_and_load_from_checkpoint_refuse_it(saved, tmp_path):
    path, marker = _hostile(saved, tmp_path)
    for load in (load_task, EnergyTask.load_from_checkpoint):
        with pytest.raises(UnsafeCheckpointError):
            load(path)
    assert not marker.exists()


def test_trainer_resume_through_safe_checkpoint_io_refuses_it(saved, tmp_path, dataset_dir):
    path, marker = _hostile(saved, tmp_path)
    datamodule = AtomicDataModule(str(dataset_dir), batch_size=4)
    trainer = quiet_trainer(tmp_path, max_steps=4, plugins=[SafeCheckpointIO()])
    try:
        with pytest.raises(UnsafeCheckpointError):
            trainer.fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule=datamodule, ckpt_path=path)
    finally:
        datamodule.dataset("train").close()
    assert not marker.exists()


def test_trainer_resume_through_safe_checkpoint_io_continues_a_real_run(tmp_path, dataset_dir):
    path = fit_and_save(EnergyTask("toy-pair", {"hidden": 8}), dataset_dir, tmp_path / "first.ckpt")
    datamodule = AtomicDataModule(str(dataset_dir), batch_size=4)
    trainer = quiet_trainer(tmp_path, max_steps=4, max_epochs=3, plugins=[SafeCheckpointIO()])
    try:
        trainer.fit(EnergyTask("toy-pair", {"hidden": 8}), datamodule=datamodule, ckpt_path=path)
    finally:
        datamodule.dataset("train").close()
    assert trainer.global_step == 4


def test_cli_trainers_get_safe_checkpoint_io_unless_one_is_configured():
    assert [type(p) for p in with_safe_checkpoint_io(None)] == [SafeCheckpointIO]
    from lightning_fabric.plugins import TorchCheckpointIO

    mine = TorchCheckpointIO()
    assert with_safe_checkpoint_io([mine]) == [mine]


def test_cli_resume_from_a_hostile_last_checkpoint_runs_no_code(saved, tmp_path, monkeypatch, dataset_dir, capsys):
    from matforge.cli.main import main

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _, marker = _hostile(saved, tmp_path)
    edit_checkpoint(saved, run / "checkpoints" / "last.ckpt", lambda c: c["callbacks"].update(x=_Payload(marker)))
    monkeypatch.chdir(tmp_path)
    status = main(["fit", "--task", "is2re", "--model", "toy-pair", "--data", str(dataset_dir), "--run_dir", str(run),
                   "--ckpt_path", "last", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"])  # fmt: skip
    assert status == 1
    assert "refused to load" in capsys.readouterr().err
    assert not marker.exists()


def test_cli_validate_refuses_a_checkpoint_naming_another_class(saved, tmp_path, monkeypatch, dataset_dir, capsys):
    from matforge.cli.main import main

    path = edit_checkpoint(saved, tmp_path / "zen.ckpt", lambda c: c["hyper_parameters"].update(_class_path="this.Zen"))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("this", None)
    assert main(["validate", "--data", str(dataset_dir), "--ckpt_path", str(path)]) == 1
    assert "'this.Zen'" in capsys.readouterr().err
    assert "this" not in sys.modules


def test_cli_validate_refuses_an_unregistered_task(saved, tmp_path, monkeypatch, dataset_dir, capsys):
    from matforge.cli.main import main

    def zen(checkpoint):
        checkpoint[CHECKPOINT_KEY]["task"] = "this:Zen"
        checkpoint[CHECKPOINT_KEY].pop("format")

    path = edit_checkpoint(saved, tmp_path / "zen.ckpt", zen)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("this", None)
    assert main(["validate", "--data", str(dataset_dir), "--ckpt_path", str(path)]) == 1
    assert "not a registered task" in capsys.readouterr().err
    assert "this" not in sys.modules
    assert issubclass(UnregisteredTaskError, MatforgeUserError)


def test_a_checkpoint_named_in_a_config_file_is_checked_too(saved, tmp_path, monkeypatch, dataset_dir, capsys):
    from matforge.cli.main import main

    path = edit_checkpoint(saved, tmp_path / "zen.ckpt", lambda c: c["hyper_parameters"].update(_class_path="this.Zen"))
    (tmp_path / "c.yaml").write_text(f"ckpt_path: {path}\n")
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("this", None)
    status = main(["validate", "--task", "is2re", "--model", "toy-pair", "--data", str(dataset_dir), "--config", "c.yaml"])
    assert status == 1
    assert "'this.Zen'" in capsys.readouterr().err
    assert "this" not in sys.modules


def test_the_datamodule_loads_from_a_checkpoint_safely(saved, tmp_path, dataset_dir):
    assert AtomicDataModule.load_from_checkpoint(saved).hparams.path == str(dataset_dir)
    path, marker = _hostile(saved, tmp_path)
    with pytest.raises(UnsafeCheckpointError):
        AtomicDataModule.load_from_checkpoint(path)
    assert not marker.exists()
