"""Loading trained tasks and predicting on structures outside a Trainer."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from matforge.interfaces import build_representation
from matforge.structure import AtomicStructure

if TYPE_CHECKING:
    from matforge.tasks.base import AtomisticTask

#: Predictions with one row per atom; :func:`predict_structures` splits them per structure.
PER_ATOM_OUTPUTS: frozenset[str] = frozenset({"forces"})


def as_structure(item: Any, index: int = 0) -> AtomicStructure:
    """An :class:`AtomicStructure` without targets from a structure or an ``ase.Atoms``.

    Targets are dropped so that labelled and unlabelled inputs batch together.
    """
    if isinstance(item, AtomicStructure):
        structure = item
    elif type(item).__module__.startswith("ase.") and hasattr(item, "get_positions"):
        structure = AtomicStructure.from_ase(item)
    else:
        raise TypeError(f"structure {index} is a {type(item).__name__}; expected AtomicStructure or ase.Atoms")
    return dataclasses.replace(structure, targets={}, per_atom=frozenset())


def predict_structures(
    task: AtomisticTask,
    structures: Sequence[Any],
    *,
    batch_size: int = 16,
    forces: bool = False,
    stress: bool = False,
) -> dict[str, Any]:
    """See :meth:`AtomisticTask.predict`."""
    items = [as_structure(s, k) for k, s in enumerate(structures)]
    representation = build_representation(task.backbone, dtype=task.dtype)
    chunks: dict[str, list[np.ndarray]] = {}
    was_training = task.training
    task.eval()
    try:
        for start in range(0, len(items), batch_size):
            batch = representation.collate([representation(s) for s in items[start : start + batch_size]])
            batch = batch.to(task.device)
            for name, value in task._predict_with(batch, forces=forces, stress=stress).items():
                array = value.detach().to("cpu", torch.float64).numpy()
                if name in PER_ATOM_OUTPUTS:
                    chunks.setdefault(name, []).extend(np.split(array, np.cumsum(batch.num_atoms.tolist())[:-1]))
                else:
                    chunks.setdefault(name, []).append(array)
    finally:
        task.train(was_training)
    return {
        name: parts if name in PER_ATOM_OUTPUTS else np.concatenate(parts, axis=0)
        for name, parts in chunks.items()
    }


def load_task(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> AtomisticTask:
    """The task saved in a checkpoint, whichever registered task wrote it (see
    :func:`matforge.checkpoint.load_task`: ``weights_only=True``, task and backbone rebuilt
    through the registry, a missing plugin raises ``PluginNotInstalledError`` naming the
    distribution and version)."""
    from matforge.checkpoint import load_task as load

    return load(path, map_location)
