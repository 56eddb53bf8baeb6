"""`AtomicStructure` ⇄ ``ase.Atoms`` (needs ase; imported only when called).

Energy, forces and stress travel through a ``SinglePointCalculator``; fixed atoms through a
``FixAtoms`` constraint; tags as ASE tags; other targets and the ids through ``atoms.info``
(per-structure) and ``atoms.arrays`` (per-atom).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from matforge.structure import AtomicStructure

#: Calculator results that become matforge targets (ASE name → matforge name).
CALCULATOR_TARGETS: dict[str, str] = {"energy": "energy", "forces": "forces", "stress": "stress"}

_INFO_IDS = ("sid", "fid")


def _voigt_to_3x3(stress: np.ndarray) -> np.ndarray:
    xx, yy, zz, yz, xz, xy = stress
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], dtype=np.float64)


def _3x3_to_voigt(stress: np.ndarray) -> np.ndarray:
    return np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]])


def structure_to_atoms(structure: AtomicStructure):
    """An ``ase.Atoms`` carrying the structure's tags, fixed atoms, targets and ids."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.constraints import FixAtoms

    s = structure
    atoms = Atoms(
        numbers=np.asarray(s.atomic_numbers),
        positions=np.asarray(s.positions, dtype=np.float64),
        cell=np.zeros((3, 3)) if s.cell is None else np.asarray(s.cell, dtype=np.float64),
        pbc=np.asarray(s.pbc, dtype=bool),
        tags=np.asarray(s.tags),
    )
    if np.any(s.fixed):
        atoms.set_constraint(FixAtoms(indices=np.flatnonzero(s.fixed)))
    results: dict[str, Any] = {}
    for name, value in s.targets.items():
        value = np.asarray(value)
        if name == "energy":
            results["energy"] = float(value.reshape(()))
        elif name == "forces":
            results["forces"] = value.astype(np.float64)
        elif name == "stress":
            results["stress"] = _3x3_to_voigt(value) if value.shape == (3, 3) else value.astype(np.float64)
        elif s.is_per_atom(name):
            atoms.arrays[name] = value.copy()
        else:
            atoms.info[name] = value.item() if value.ndim == 0 else value.copy()
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    if s.sid is not None:
        atoms.info["sid"] = s.sid
    if s.fid is not None:
        atoms.info["fid"] = s.fid
    for key, value in s.ids.items():
        atoms.info.setdefault(key, value)
    return atoms


def atoms_to_structure(
    atoms,
    *,
    targets: Mapping[str, Any] | None = None,
    info_targets: tuple[str, ...] = (),
    **kwargs: Any,
) -> AtomicStructure:
    """An `AtomicStructure` from an ``ase.Atoms``.

    Energy, forces and stress come from the attached calculator's stored results (never a
    new calculation). Atoms under a ``FixAtoms`` constraint are ``fixed``. ``info["sid"]`` and
    ``info["fid"]`` become the ids; other plain scalars in ``atoms.info`` become free-form
    ids.

    Args:
        targets: labels to add or override.
        info_targets: names in ``atoms.info`` (per-structure) or ``atoms.arrays`` (per-atom)
            to take as targets too, e.g. ``("energy_relaxed",)``.
        kwargs: further `AtomicStructure` fields (``sid``, ``ids``, …).
    """
    from ase.constraints import FixAtoms

    n = len(atoms)
    fixed = np.zeros(n, dtype=bool)
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed[constraint.get_indices()] = True
    found: dict[str, Any] = {}
    results = getattr(atoms.calc, "results", None) or {}
    for ase_name, name in CALCULATOR_TARGETS.items():
        value = results.get(ase_name)
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        if name == "stress" and value.shape == (6,):
            value = _voigt_to_3x3(value)
        found[name] = value
    per_atom: set[str] = set()
    for name in info_targets:
        if name in atoms.arrays:
            found[name] = np.asarray(atoms.arrays[name])
            per_atom.add(name)
        elif name in atoms.info:
            found[name] = np.asarray(atoms.info[name])
        else:
            from matforge.batch import MissingTargetError  # torch: imported only on this error

            sid = f" (sid {atoms.info['sid']!r})" if "sid" in atoms.info else ""
            raise MissingTargetError(
                f"ase.Atoms{sid}: target {name!r} of info_targets is in neither atoms.info "
                f"(keys {sorted(atoms.info)}) nor atoms.arrays (keys {sorted(atoms.arrays)})"
            )
    found.update(dict(targets or {}))
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    has_cell = bool(np.any(cell)) or bool(np.any(atoms.pbc))
    fields: dict[str, Any] = {
        "positions": np.asarray(atoms.positions, dtype=np.float64),
        "atomic_numbers": np.asarray(atoms.numbers, dtype=np.int64),
        "cell": cell if has_cell else None,
        "pbc": np.asarray(atoms.pbc, dtype=bool),
        "tags": np.asarray(atoms.get_tags(), dtype=np.int64),
        "fixed": fixed,
        "targets": found,
        "per_atom": frozenset(per_atom - {"forces", "positions_relaxed"}),
    }
    ids: dict[str, Any] = {}
    for key, value in atoms.info.items():
        if key in _INFO_IDS and key not in kwargs:
            fields[key] = value
        elif key not in info_targets and isinstance(value, (str, int, float, bool)):
            ids[key] = value  # e.g. extxyz config_type: kept as a free-form id
    fields["ids"] = ids
    fields.update(kwargs)
    return AtomicStructure(**fields)
