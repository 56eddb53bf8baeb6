"""`PointCloudBatch`: an :class:`~matforge.batch.AtomsBatch` with atom-centred neighbourhoods.

Each of C centres (atoms of the batch) carries up to K neighbours within the representation's
cutoff, periodic images included, padded to a dense [C, K] layout with a boolean ``mask``.
Memory is O(C·K), never O(N²) per structure.

Relative vectors are computed from positions, integer cell shifts and cells on demand
(:meth:`PointCloudBatch.relative_vectors`), so forces and stress come from autograd, as for
graph edges. The conventions follow :mod:`matforge.neighbors`: slot ``(c, k)`` is atom
``neighbours[c, k]`` in the periodic image ``shifts[c, k]`` of the centre ``centres[c]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from matforge.batch import AtomsBatch
from matforge.errors import InvalidValueError
from matforge.structure import AtomicStructure


@dataclass(kw_only=True)
class PointCloudBatch(AtomsBatch):
    """G structures, N atoms, C centres, K neighbour slots per centre.

    Attributes (beyond :class:`AtomsBatch`):
        centres: [C] int64, atom index (into the batch's atoms) of each centre; sorted, the
            centres of structure g after those of structure g - 1.
        neighbours: [C, K] int64, atom index of each neighbour slot, nearest first; padded
            slots hold the centre's own index.
        shifts: [C, K, 3] int8, periodic image of each neighbour (multiples of the cell rows
            of the centre's structure); zero in padded slots.
        mask: [C, K] bool, True for a real neighbour.
        centre_batch: [C] int64, structure index of each centre.
        num_centres: [G] int64, centres per structure.
        pair_features: [C, K, 2·E] float one-hot pair features (``one_hot=True`` in the
            representation: one-hot of the centre's atomic number, then of the neighbour's,
            E = ``num_elements``; zero in padded slots), else ``None``.

    K is the largest neighbourhood in the batch (at most the representation's
    ``max_neighbors``). A centre is never its own neighbour at zero shift; its periodic images
    within the cutoff are neighbours.
    """

    centres: Tensor
    neighbours: Tensor
    shifts: Tensor
    mask: Tensor
    centre_batch: Tensor
    num_centres: Tensor
    pair_features: Tensor | None = None

    def __post_init__(self) -> None:
        c = self.centres.shape[0]
        if self.centres.dim() != 1 or self.centres.dtype != torch.int64:
            raise ValueError(f"centres must be an int64 tensor of shape [C], got {self.centres.dtype} {list(self.centres.shape)}")
        if self.neighbours.dim() != 2 or self.neighbours.shape[0] != c or self.neighbours.dtype != torch.int64:
            raise ValueError(
                f"neighbours must be an int64 tensor of shape [C, K] with C = {c}, got "
                f"{self.neighbours.dtype} {list(self.neighbours.shape)}"
            )
        k = self.neighbours.shape[1]
        if self.shifts.shape != (c, k, 3) or self.shifts.dtype != torch.int8:
            raise ValueError(
                f"shifts must be an int8 tensor of shape [C, K, 3] = [{c}, {k}, 3], got "
                f"{self.shifts.dtype} {list(self.shifts.shape)}"
            )
        if self.mask.shape != (c, k) or self.mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape [C, K] = [{c}, {k}], got {self.mask.dtype} {list(self.mask.shape)}")
        if self.centre_batch.shape != (c,):
            raise ValueError(f"centre_batch must have shape [C] = [{c}], got {list(self.centre_batch.shape)}")
        if self.num_centres.shape != self.num_atoms.shape:
            raise ValueError(f"num_centres must have shape [G] = {list(self.num_atoms.shape)}, got {list(self.num_centres.shape)}")
        if self.pair_features is not None and tuple(self.pair_features.shape[:2]) != (c, k):
            raise ValueError(f"pair_features must have shape [C, K, F] = [{c}, {k}, F], got {list(self.pair_features.shape)}")
        # Totals are only checked on CPU: reading a GPU tensor would synchronise the device.
        if self.num_centres.device.type == "cpu" and int(self.num_centres.sum()) != c:
            raise ValueError(f"num_centres sums to {int(self.num_centres.sum())}, but there are {c} centres")

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def total_centres(self) -> int:
        """C, the number of centres in the batch."""
        return int(self.centres.shape[0])

    @property
    def max_neighbours(self) -> int:
        """K, the number of neighbour slots per centre."""
        return int(self.neighbours.shape[1])

    # -- geometry and features -----------------------------------------------------------------

    def relative_vectors(self) -> Tensor:
        """[C, K, 3] Å, ``positions[neighbour] + shift @ cell[structure] - positions[centre]``.

        Differentiable w.r.t. ``positions`` (forces) and ``cell`` (stress, through
        :meth:`AtomsBatch.deformed`). Padded slots are exactly 0; their lengths are 0 too, so
        take ``sqrt`` of a masked squared length (``torch.where(mask, r2, 1)``) to keep
        gradients finite.
        """
        pos = self.positions
        cells = self.cell.index_select(0, self.centre_batch)  # [C, 3, 3]
        offsets = torch.bmm(self.shifts.to(pos.dtype), cells)  # [C, K, 3]
        vectors = pos[self.neighbours] + offsets - pos.index_select(0, self.centres).unsqueeze(1)
        return torch.where(self.mask.unsqueeze(-1), vectors, vectors.new_zeros(()))

    def neighbour_numbers(self) -> Tensor:
        """[C, K] int64 atomic numbers of the neighbours, 0 in padded slots."""
        numbers = self.atomic_numbers[self.neighbours]
        return torch.where(self.mask, numbers, numbers.new_zeros(()))

    def centre_numbers(self) -> Tensor:
        """[C] int64 atomic numbers of the centres."""
        return self.atomic_numbers.index_select(0, self.centres)

    def pair_one_hot(self, num_elements: int = 100) -> Tensor:
        """[C, K, 2·num_elements] the paper's symmetric pair one-hot: one-hot(Z_centre − 1)
        then one-hot(Z_neighbour − 1), zeros in padded slots, in the positions' dtype."""
        z_centre = self.centre_numbers()
        z_neighbour = self.atomic_numbers[self.neighbours]
        largest = int(self.atomic_numbers.max()) if self.atomic_numbers.numel() else 0
        if largest > num_elements:
            raise InvalidValueError(
                f"atomic number {largest} does not fit a one-hot of num_elements={num_elements}; "
                "use a larger num_elements for data with heavier elements"
            )
        eye = torch.eye(num_elements, dtype=self.positions.dtype, device=self.positions.device)
        centre = eye[z_centre - 1].unsqueeze(1).expand(-1, self.max_neighbours, -1)
        features = torch.cat([centre, eye[z_neighbour - 1]], dim=-1)
        return features * self.mask.unsqueeze(-1).to(features.dtype)

    def to_atoms(self, values: Tensor) -> Tensor:
        """Per-centre ``values`` [C, ...] → per-atom [N, ...], zero for atoms that are not
        centres (the layout :class:`~matforge.interfaces.Backbone` outputs must have)."""
        out = values.new_zeros((self.num_nodes, *values.shape[1:]))
        return out.index_copy(0, self.centres, values)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def collate(  # type: ignore[override]
        cls, structures: Sequence[AtomicStructure], dtype: torch.dtype = torch.float32, **settings: Any
    ) -> PointCloudBatch:
        """Point clouds of ``structures`` with the representation's ``settings`` (cutoff, …),
        batched. For DataLoaders use
        :class:`~matforge_pointcloud.representation.PointCloudRepresentation`, which builds
        the neighbourhoods in the workers."""
        from matforge_pointcloud.representation import PointCloudRepresentation

        rep = PointCloudRepresentation(dtype=dtype, **settings)
        return rep.collate([rep(s) for s in structures])
