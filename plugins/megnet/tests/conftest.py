"""Fixtures of the MEGNet tests: one thread, and a short seeded Lightning fit."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest
import pytorch_lightning as pl
import torch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small batches: OpenMP threads cost more than they bring, badly so on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def fit(one_thread) -> Callable[[pl.LightningModule, pl.LightningDataModule, int], None]:
    """``fit(task, datamodule, steps)``: seeded CPU training for ``steps`` optimiser steps,
    no logging, checkpoints or validation."""

    def run(task: pl.LightningModule, datamodule: pl.LightningDataModule, steps: int) -> None:
        pl.seed_everything(0, verbose=False)
        trainer = pl.Trainer(
            max_steps=steps,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's advice on workers and logging
            trainer.fit(task, datamodule)

    return run
