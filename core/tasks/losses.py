"""Regression losses on errors already divided by the target's scale (dimensionless)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from matforge.errors import InvalidValueError

#: ``l1`` (the seed paper's choice), ``mse``, ``huber``; ``l2mae`` (mean Euclidean norm of the
#: error vector, common for OC20 forces) treats the last dimension as a vector.
LossName = Literal["l1", "mse", "huber", "l2mae"]
LOSSES: tuple[str, ...] = ("l1", "mse", "huber", "l2mae")


def check_loss(name: str, what: str) -> str:
    """``name`` if it is a known loss, else a ValueError naming the option ``what``."""
    if name not in LOSSES:
        raise InvalidValueError(f"{what} must be one of {list(LOSSES)}, got {name!r}")
    return name


def regression_loss(name: str, error: Tensor, *, huber_delta: float = 1.0) -> Tensor:
    """Mean loss of ``error`` = (prediction − target) / scale, any shape [M, ...].

    An empty ``error`` (e.g. every atom of a batch fixed) gives 0 and keeps the graph.
    """
    if error.numel() == 0:
        return error.sum()
    if name == "l1":
        return error.abs().mean()
    if name == "mse":
        return error.square().mean()
    if name == "huber":
        return F.huber_loss(error, torch.zeros_like(error), delta=huber_delta)
    if name == "l2mae":
        return error.norm(dim=-1).mean() if error.ndim > 1 else error.abs().mean()
    raise InvalidValueError(f"unknown loss {name!r}; choose one of {list(LOSSES)}")
