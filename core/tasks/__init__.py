"""The standard tasks: LightningModules that train a backbone on atomistic targets.

| registry name | class | predicts |
|---|---|---|
| ``is2re`` (alias ``energy``) | :class:`EnergyTask` | one energy per structure (eV) |
| ``s2ef`` (alias ``energy-forces``) | :class:`EnergyForceTask` | energy, forces = −∂E/∂x, stress |
| ``property`` | :class:`PropertyTask` | named per-structure scalars/vectors |

Each logs ``<split>/<metric>`` (``train/loss``, ``val_id/energy_mae``, …) and keeps its
normalisation in buffers so a checkpoint predicts in physical units on its own.
"""

from __future__ import annotations

from matforge.tasks.base import AtomisticTask, RepresentationMismatchError
from matforge.tasks.energy import EnergyTask
from matforge.tasks.energy_force import EnergyForceTask
from matforge.tasks.prediction import load_task
from matforge.tasks.property import PropertyTask

__all__ = [
    "AtomisticTask",
    "EnergyForceTask",
    "EnergyTask",
    "PropertyTask",
    "RepresentationMismatchError",
    "load_task",
]
