"""Dataset statistics, computed while a dataset is written and stored in its metadata.

Tasks build target normalisation and per-element reference energies from these; every number
is in matforge units (eV, eV/Å, Å) and every std is a population std (ddof = 0).

The accumulator streams: it keeps sums (including the normal equations of the linear
reference fit) rather than the data, so statistics of shards written in parallel merge
exactly by adding their accumulators.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matforge.structure import TARGET_UNITS, AtomicStructure

#: Per-structure scalar targets that get a per-element linear reference fit.
ENERGY_TARGETS: tuple[str, ...] = ("energy", "energy_relaxed", "energy_initial")

_NZ = 119  # atomic numbers 0..118 (0 unused)

#: Significant digits, relative to each quantity's own scale, kept when statistics are stored.
#: Sums and least-squares fits differ in the last ~5 digits between BLAS builds (the residual
#: variance comes from differences of large sums); rounding at the scale of the data makes a
#: dataset's metadata.json the same wherever it is written, and 10 digits stay far beyond the
#: statistical precision of any of these numbers.
STORED_DIGITS = 10
_CHUNK = 512  # structures buffered before the normal equations are updated with one matmul


@dataclass(frozen=True)
class TargetStatistics:
    """Mean and spread of one target.

    Attributes:
        count: number of values averaged: structures for per-structure targets, scalar
            components for per-atom and vector targets (forces: 3 × atoms).
        mean: mean over those values, in the target's unit.
        std: population standard deviation over those values.
        rms: root mean square over those values (for forces: RMS force component).
        unit: the target's unit (``""`` when matforge does not know it).
        per_atom: whether the target has one row per atom.
    """

    count: int
    mean: float
    std: float
    rms: float
    unit: str
    per_atom: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "rms": self.rms,
            "unit": self.unit,
            "per_atom": self.per_atom,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetStatistics:
        return cls(
            count=int(data["count"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            rms=float(data["rms"]),
            unit=str(data["unit"]),
            per_atom=bool(data["per_atom"]),
        )


@dataclass(frozen=True)
class LinearReference:
    """Per-element reference energies of one energy target, fitted by least squares.

    E(structure) ≈ Σ_Z n_Z · c_Z, with n_Z the number of atoms of element Z. Where the
    compositions do not determine every c_Z (e.g. all structures share one stoichiometry)
    the minimum-norm solution is stored; the residuals are the same for every solution.

    Attributes:
        element_energies: {Z: c_Z} in eV per atom, for every element the target's structures
            contain.
        residual_mean: mean of E − Σ n_Z c_Z over structures (eV; ≈ 0 by construction).
        residual_std: population std of that residual (eV per structure).
        residual_per_atom_mean: mean of (E − Σ n_Z c_Z) / N over structures (eV/atom).
        residual_per_atom_std: population std of that per-atom residual (eV/atom).
        count: number of structures fitted.
    """

    element_energies: dict[int, float]
    residual_mean: float
    residual_std: float
    residual_per_atom_mean: float
    residual_per_atom_std: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "element_energies": {str(z): c for z, c in sorted(self.element_energies.items())},
            "residual_mean": self.residual_mean,
            "residual_std": self.residual_std,
            "residual_per_atom_mean": self.residual_per_atom_mean,
            "residual_per_atom_std": self.residual_per_atom_std,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearReference:
        return cls(
            element_energies={int(z): float(c) for z, c in data["element_energies"].items()},
            residual_mean=float(data["residual_mean"]),
            residual_std=float(data["residual_std"]),
            residual_per_atom_mean=float(data["residual_per_atom_mean"]),
            residual_per_atom_std=float(data["residual_per_atom_std"]),
            count=int(data["count"]),
        )

    def reference_energy(self, atomic_numbers: np.ndarray) -> float:
        """Σ_Z n_Z c_Z for one structure (eV); elements without a fitted c_Z count 0."""
        z = np.asarray(atomic_numbers, dtype=np.int64)
        return float(sum(self.element_energies.get(int(a), 0.0) for a in z))


@dataclass(frozen=True)
class DatasetStatistics:
    """Statistics of a whole dataset (JSON-safe through :meth:`to_dict`).

    Attributes:
        num_structures: number of structures.
        num_atoms: number of atoms over all structures.
        targets: per target name, :class:`TargetStatistics` (mean/std/rms over structures for
            per-structure targets; over all components for forces and other per-atom or
            vector targets).
        linear_references: per energy-like target present (``energy``, ``energy_relaxed``,
            ``energy_initial``), the :class:`LinearReference` fit and its residuals.
        force_rms: RMS force component over all atoms (eV/Å), ``None`` without forces.
        num_atoms_histogram: {atoms per structure: number of structures}.
        element_counts: {Z: number of atoms of element Z over all structures}.
    """

    num_structures: int
    num_atoms: int
    targets: dict[str, TargetStatistics] = field(default_factory=dict)
    linear_references: dict[str, LinearReference] = field(default_factory=dict)
    force_rms: float | None = None
    num_atoms_histogram: dict[int, int] = field(default_factory=dict)
    element_counts: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (integer keys become strings)."""
        return {
            "num_structures": self.num_structures,
            "num_atoms": self.num_atoms,
            "targets": {k: v.to_dict() for k, v in sorted(self.targets.items())},
            "linear_references": {k: v.to_dict() for k, v in sorted(self.linear_references.items())},
            "force_rms": self.force_rms,
            "num_atoms_histogram": {str(k): v for k, v in sorted(self.num_atoms_histogram.items())},
            "element_counts": {str(k): v for k, v in sorted(self.element_counts.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetStatistics:
        return cls(
            num_structures=int(data["num_structures"]),
            num_atoms=int(data["num_atoms"]),
            targets={k: TargetStatistics.from_dict(v) for k, v in data.get("targets", {}).items()},
            linear_references={
                k: LinearReference.from_dict(v) for k, v in data.get("linear_references", {}).items()
            },
            force_rms=None if data.get("force_rms") is None else float(data["force_rms"]),
            num_atoms_histogram={int(k): int(v) for k, v in data.get("num_atoms_histogram", {}).items()},
            element_counts={int(k): int(v) for k, v in data.get("element_counts", {}).items()},
        )

    def rounded(self, digits: int = STORED_DIGITS) -> DatasetStatistics:
        """These statistics as stored: every float rounded to ``digits`` significant digits of
        its scale (a target's rms; for a linear reference, the target's rms per structure and
        the largest element energy per atom), so values that are zero up to rounding noise
        (residual means) store as 0."""
        targets = {}
        for name, t in self.targets.items():
            scale = max(abs(t.rms), abs(t.mean), t.std)
            targets[name] = TargetStatistics(t.count, _round(t.mean, scale, digits), _round(t.std, scale, digits),
                                             _round(t.rms, scale, digits), t.unit, t.per_atom)  # fmt: skip
        references = {}
        for name, ref in self.linear_references.items():
            per_structure = self.targets[name].rms if name in self.targets else abs(ref.residual_std)
            per_atom = max((abs(c) for c in ref.element_energies.values()), default=abs(ref.residual_per_atom_std))
            references[name] = LinearReference(
                element_energies={z: _round(c, per_atom, digits) for z, c in ref.element_energies.items()},
                residual_mean=_round(ref.residual_mean, per_structure, digits),
                residual_std=_round(ref.residual_std, per_structure, digits),
                residual_per_atom_mean=_round(ref.residual_per_atom_mean, per_atom, digits),
                residual_per_atom_std=_round(ref.residual_per_atom_std, per_atom, digits),
                count=ref.count,
            )
        force_rms = None if self.force_rms is None else _round(self.force_rms, self.force_rms, digits)
        return DatasetStatistics(self.num_structures, self.num_atoms, targets, references, force_rms,
                                 dict(self.num_atoms_histogram), dict(self.element_counts))  # fmt: skip

    @classmethod
    def of(cls, structures) -> DatasetStatistics:
        """Statistics of an iterable of structures (what the writer stores)."""
        acc = StatisticsAccumulator()
        for s in structures:
            acc.add(s)
        return acc.finalize()


def _round(value: float, scale: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits of ``scale`` (a power-of-ten grid)."""
    if not math.isfinite(value) or not math.isfinite(scale) or scale == 0:
        return value
    decimals = digits - 1 - math.floor(math.log10(abs(scale)))
    rounded = round(value, decimals)
    return rounded + 0.0  # no -0.0


class _Moments:
    """count, mean and M2 (sum of squared deviations), merged with Chan's formula."""

    __slots__ = ("count", "m2", "mean")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add_values(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        mean = float(values.mean())
        m2 = float(np.square(values - mean).sum())
        self._merge(values.size, mean, m2)

    def merge(self, other: _Moments) -> None:
        if other.count:
            self._merge(other.count, other.mean, other.m2)

    def _merge(self, count: int, mean: float, m2: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total

    def std(self) -> float:
        return math.sqrt(max(self.m2 / self.count, 0.0)) if self.count else 0.0


class _LinearFit:
    """Normal equations of E ≈ n·c and of E/N ≈ (n/N)·c, with the sums the residuals need."""

    def __init__(self) -> None:
        self.count = 0
        self.ata = np.zeros((_NZ, _NZ))
        self.aty = np.zeros(_NZ)
        self.yy = 0.0
        self.sum_n = np.zeros(_NZ)
        self.sum_y = 0.0
        # the same sums for the per-atom residual (E - n·c) / N
        self.ata_pa = np.zeros((_NZ, _NZ))
        self.aty_pa = np.zeros(_NZ)
        self.yy_pa = 0.0
        self.sum_n_pa = np.zeros(_NZ)
        self.sum_y_pa = 0.0
        self._rows: list[np.ndarray] = []
        self._ys: list[float] = []

    def add(self, counts: np.ndarray, energy: float) -> None:
        self._rows.append(counts)
        self._ys.append(energy)
        if len(self._rows) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        a = np.stack(self._rows).astype(np.float64)
        y = np.asarray(self._ys, dtype=np.float64)
        n_atoms = a.sum(axis=1)
        a_pa = a / n_atoms[:, None]
        y_pa = y / n_atoms
        self.count += len(y)
        self.ata += a.T @ a
        self.aty += a.T @ y
        self.yy += float(y @ y)
        self.sum_n += a.sum(axis=0)
        self.sum_y += float(y.sum())
        self.ata_pa += a_pa.T @ a_pa
        self.aty_pa += a_pa.T @ y_pa
        self.yy_pa += float(y_pa @ y_pa)
        self.sum_n_pa += a_pa.sum(axis=0)
        self.sum_y_pa += float(y_pa.sum())
        self._rows, self._ys = [], []

    def merge(self, other: _LinearFit) -> None:
        self.flush()
        other.flush()
        self.count += other.count
        for name in ("ata", "aty", "sum_n", "ata_pa", "aty_pa", "sum_n_pa"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("yy", "sum_y", "yy_pa", "sum_y_pa"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def finalize(self) -> LinearReference:
        self.flush()
        present = np.flatnonzero(np.diag(self.ata) > 0)
        sub = self.ata[np.ix_(present, present)]
        coef = np.zeros(_NZ)
        # lstsq on the normal equations gives the minimum-norm least-squares solution
        coef[present] = np.linalg.lstsq(sub, self.aty[present], rcond=None)[0]
        n = self.count

        def moments(ata, aty, yy, sum_n, sum_y) -> tuple[float, float]:
            mean = (sum_y - coef @ sum_n) / n
            mean_sq = (yy - 2.0 * coef @ aty + coef @ ata @ coef) / n
            return float(mean), math.sqrt(max(float(mean_sq - mean * mean), 0.0))

        mean, std = moments(self.ata, self.aty, self.yy, self.sum_n, self.sum_y)
        mean_pa, std_pa = moments(self.ata_pa, self.aty_pa, self.yy_pa, self.sum_n_pa, self.sum_y_pa)
        return LinearReference(
            element_energies={int(z): float(coef[z]) for z in present},
            residual_mean=mean,
            residual_std=std,
            residual_per_atom_mean=mean_pa,
            residual_per_atom_std=std_pa,
            count=n,
        )


class StatisticsAccumulator:
    """Streams structures into :class:`DatasetStatistics`; mergeable across processes."""

    def __init__(self) -> None:
        self.num_structures = 0
        self.num_atoms = 0
        self.element_counts = np.zeros(_NZ, dtype=np.int64)
        self.histogram: dict[int, int] = {}
        self.moments: dict[str, _Moments] = {}
        self.sum_squares: dict[str, float] = {}
        self.per_atom: dict[str, bool] = {}
        self.fits: dict[str, _LinearFit] = {}

    def add(self, structure: AtomicStructure) -> None:
        """Add one validated structure."""
        n = structure.num_atoms
        self.num_structures += 1
        self.num_atoms += n
        self.histogram[n] = self.histogram.get(n, 0) + 1
        counts = np.bincount(structure.atomic_numbers, minlength=_NZ)
        self.element_counts += counts
        for name, value in structure.targets.items():
            values = np.asarray(value, dtype=np.float64)
            self.moments.setdefault(name, _Moments()).add_values(values)
            self.sum_squares[name] = self.sum_squares.get(name, 0.0) + float(np.square(values).sum())
            self.per_atom.setdefault(name, structure.is_per_atom(name))
            if name in ENERGY_TARGETS and values.size == 1:
                self.fits.setdefault(name, _LinearFit()).add(counts, float(values.reshape(())))

    def merge(self, other: StatisticsAccumulator) -> None:
        """Add another accumulator's structures (e.g. another shard's)."""
        self.num_structures += other.num_structures
        self.num_atoms += other.num_atoms
        self.element_counts += other.element_counts
        for k, v in other.histogram.items():
            self.histogram[k] = self.histogram.get(k, 0) + v
        for name, mom in other.moments.items():
            self.moments.setdefault(name, _Moments()).merge(mom)
            self.sum_squares[name] = self.sum_squares.get(name, 0.0) + other.sum_squares[name]
            self.per_atom.setdefault(name, other.per_atom[name])
        for name, fit in other.fits.items():
            self.fits.setdefault(name, _LinearFit()).merge(fit)

    def finalize(self) -> DatasetStatistics:
        targets = {
            name: TargetStatistics(
                count=mom.count,
                mean=float(mom.mean),
                std=mom.std(),
                rms=math.sqrt(self.sum_squares[name] / mom.count) if mom.count else 0.0,
                unit=TARGET_UNITS.get(name, ""),
                per_atom=self.per_atom[name],
            )
            for name, mom in sorted(self.moments.items())
        }
        return DatasetStatistics(
            num_structures=self.num_structures,
            num_atoms=self.num_atoms,
            targets=targets,
            linear_references={name: fit.finalize() for name, fit in sorted(self.fits.items())},
            force_rms=targets["forces"].rms if "forces" in targets else None,
            num_atoms_histogram=dict(sorted(self.histogram.items())),
            element_counts={int(z): int(c) for z, c in enumerate(self.element_counts) if c},
        )
