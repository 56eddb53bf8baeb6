"""Import anything ``ase.io.read`` reads (extxyz, ASE trajectories, ASE databases, …).

Energy, forces and stress come from each frame's stored calculator results; the key map
adds targets from ``atoms.info`` or ``atoms.arrays`` (``--map energy_relaxed=relaxed_energy``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from matforge.data.errors import DatasetError
from matforge.data.importers.base import SourceItem
from matforge.structure import PER_ATOM_TARGETS, StructureError


def read_ase(source, key_map: Mapping[str, str], file_format: str | None = None) -> tuple[int, Iterator[SourceItem]]:
    """Number of frames and a lazy stream of items."""
    try:
        import ase.io
    except ImportError as exc:  # pragma: no cover - ase is a test dependency
        raise ImportError("importing with --format ase needs ase: pip install 'matforge[ase]'") from exc
    from matforge.ase_io import atoms_to_structure

    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source {str(path)!r} does not exist")
    try:
        frames = ase.io.read(str(path), index=":", format=file_format)
    except Exception as exc:
        raise DatasetError(f"ase.io.read cannot read {str(path)!r}: {type(exc).__name__}: {exc}") from None
    if not isinstance(frames, list):
        frames = [frames]

    def items() -> Iterator[SourceItem]:
        for k, atoms in enumerate(frames):
            where = f"{path.name} frame {k}"
            targets = {}
            missing = []
            for dest, src in key_map.items():
                if src in atoms.arrays:
                    targets[dest] = np.asarray(atoms.arrays[src])
                elif src in atoms.info:
                    targets[dest] = np.asarray(atoms.info[src])
                else:
                    missing.append(src)
            if missing:
                yield SourceItem(where, error=f"missing key {missing[0]!r} in atoms.info and atoms.arrays")
                continue
            try:
                per_atom = frozenset(d for d, src in key_map.items() if src in atoms.arrays and d not in PER_ATOM_TARGETS)
                structure = atoms_to_structure(atoms, targets=targets, per_atom=per_atom)
            except (StructureError, ValueError, KeyError) as exc:
                yield SourceItem(where, error=str(exc))
                continue
            structure.ids.setdefault("frame", k)
            yield SourceItem(where, structure)

    return len(frames), items()
