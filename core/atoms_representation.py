"""The ``atoms`` representation: structures batched as they are, with no neighbour data.

For backbones that need nothing beyond positions and species (composition baselines, the
small test backbones of :mod:`matforge.testing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from matforge.batch import AtomsBatch
from matforge.errors import InvalidValueError
from matforge.structure import AtomicStructure


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``torch.float64`` from ``"float64"``, ``"torch.float64"`` or the dtype itself."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise InvalidValueError(f"representation dtype must be a floating torch dtype such as 'float32', got {dtype!r}")
    return value


class AtomsRepresentation:
    """Structure → itself; samples → :class:`AtomsBatch`."""

    name: ClassVar[str] = "atoms"

    def __init__(self, dtype: torch.dtype | str = torch.float32) -> None:
        self.dtype = resolve_dtype(dtype)

    def __call__(self, structure: AtomicStructure) -> AtomicStructure:
        return structure

    def collate(self, samples: Sequence[AtomicStructure]) -> AtomsBatch:
        return AtomsBatch.collate(samples, self.dtype)
