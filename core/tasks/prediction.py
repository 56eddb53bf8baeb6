"""Loading trained tasks and predicting on structures outside a Trainer."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from matforge.errors import InvalidValueError
from matforge.interfaces import build_representation
from matforge.predictions import Predictions
from matforge.structure import AtomicStructure

if TYPE_CHECKING:
    from matforge.tasks.base import AtomisticTask

def as_structure(item: Any, index: int = 0, keep: frozenset[str] = frozenset()) -> AtomicStructure:
    """An :class:`AtomicStructure` from a structure or an ``ase.Atoms``, with only the targets
    named in ``keep`` (so that labelled and unlabelled inputs batch together)."""
    if isinstance(item, AtomicStructure):
        structure = item
    elif type(item).__module__.startswith("ase.") and hasattr(item, "get_positions"):
        structure = AtomicStructure.from_ase(item)
    else:
        raise TypeError(f"structure {index} is a {type(item).__name__}; expected AtomicStructure or ase.Atoms")
    targets = {k: v for k, v in structure.targets.items() if k in keep}
    return dataclasses.replace(structure, targets=targets, per_atom=structure.per_atom & frozenset(targets))


def predict_structures(
    task: AtomisticTask,
    structures: Sequence[Any],
    *,
    batch_size: int = 16,
    forces: bool = False,
    stress: bool = False,
) -> Predictions:
    """See :meth:`AtomisticTask.predict`: batches of ``batch_size``, references of the task's
    targets that every structure carries."""
    items = [as_structure(s, k) for k, s in enumerate(structures)]
    if not items:
        raise InvalidValueError("no structures to predict: pass at least one AtomicStructure or ase.Atoms")
    shared = set(task.target_names.values())
    for s in structures:
        shared &= set(getattr(s, "targets", {}))
    if shared:
        items = [as_structure(s, k, frozenset(shared)) for k, s in enumerate(structures)]
    representation = build_representation(task.backbone, dtype=task.dtype)
    parts: list[Predictions] = []
    was_training = task.training
    task.eval()
    try:
        for start in range(0, len(items), batch_size):
            batch = representation.collate([representation(s) for s in items[start : start + batch_size]])
            batch = batch.to(task.device)
            parts.append(task.predictions_of(batch, task._predict_with(batch, forces=forces, stress=stress)))
    finally:
        task.train(was_training)
    return Predictions.concatenate(parts)


def load_task(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> AtomisticTask:
    """The task saved in a checkpoint, whichever registered task wrote it (see
    :func:`matforge.checkpoint.load_task`: ``weights_only=True``, task and backbone rebuilt
    through the registry, a missing plugin raises ``PluginNotInstalledError`` naming the
    distribution and version)."""
    from matforge.checkpoint import load_task as load

    return load(path, map_location)
