"""`AtomsBatch`: many structures concatenated along the atom axis, in plain torch.

Every representation's batch (graphs, point clouds) extends this class, so tasks can read
positions, targets and the atom-to-structure index from any batch the same way.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from matforge.errors import InvalidValueError, MatforgeUserError
from matforge.structure import AtomicStructure

B = TypeVar("B", bound="AtomsBatch")


class MissingTargetError(MatforgeUserError, KeyError):
    """A target the task needs is absent from a sample."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class _PackedTensor(NamedTuple):
    """A CPU tensor pickled by value: its dtype and its values as a numpy array, integers in
    the narrowest type that holds them (edge indices fit int32, periodic shifts int8)."""

    dtype: torch.dtype
    values: np.ndarray


_NARROW_INTEGERS = (np.int8, np.int16, np.int32)


def _pack(value: Any) -> Any:
    if isinstance(value, dict) and value and all(isinstance(v, Tensor) for v in value.values()):
        return {k: _pack(v) for k, v in value.items()}
    if not isinstance(value, Tensor) or value.device.type != "cpu" or value.requires_grad or value.layout != torch.strided:
        return value
    values = value.detach().numpy()
    if value.dtype in (torch.int64, torch.int32) and values.size:
        low, high = values.min(), values.max()
        narrow = next(t for t in (*_NARROW_INTEGERS, values.dtype.type) if np.iinfo(t).min <= low and high <= np.iinfo(t).max)
        values = values.astype(narrow, copy=False)
    return _PackedTensor(value.dtype, np.ascontiguousarray(values))


def _unpack(value: Any) -> Any:
    if isinstance(value, _PackedTensor):
        values = value.values if value.values.flags.writeable else value.values.copy()
        return torch.from_numpy(values).to(value.dtype)
    if isinstance(value, dict) and value and all(isinstance(v, _PackedTensor) for v in value.values()):
        return {k: _unpack(v) for k, v in value.items()}
    return value


def _rebuild(cls: type[B], state: dict[str, Any]) -> B:
    return cls(**{name: _unpack(value) for name, value in state.items()})


@dataclass
class AtomsBatch:
    """G structures with N atoms in total.

    Attributes:
        positions: [N, 3] Å (float32 or float64).
        atomic_numbers: [N] int64.
        batch: [N] int64, index of the structure each atom belongs to (sorted).
        num_atoms: [G] int64.
        cell: [G, 3, 3] Å; rows are lattice vectors, zeros for structures without a cell.
        pbc: [G, 3] bool.
        tags: [N] int64 (OC20: 0 subsurface, 1 surface, 2 adsorbate).
        fixed: [N] bool.
        targets: name → [G, ...] per-structure or [N, ...] per-atom tensor.
        per_atom_targets: names in ``targets`` that are per-atom.
        ids: one dict per structure (``sid``, ``fid`` and free-form ids); not moved to devices.
    """

    positions: Tensor
    atomic_numbers: Tensor
    batch: Tensor
    num_atoms: Tensor
    cell: Tensor
    pbc: Tensor
    tags: Tensor
    fixed: Tensor
    targets: dict[str, Tensor] = field(default_factory=dict)
    per_atom_targets: frozenset[str] = frozenset()
    ids: list[dict[str, Any]] = field(default_factory=list)

    @property
    def num_graphs(self) -> int:
        return int(self.num_atoms.shape[0])

    @property
    def num_nodes(self) -> int:
        return int(self.positions.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def device(self) -> torch.device:
        return self.positions.device

    def target(self, name: str) -> Tensor:
        """The target ``name``; raises :class:`MissingTargetError` naming the structures."""
        if name not in self.targets:
            sids = [d.get("sid", d.get("index")) for d in self.ids[:5]]
            raise MissingTargetError(
                f"target {name!r} is missing from this batch (structures {sids}...); it carries "
                f"{sorted(self.targets) or 'no targets'}. Choose a target the dataset has, or "
                "import the dataset with that field."
            )
        return self.targets[name]

    # -- pickling ------------------------------------------------------------------------------

    def __reduce__(self):
        """Pickled by value, in as few and as small buffers as the values allow.

        A batch leaves a DataLoader worker as a pickle; torch would send each tensor through
        its own shared-memory segment (10-13 per batch, 6-11 ms in all, more than building the
        batch), whereas a few packed arrays in the pickle cost well under a millisecond. GPU
        tensors and tensors that require grad keep torch's own pickling.
        """
        state = {f.name: _pack(getattr(self, f.name)) for f in dataclasses.fields(self) if f.init}
        return (_rebuild, (type(self), state))

    def __copy__(self: B) -> B:
        return dataclasses.replace(self)

    def __deepcopy__(self: B, memo: dict[int, Any]) -> B:
        return dataclasses.replace(self, **{f.name: copy.deepcopy(getattr(self, f.name), memo)
                                            for f in dataclasses.fields(self) if f.init})  # fmt: skip

    # -- moving and transforming -------------------------------------------------------------

    def _map_tensors(self: B, fn) -> B:
        changes = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = fn(value)
            elif isinstance(value, dict) and value and all(isinstance(v, Tensor) for v in value.values()):
                changes[f.name] = {k: fn(v) for k, v in value.items()}
        return dataclasses.replace(self, **changes)

    def to(self: B, device: torch.device | str | None = None, dtype: torch.dtype | None = None, non_blocking: bool = False) -> B:
        """Move tensors to ``device``; cast floating tensors to ``dtype`` when given."""

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype=dtype)
            return t.to(device=device, non_blocking=non_blocking) if device is not None else t

        return self._map_tensors(move)

    def pin_memory(self: B) -> B:
        """Page-locked copy, used by ``DataLoader(pin_memory=True)``."""
        return self._map_tensors(lambda t: t.pin_memory())

    def deformed(self: B, strain: Tensor) -> B:
        """The batch under a homogeneous strain ε [G, 3, 3]: x → x(I+ε), cell → cell(I+ε).

        Stress is (1/V)·∂E/∂ε at ε = 0; representations that compute geometry from positions
        and cells (as they must) make that derivative exact.
        """
        eye = torch.eye(3, dtype=self.positions.dtype, device=self.positions.device)
        deformation = eye + strain
        positions = torch.einsum("ni,nij->nj", self.positions, deformation[self.batch])
        cell = torch.bmm(self.cell, deformation)
        return dataclasses.replace(self, positions=positions, cell=cell)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def base_fields(
        cls, structures: Sequence[AtomicStructure], dtype: torch.dtype = torch.float32
    ) -> dict[str, Any]:
        """Tensors of the fields every batch has, for subclasses' collate functions."""
        if not structures:
            raise InvalidValueError("cannot collate an empty list of structures: a batch needs at least one (is the dataset or split empty?)")
        counts = [s.num_atoms for s in structures]
        cells = np.stack([np.zeros((3, 3)) if s.cell is None else np.asarray(s.cell, dtype=np.float64) for s in structures])
        targets: dict[str, Tensor] = {}
        per_atom: set[str] = set()
        names = set(structures[0].targets)
        for k, s in enumerate(structures):
            if set(s.targets) != names:
                missing = names ^ set(s.targets)
                raise MissingTargetError(
                    f"structures in one batch carry different targets: structure {k} "
                    f"(sid={s.sid!r}) differs in {sorted(missing)}"
                )
        for name in sorted(names):
            values = [np.asarray(s.targets[name]) for s in structures]
            if structures[0].is_per_atom(name):
                per_atom.add(name)
                stacked = np.concatenate(values, axis=0)
            else:
                stacked = np.stack(values, axis=0)
            tensor = torch.from_numpy(np.ascontiguousarray(stacked))
            targets[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
        return dict(
            positions=torch.from_numpy(np.concatenate([s.positions for s in structures])).to(dtype),
            atomic_numbers=torch.from_numpy(np.concatenate([s.atomic_numbers for s in structures]).astype(np.int64)),
            batch=torch.repeat_interleave(torch.arange(len(structures)), torch.tensor(counts)),
            num_atoms=torch.tensor(counts, dtype=torch.int64),
            cell=torch.from_numpy(cells).to(dtype),
            pbc=torch.from_numpy(np.stack([np.asarray(s.pbc, dtype=bool) for s in structures])),
            tags=torch.from_numpy(np.concatenate([s.tags for s in structures]).astype(np.int64)),
            fixed=torch.from_numpy(np.concatenate([s.fixed for s in structures]).astype(bool)),
            targets=targets,
            per_atom_targets=frozenset(per_atom),
            ids=[{"sid": s.sid, "fid": s.fid, **s.ids} for s in structures],
        )

    @classmethod
    def collate(cls, structures: Sequence[AtomicStructure], dtype: torch.dtype = torch.float32) -> AtomsBatch:
        """Concatenate structures (no neighbour information)."""
        return cls(**cls.base_fields(structures, dtype))
