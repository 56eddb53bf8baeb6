"""`AtomicStructure`: one atomistic system with its targets, validated in one place.

Units throughout matforge: positions and cells in Å, energies in eV, forces in eV/Å,
stress in eV/Å³.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matforge.errors import MatforgeUserError

#: Targets whose leading dimension is the number of atoms.
PER_ATOM_TARGETS: frozenset[str] = frozenset({"forces", "positions_relaxed"})

#: Units of the targets matforge knows by name; other targets carry no unit.
TARGET_UNITS: dict[str, str] = {
    "energy": "eV",
    "energy_relaxed": "eV",
    "energy_initial": "eV",
    "forces": "eV/Å",
    "stress": "eV/Å^3",
    "positions_relaxed": "Å",
    # QM9 properties (matforge.data.importers.qm9)
    "U0": "eV", "U": "eV", "H": "eV", "G": "eV", "homo": "eV", "lumo": "eV", "gap": "eV",
    "zpve": "eV", "mu": "D", "alpha": "a0^3", "r2": "a0^2", "Cv": "cal/(mol K)",
}

#: Default minimum distance between two atoms (Å) below which a structure is rejected.
DEFAULT_MIN_DISTANCE = 0.1

#: Largest |coordinate| or |cell entry| accepted (Å). Far beyond any real system, and low
#: enough that a cell's volume (≤ (√3·1e6)³) never overflows and wrapping stays exact.
MAX_COORDINATE = 1e6

#: Per-structure targets that must hold one number (shape [] or [1]).
SCALAR_TARGETS: frozenset[str] = frozenset({"energy", "energy_relaxed", "energy_initial"})


class StructureError(MatforgeUserError, ValueError):
    """An `AtomicStructure` field has the wrong shape, dtype or value.

    Attributes:
        field: the field at fault (``"positions"``, ``"targets.energy"``), when known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(eq=False)
class AtomicStructure:
    """One atomistic system: atoms, cell, periodicity, constraints and targets.

    Attributes:
        positions: [N, 3] float, Cartesian coordinates in Å.
        atomic_numbers: [N] int, 1–118.
        cell: [3, 3] float in Å (rows are lattice vectors), or ``None`` for a molecule.
        pbc: [3] bool, periodic along each lattice vector. Requires a cell where any is set.
        tags: [N] int, OC20 convention: 0 subsurface, 1 surface, 2 adsorbate.
        fixed: [N] bool, atoms held fixed (e.g. bottom slab layers).
        targets: named labels. Per-structure: ``energy`` (eV), ``energy_relaxed`` (eV),
            ``stress`` [3, 3] (eV/Å³) or any scalar/vector property. Per-atom (leading
            dimension N, names in ``per_atom``): ``forces`` [N, 3] (eV/Å),
            ``positions_relaxed`` [N, 3] (Å).
        per_atom: names of per-atom targets beyond the known ones (``forces``,
            ``positions_relaxed``).
        sid: system id (OC20 ``sid``), ``fid``: frame id within a trajectory,
        ids: any further free-form identifiers (strings or ints). ``ids["index"]`` is
            reserved: datasets set it to the structure's position when reading.
    """

    positions: np.ndarray
    atomic_numbers: np.ndarray
    cell: np.ndarray | None = None
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=bool))
    tags: np.ndarray | None = None
    fixed: np.ndarray | None = None
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    per_atom: frozenset[str] = frozenset()
    sid: int | str | None = None
    fid: int | None = None
    ids: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions)
        self.atomic_numbers = np.asarray(self.atomic_numbers)
        if self.cell is not None:
            self.cell = np.asarray(self.cell)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(-1) if np.ndim(self.pbc) else np.full(3, bool(self.pbc))
        n = len(self.atomic_numbers)
        self.tags = np.zeros(n, dtype=np.int64) if self.tags is None else np.asarray(self.tags)
        self.fixed = np.zeros(n, dtype=bool) if self.fixed is None else np.asarray(self.fixed)
        self.targets = {k: np.asarray(v) for k, v in dict(self.targets).items()}
        self.per_atom = frozenset(self.per_atom)

    # -- derived -----------------------------------------------------------------------------

    @property
    def num_atoms(self) -> int:
        return len(self.atomic_numbers)

    def is_per_atom(self, target: str) -> bool:
        """Whether ``target`` has one row per atom."""
        return target in PER_ATOM_TARGETS or target in self.per_atom

    # -- validation --------------------------------------------------------------------------

    def validate(self, *, min_distance: float | None = DEFAULT_MIN_DISTANCE, where: str = "") -> AtomicStructure:
        """Check shapes, dtypes and values; cast to canonical dtypes. Returns ``self``.

        Args:
            min_distance: reject two atoms closer than this (Å, periodic images included);
                ``None`` skips the check.
            where: context for error messages (e.g. ``"data.lmdb key 17"``).

        Raises:
            StructureError: naming the field and what was expected.
        """
        at = f" ({where})" if where else ""

        def fail(msg: str, field: str) -> StructureError:
            return StructureError(f"{msg}{at}", field=field)

        z = self.atomic_numbers
        if z.ndim != 1:
            raise fail(f"atomic_numbers must have shape [N], got {list(z.shape)}", "atomic_numbers")
        n = len(z)
        if n < 1:
            raise fail("structure has no atoms: atomic_numbers is empty (N >= 1 required)", "atomic_numbers")
        if not (z.dtype.kind in "iu" or (z.dtype.kind == "f" and np.isfinite(z).all() and (z == np.round(z)).all())):
            raise fail(f"atomic_numbers must be integers, got dtype {z.dtype}", "atomic_numbers")
        z = z.astype(np.int64, copy=False)
        if z.min() < 1 or z.max() > 118:
            bad = z[(z < 1) | (z > 118)][0]
            raise fail(f"atomic_numbers must lie in 1..118, found {int(bad)}", "atomic_numbers")
        self.atomic_numbers = z

        pos = self.positions
        if pos.shape != (n, 3):
            raise fail(f"positions must have shape [N, 3] = [{n}, 3], got {list(pos.shape)}", "positions")
        if pos.dtype.kind != "f":
            if pos.dtype.kind not in "biu":
                raise fail(f"positions must be numbers, got dtype {pos.dtype}", "positions")
            pos = pos.astype(np.float64)
        if not np.abs(pos).max() <= MAX_COORDINATE:  # False for NaN as well
            if not np.isfinite(pos).all():
                raise fail("positions contain NaN or inf", "positions")
            raise fail(f"positions exceed {MAX_COORDINATE:g} Å in magnitude", "positions")
        self.positions = pos

        if self.pbc.shape != (3,):
            raise fail(f"pbc must have shape [3], got {list(self.pbc.shape)}", "pbc")
        if self.cell is not None:
            cell = self.cell
            if cell.shape == (1, 3, 3):
                cell = cell[0]
            if cell.shape != (3, 3):
                raise fail(f"cell must have shape [3, 3], got {list(cell.shape)}", "cell")
            if cell.dtype.kind not in "biuf":
                raise fail(f"cell must be numbers, got dtype {cell.dtype}", "cell")
            cell = cell.astype(np.float64) if cell.dtype.kind != "f" else cell
            if not np.abs(cell).max() <= MAX_COORDINATE:  # False for NaN as well
                if not np.isfinite(cell).all():
                    raise fail("cell contains NaN or inf", "cell")
                raise fail(f"cell entries exceed {MAX_COORDINATE:g} Å in magnitude", "cell")
            self.cell = cell
        if self.pbc.any():
            if self.cell is None:
                raise fail("pbc is set but the structure has no cell", "cell")
            (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = self.cell.tolist()  # 3×3 determinant, exact formula
            volume = a1 * (b2 * c3 - b3 * c2) - a2 * (b1 * c3 - b3 * c1) + a3 * (b1 * c2 - b2 * c1)
            if abs(volume) < 1e-8:
                raise fail("cell is singular (zero volume) while pbc is set", "cell")

        tags = self.tags
        if tags.shape != (n,):
            raise fail(f"tags must have shape [N] = [{n}], got {list(tags.shape)}", "tags")
        if tags.dtype.kind not in "biuf":
            raise fail(f"tags must be integers, got dtype {tags.dtype}", "tags")
        self.tags = tags.astype(np.int64, copy=False)
        fixed = self.fixed
        if fixed.shape != (n,):
            raise fail(f"fixed must have shape [N] = [{n}], got {list(fixed.shape)}", "fixed")
        self.fixed = fixed.astype(bool, copy=False)

        for name, value in self.targets.items():
            field = f"targets.{name}"
            kind = value.dtype.kind
            if kind not in "biufc":
                raise fail(f"target {name!r} must be numeric, got dtype {value.dtype}", field)
            if kind in "fc" and value.size and not np.isfinite(value).all():
                raise fail(f"target {name!r} contains NaN or inf", field)
            if self.is_per_atom(name):
                expected = (n, 3) if name in ("forces", "positions_relaxed") else None
                if expected is not None and value.shape != expected:
                    raise fail(f"target {name!r} must have shape {list(expected)}, got {list(value.shape)}", field)
                if expected is None and (value.ndim < 1 or value.shape[0] != n):
                    raise fail(f"per-atom target {name!r} must have leading dimension N = {n}, got {list(value.shape)}", field)
            elif name == "stress" and value.shape not in ((3, 3), (6,)):
                raise fail(f"target 'stress' must have shape [3, 3] or Voigt [6], got {list(value.shape)}", field)
            elif name in SCALAR_TARGETS and value.shape not in ((), (1,)):
                raise fail(f"target {name!r} must be one number (shape [] or [1]), got shape {list(value.shape)}", field)

        if min_distance is not None and n > 1:
            self._check_min_distance(min_distance, lambda msg: fail(msg, "positions"))
        return self

    def _check_min_distance(self, min_distance: float, fail) -> None:
        from matforge.neighbors import neighbor_pairs

        i, j, _, dist = neighbor_pairs(
            self.positions.astype(np.float64),
            self.cell,
            self.pbc,
            cutoff=min_distance,
        )
        if len(dist):
            k = int(np.argmin(dist))
            raise fail(
                f"atoms {int(i[k])} and {int(j[k])} are {float(dist[k]):.3g} Å apart, closer than "
                f"min_distance={min_distance} Å (overlapping atoms)"
            )

    # -- conversion --------------------------------------------------------------------------

    def to_ase(self):
        """An ``ase.Atoms`` with tags, fixed atoms as ``FixAtoms`` and energy/forces attached
        through a ``SinglePointCalculator``. Needs ase."""
        from matforge.ase_io import structure_to_atoms

        return structure_to_atoms(self)

    @classmethod
    def from_ase(cls, atoms, *, targets: Mapping[str, Any] | None = None, **kwargs: Any) -> AtomicStructure:
        """Build from an ``ase.Atoms``; energy, forces and stress come from its calculator's
        stored results when present. ``targets`` adds or overrides labels."""
        from matforge.ase_io import atoms_to_structure

        return atoms_to_structure(atoms, targets=targets, **kwargs)

    def copy(self) -> AtomicStructure:
        return AtomicStructure(
            positions=self.positions.copy(),
            atomic_numbers=self.atomic_numbers.copy(),
            cell=None if self.cell is None else self.cell.copy(),
            pbc=self.pbc.copy(),
            tags=None if self.tags is None else self.tags.copy(),
            fixed=None if self.fixed is None else self.fixed.copy(),
            targets={k: v.copy() for k, v in self.targets.items()},
            per_atom=self.per_atom,
            sid=self.sid,
            fid=self.fid,
            ids=dict(self.ids),
        )

    def __repr__(self) -> str:
        formula = _formula(self.atomic_numbers)
        targets = ", ".join(sorted(self.targets)) or "none"
        return f"AtomicStructure({formula}, pbc={self.pbc.tolist()}, targets: {targets}, sid={self.sid!r})"


def _formula(z: np.ndarray) -> str:
    from matforge.elements import SYMBOLS

    values, counts = np.unique(np.asarray(z, dtype=np.int64), return_counts=True)
    return "".join(
        f"{SYMBOLS[v] if 0 < v < len(SYMBOLS) else v}{c if c > 1 else ''}" for v, c in zip(values, counts)
    )
