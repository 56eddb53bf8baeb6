"""Optimisers, learning-rate schedules and weight averaging, all set from task arguments.

Every length is given in epochs, so a schedule means the same on a 600-structure devset as on
OC20 (converted to optimiser steps with the run's steps per epoch, fractions allowed). The
schedule is one multiplicative factor per optimiser step (Lightning interval ``step``): a
linear warm-up over ``warmup_epochs`` times the decay chosen by ``scheduler``:

* ``constant``: 1.
* ``exponential``: ``gamma ** epoch``, the seed paper's per-epoch exponential decay.
* ``cosine``: half a cosine from 1 to ``min_lr_ratio`` over the run's total steps.
* ``plateau``: ``ReduceLROnPlateau`` on the validation loss, × ``plateau_factor`` after
  ``plateau_patience`` epochs without improvement (checked once per epoch, after warm-up).

Gradient clipping is the Trainer's (``gradient_clip_val``); it needs nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from matforge.errors import InvalidValueError

OptimizerName = Literal["adamw", "adam", "sgd"]
SchedulerName = Literal["constant", "exponential", "cosine", "plateau"]
SCHEDULERS: tuple[str, ...] = ("constant", "exponential", "cosine", "plateau")


def build_optimizer(
    name: str, parameters: Iterable[nn.Parameter], *, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW (default), Adam or SGD (momentum 0.9) over ``parameters``."""
    params = [p for p in parameters if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise InvalidValueError(f"optimizer must be one of 'adamw', 'adam', 'sgd', got {name!r}")


@dataclass
class LearningRateFactor:
    """Factor on the base learning rate at optimiser step ``step`` (a LambdaLR function).

    A dataclass rather than a closure so LambdaLR stores it in checkpoints and a resumed run
    continues the same schedule.
    """

    scheduler: str
    gamma: float
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    min_lr_ratio: float

    def __call__(self, step: int) -> float:
        warmup = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.scheduler in ("constant", "plateau"):  # plateau: its own scheduler decays
            decay = 1.0
        elif self.scheduler == "exponential":
            decay = self.gamma ** (step // max(self.steps_per_epoch, 1))
        elif self.scheduler == "cosine":
            progress = min(1.0, step / max(self.total_steps, 1))
            decay = self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            raise InvalidValueError(f"scheduler must be one of {', '.join(map(repr, SCHEDULERS))}, got {self.scheduler!r}")
        return warmup * decay


def check_scheduler(name: str) -> str:
    """``name`` if it is a known schedule, else a ValueError listing them."""
    LearningRateFactor(name, 1.0, 1, 1, 0, 0.0)(0)
    return name


def epochs_to_steps(epochs: float, steps_per_epoch: int) -> int:
    """Optimiser steps in ``epochs`` (rounded; at least 1 when ``epochs`` > 0)."""
    if epochs < 0:
        raise InvalidValueError(f"a length in epochs must be >= 0, got {epochs}")
    return max(round(epochs * steps_per_epoch), 1) if epochs > 0 else 0


def steps_of(trainer: object | None) -> tuple[int, int]:
    """(steps per epoch, total steps) of the trainer's run; (1, 1) without a trainer or when
    the number of batches is unknown (iterable datasets)."""
    if trainer is None:
        return 1, 1
    total = trainer.estimated_stepping_batches  # also sets num_training_batches
    batches = trainer.num_training_batches
    accumulate = max(int(getattr(trainer, "accumulate_grad_batches", 1)), 1)
    if not math.isfinite(total) or not math.isfinite(batches):
        return 1, 1
    return max(math.ceil(batches / accumulate), 1), max(int(total), 1)


class WeightAverage(nn.Module):
    """Exponential moving average of a module's parameters and buffers, in the state dict.

    Its copy takes no gradients and is not seen by optimisers or DDP's gradient sync.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise InvalidValueError(f"ema_decay must lie in (0, 1), got {decay}")
        self.average = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        for parameter in self.average.parameters():
            parameter.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        """The averaged copy, used for validation, testing and prediction."""
        return self.average.module

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.average.update_parameters(module)
