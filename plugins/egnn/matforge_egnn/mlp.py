"""Multilayer perceptrons as the EGNN paper's φ functions use them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``silu``, ``gelu``, ``tanh``, ``softplus``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(
    sizes: Sequence[int],
    act: str,
    *,
    activate_last: bool = False,
    bias_last: bool = True,
) -> nn.Sequential:
    """Linear layers ``sizes[0] → sizes[1] → … → sizes[-1]`` with ``act`` between them.

    Args:
        sizes: widths, input first; at least two.
        act: activation name (see :func:`activation`).
        activate_last: also apply the activation after the last linear layer.
        bias_last: give the last linear layer a bias.
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs an input and an output width, got sizes {list(sizes)}")
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out, bias=bias_last or k < last))
        if k < last or activate_last:
            # ReLU may overwrite the linear layer's output: autograd needs neither that
            # output for the linear layer nor ReLU's input, and the [E, width] edge tensors
            # are the largest in the model.
            layers.append(nn.ReLU(inplace=True) if act == "relu" else activation(act))
    return nn.Sequential(*layers)


def last_linear(module: nn.Sequential) -> nn.Linear:
    """The last ``nn.Linear`` of an :func:`mlp`."""
    return next(m for m in reversed(module) if isinstance(m, nn.Linear))
