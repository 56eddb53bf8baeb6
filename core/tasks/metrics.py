"""The metrics papers report, as torchmetrics (summed states, so DDP syncs them exactly).

Each group is a ``ModuleDict`` of metric name → :class:`torchmetrics.Metric`; the task logs
each as ``<split>/<name>`` (e.g. ``val_id/energy_mae``). One set of groups exists per split
(``train``, each named validation set, ``test``), created when a split is first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, Metric

#: OC20's "energy within threshold": the share of structures with |ΔE| below this (eV).
EWT_THRESHOLD = 0.02


class MetricGroup(nn.ModuleDict):
    """Named metrics updated together by ``record`` (not ``update``, which ModuleDict owns);
    ``items()`` gives what to log."""

    def record(self, *args: Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class EnergyMetrics(MetricGroup):
    """``energy_mae``, ``energy_rmse`` (eV), ``energy_ewt`` (share with |ΔE| < 0.02 eV),
    ``energy_per_atom_mae`` (eV/atom)."""

    def __init__(self) -> None:
        super().__init__(
            {
                "energy_mae": MeanAbsoluteError(),
                "energy_rmse": MeanSquaredError(squared=False),
                "energy_ewt": MeanMetric(),
                "energy_per_atom_mae": MeanMetric(),
            }
        )

    def record(self, pred: Tensor, target: Tensor, num_atoms: Tensor) -> None:
        """``pred``, ``target`` [G] eV; ``num_atoms`` [G]."""
        error = (pred - target).detach()
        self["energy_mae"].update(pred.detach(), target)
        self["energy_rmse"].update(pred.detach(), target)
        self["energy_ewt"].update((error.abs() < EWT_THRESHOLD).to(error.dtype))
        self["energy_per_atom_mae"].update(error.abs() / num_atoms.to(error.dtype))


class ForceMetrics(MetricGroup):
    """``force_mae``, ``force_rmse`` (eV/Å, over all components of the atoms scored) and
    ``force_cos`` (mean cosine similarity of predicted and reference force per atom)."""

    def __init__(self) -> None:
        super().__init__(
            {
                "force_mae": MeanAbsoluteError(),
                "force_rmse": MeanSquaredError(squared=False),
                "force_cos": MeanMetric(),
            }
        )

    def record(self, pred: Tensor, target: Tensor) -> None:
        """``pred``, ``target`` [M, 3] eV/Å over the M atoms scored (fixed atoms left out)."""
        if pred.shape[0] == 0:
            return
        pred = pred.detach()
        self["force_mae"].update(pred, target)
        self["force_rmse"].update(pred, target)
        self["force_cos"].update(F.cosine_similarity(pred, target, dim=-1))


class ErrorMetrics(MetricGroup):
    """``<name>_mae`` and ``<name>_rmse`` of any target (over all its components)."""

    def __init__(self, name: str) -> None:
        super().__init__({f"{name}_mae": MeanAbsoluteError(), f"{name}_rmse": MeanSquaredError(squared=False)})

    def record(self, pred: Tensor, target: Tensor) -> None:
        pred = pred.detach().reshape(target.shape)
        for metric in self.values():
            metric.update(pred, target)


class SplitMetrics(nn.Module):
    """One dict of metric groups per split, built by ``factory`` the first time a split is seen
    (validation set names are known only once the datamodule is set up)."""

    def __init__(self, factory: Callable[[], dict[str, MetricGroup]]) -> None:
        super().__init__()
        self._factory = factory
        self.splits = nn.ModuleDict()
        self.losses = nn.ModuleDict()

    def __call__(self, split: str, device: torch.device) -> nn.ModuleDict:
        key = _key(split)
        if key not in self.splits:
            self.splits[key] = nn.ModuleDict(self._factory()).to(device)
        return self.splits[key]

    def loss(self, split: str, name: str, device: torch.device) -> tuple[MeanMetric, str]:
        """A structure-weighted mean of loss ``name`` on ``split`` and its attribute path.

        Evaluation losses are logged through it rather than as tensors: its summed states
        sync exactly under DDP, also when ranks hold different numbers of structures.
        """
        key = _key(split)
        if key not in self.losses:
            self.losses[key] = nn.ModuleDict()
        if name not in self.losses[key]:
            self.losses[key][name] = MeanMetric().to(device)
        return self.losses[key][name], f"losses.{key}.{name}"

    def results(self, split: str) -> dict[str, float]:
        """``{name: value}`` of every metric and loss mean of ``split`` (computed, then reset)."""
        key = _key(split)
        modules = [(n, m) for n, m, _ in self.named_metrics(split)] if key in self.splits else []
        modules += list(self.losses[key].items()) if key in self.losses else []
        values: dict[str, float] = {}
        for name, metric in modules:
            values[name] = float(metric.compute()) if metric.update_count else float("nan")
            metric.reset()
        return values

    def named_metrics(self, split: str) -> Iterator[tuple[str, Metric, str]]:
        """``(name, metric, attribute path below this module)`` of every metric of ``split``.

        Lightning needs the attribute path of a logged Metric; it indexes them once, before
        splits created later exist, so the path is passed along explicitly.
        """
        key = _key(split)
        for group_name, group in self.splits[key].items():
            for name, metric in group.items():
                yield name, metric, f"splits.{key}.{group_name}.{name}"


def _key(split: str) -> str:
    """A ModuleDict key for ``split``: split names such as ``train`` would shadow Module
    methods, and ``.`` is not allowed in module names."""
    return "split_" + split.replace(".", "_")
