"""Predicted and reference values of one split, stored as ``predictions/<split>.npz``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_FIELDS = ("energy_pred", "energy_ref", "forces_pred", "forces_ref")


@dataclass
class SplitPredictions:
    """Energies [G] in eV and, for force tasks, force components [M, 3] in eV/Å."""

    split: str
    energy_pred: np.ndarray
    energy_ref: np.ndarray
    forces_pred: np.ndarray | None = None
    forces_ref: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.energy_pred.shape != self.energy_ref.shape:
            raise ValueError(
                f"{self.split}: {self.energy_pred.shape} predicted vs {self.energy_ref.shape} reference energies"
            )
        if (self.forces_pred is None) != (self.forces_ref is None):
            raise ValueError(f"{self.split}: forces need both predicted and reference values")
        if self.forces_pred is not None and self.forces_pred.shape != self.forces_ref.shape:
            raise ValueError(
                f"{self.split}: {self.forces_pred.shape} predicted vs {self.forces_ref.shape} reference forces"
            )

    @property
    def has_forces(self) -> bool:
        return self.forces_pred is not None

    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in _FIELDS if getattr(self, k) is not None}
        path = folder / f"{self.split}.npz"
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SplitPredictions:
        path = Path(path)
        with np.load(path) as data:
            arrays = {k: data[k] for k in _FIELDS if k in data}
        return cls(split=path.stem, **arrays)


def load_all(folder: str | os.PathLike) -> list[SplitPredictions]:
    """Every ``<split>.npz`` in ``folder`` (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [SplitPredictions.load(p) for p in sorted(folder.glob("*.npz"))]
