"""Optimisers, schedules and weight averaging as the task arguments set them."""

from __future__ import annotations

import pytest
import torch

from matforge.tasks import EnergyTask
from matforge.tasks.optimisation import LearningRateFactor


def test_exponential_schedule_decays_by_gamma_once_per_epoch():
    factor = LearningRateFactor("exponential", gamma=0.5, steps_per_epoch=4, total_steps=40, warmup_steps=0, min_lr_ratio=0.0)
    assert [factor(s) for s in (0, 3, 4, 7, 8)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_warmup_rises_linearly_then_hands_over():
    factor = LearningRateFactor("constant", gamma=1.0, steps_per_epoch=1, total_steps=100, warmup_steps=4, min_lr_ratio=0.0)
    assert [factor(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_ends_at_the_minimum_ratio():
    factor = LearningRateFactor("cosine", gamma=1.0, steps_per_epoch=1, total_steps=10, warmup_steps=0, min_lr_ratio=0.1)
    assert factor(0) == 1.0
    assert factor(5) == pytest.approx(0.55)
    assert factor(10) == pytest.approx(0.1)


def test_trainer_applies_the_papers_exponential_decay_per_epoch(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.01, scheduler="exponential", gamma=0.5)
    trainer = make_trainer(max_epochs=2)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8], batch_size=4))  # 2 steps per epoch
    # after 4 steps the schedule is at step 4 = the start of epoch 2
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**2)


def test_adamw_is_the_default_optimiser(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, weight_decay=0.01)
    trainer = make_trainer(max_steps=1)
    trainer.fit(task, datamodule=make_datamodule(clusters[:4]))
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01


def test_ema_weights_are_averaged_and_used_outside_training(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.05, ema_decay=0.5)
    initial = {k: v.clone() for k, v in task.model.state_dict().items()}
    make_trainer(max_steps=3).fit(task, datamodule=make_datamodule(clusters[:12]))
    raw = task.model.state_dict()
    averaged = task.ema.module.state_dict()
    name = "backbone.embedding.weight"
    assert not torch.equal(averaged[name], raw[name]) and not torch.equal(averaged[name], initial[name])
    assert not any(p.requires_grad for p in task.ema.parameters())
    task.eval()
    assert task.network() is task.ema.module
    task.train()
    assert task.network() is task.model


def test_ema_state_round_trips_through_a_checkpoint(clusters, make_trainer, make_datamodule, tmp_path):
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.05, ema_decay=0.9)
    trainer = make_trainer(max_steps=2)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8]))
    trainer.save_checkpoint(tmp_path / "ema.ckpt")
    loaded = EnergyTask.load_from_checkpoint(tmp_path / "ema.ckpt")
    expected = task.predict(clusters[8:10])["energy"]
    assert loaded.predict(clusters[8:10])["energy"] == pytest.approx(expected, rel=1e-6)


def test_warm_up_is_given_in_epochs(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.01, scheduler="constant", warmup_epochs=1.5)
    trainer = make_trainer(max_steps=1)
    trainer.fit(task, datamodule=make_datamodule(clusters[:16], batch_size=4))  # 4 steps per epoch
    (config,) = trainer.lr_scheduler_configs
    assert config.scheduler.lr_lambdas[0].warmup_steps == 6


def test_plateau_schedule_cuts_the_rate_when_the_validation_loss_stalls(clusters, make_trainer, make_datamodule):
    # lr 0: the validation loss is constant, so after `patience` epochs the rate is cut.
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.0, scheduler="plateau", plateau_factor=0.5, plateau_patience=1)
    trainer = make_trainer(max_epochs=4, limit_val_batches=1)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8], batch_size=4))
    (config,) = trainer.lr_scheduler_configs
    assert isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert config.interval == "epoch" and config.monitor == task.monitor
    assert config.scheduler.num_bad_epochs >= 1 or config.scheduler._last_lr[0] < 1.0


def test_plateau_with_warm_up_has_a_step_schedule_and_an_epoch_schedule(clusters, make_trainer, make_datamodule):
    task = EnergyTask("toy-pair", {"hidden": 8}, lr=0.01, scheduler="plateau", warmup_epochs=1)
    trainer = make_trainer(max_steps=1)
    trainer.fit(task, datamodule=make_datamodule(clusters[:8], batch_size=4))
    assert [c.interval for c in trainer.lr_scheduler_configs] == ["step", "epoch"]


def test_negative_warm_up_is_refused():
    with pytest.raises(ValueError, match="warmup_epochs"):
        EnergyTask("toy-pair", {"hidden": 8}, warmup_epochs=-1)
