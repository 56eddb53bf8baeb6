"""Import QM9 (134k small organic molecules, DFT B3LYP/6-31G(2df,p)) from the ``qm9pack`` CSVs.

``pip install qm9pack`` (MIT, by QM9's first author) ships the 130,831 molecules that pass
QM9's consistency check as CSV files with coordinates: ``qm9pack/data/qm9_part{1,2,3}.csv``.
Only the CSVs are read (never the package's pickles), as text, with no code evaluated: list
cells are parsed as JSON.

Targets (PyG's names), converted from the CSV's Hartree to eV where the column is in
Hartree (1 Ha = 27.211386245988 eV); the others keep QM9's units. The stored unit of each is in
:data:`matforge.structure.TARGET_UNITS` and in the dataset's ``metadata.json``:
``U0``, ``U``, ``H``, ``G`` (internal energy at 0 K and 298 K, enthalpy, free energy), ``homo``,
``lumo``, ``gap``, ``zpve`` (eV); ``mu`` (D), ``alpha`` (a0³), ``r2`` (a0²), ``Cv``
(cal/(mol K)). :data:`QM9_TARGETS` maps each to its CSV column and factor.

Molecules are non-periodic (no cell); ``sid`` is QM9's index (``dsgdb9nsd_<index>.xyz``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from matforge.data.importers.base import SourceItem
from matforge.elements import NUMBERS
from matforge.install import missing_dependency
from matforge.structure import AtomicStructure, StructureError

QM9_CITATION = (
    "R. Ramakrishnan, P. O. Dral, M. Rupp, O. A. von Lilienfeld, Quantum chemistry structures and "
    "properties of 134 kilo molecules, Scientific Data 1, 140022 (2014); read from the qm9pack "
    "CSVs (MIT)"
)

#: 1 Hartree in eV (CODATA 2018).
HARTREE_TO_EV = 27.211386245988

#: target name → (QM9 CSV column, factor to matforge units). Units: :data:`QM9_UNITS`.
QM9_TARGETS: dict[str, tuple[str, float]] = {
    "U0": ("InternalEnergy_0K_au", HARTREE_TO_EV),
    "U": ("InternalEnergy_298K_au", HARTREE_TO_EV),
    "H": ("Enthalphy_298K_au", HARTREE_TO_EV),
    "G": ("GibbsFreeEnergy_298K_au", HARTREE_TO_EV),
    "homo": ("HOMO_au", HARTREE_TO_EV),
    "lumo": ("LUMO_au", HARTREE_TO_EV),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_TO_EV),
    "zpve": ("ZPVE_au", HARTREE_TO_EV),
    "mu": ("Dipole_debye", 1.0),
    "alpha": ("Polarizability_bohr3", 1.0),
    "r2": ("R2_bohr2", 1.0),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", 1.0),
}

#: The columns every row must have besides the targets'.
GEOMETRY_COLUMNS: tuple[str, ...] = ("Index", "N_atoms", "Elements", "XYZ_Ang")

#: The CSV files of the qm9pack distribution, in molecule order.
QM9PACK_FILES: tuple[str, ...] = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")

# QM9's rows hold Mulliken charges and frequency lists of ~100 kB at most; a larger cell is
# not QM9 and is refused rather than parsed.
_MAX_CELL = 1 << 20
_BARE_POINT = re.compile(r"(?<=\d)\.(?![\d])")


def qm9pack_data_dir() -> Path:
    """The ``data/`` folder of the installed ``qm9pack`` package (found without importing it)."""
    from importlib.util import find_spec

    spec = find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency("qm9pack", "qm9pack", "importing with --format qm9 from 'qm9pack'", "~104 MB of CSVs")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def qm9_source_label(source: str | os.PathLike[str]) -> str:
    """What provenance records as the source: the package and its version, or the path."""
    if str(source) == "qm9pack":
        from importlib.metadata import version

        return f"qm9pack {version('qm9pack')} (PyPI), data/{'+'.join(QM9PACK_FILES)}"
    return str(Path(source).resolve())


def qm9_csv_files(source: str | os.PathLike[str]) -> list[Path]:
    """The QM9 CSVs ``source`` names: ``"qm9pack"`` (the installed package), a folder holding
    ``qm9_part*.csv``, or one CSV file."""
    if str(source) == "qm9pack":
        folder = qm9pack_data_dir()
        files = [folder / name for name in QM9PACK_FILES]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"the installed qm9pack lacks {', '.join(missing)}; reinstall it")
        return files
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("qm9_part*.csv"))
        if not files:
            raise FileNotFoundError(f"{str(path)!r} holds no qm9_part*.csv files (the qm9pack layout)")
        return files
    raise FileNotFoundError(f"QM9 source {str(path)!r} does not exist (give a CSV, its folder, or 'qm9pack')")


def _count_rows(files: list[Path]) -> int:
    total = 0
    for path in files:
        with path.open("rb") as handle:
            # rows are single lines: list cells are JSON-like text without newlines
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1
    return max(total, 0)


def _parse_list(text: str, column: str) -> list:
    if len(text) > _MAX_CELL:
        raise ValueError(f"column {column!r} holds {len(text)} characters (QM9 cells are far shorter)")
    # QM9 writes numbers as Mathematica does ("0.", "1.2*^-6") and symbols in single quotes
    text = _BARE_POINT.sub(".0", text.replace("*^", "e")).replace("'", '"')
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"column {column!r} is not a list: {exc.msg}") from None
    if not isinstance(value, list):
        raise ValueError(f"column {column!r} is a {type(value).__name__}, expected a list")
    return value


def _parse_float(text: str, column: str) -> float:
    try:
        value = float(text.replace("*^", "e"))  # QM9's xyz files write 1.2*^-6
    except ValueError:
        raise ValueError(f"column {column!r} = {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column!r} = {text[:40]!r} is not finite")
    return value


def row_to_structure(row: dict[str, str], where: str) -> AtomicStructure:
    """One CSV row as a molecule with the QM9 targets (raises ``ValueError`` naming the column)."""
    missing = [c for c in (*GEOMETRY_COLUMNS, *(col for col, _ in QM9_TARGETS.values())) if row.get(c) is None]
    if missing:
        raise ValueError(f"column {missing[0]!r} is missing")
    symbols = _parse_list(row["Elements"], "Elements")
    if not all(isinstance(s, str) for s in symbols):
        raise ValueError("column 'Elements' must list element symbols")
    unknown = [s for s in symbols if s not in NUMBERS]
    if unknown:
        raise ValueError(f"column 'Elements' lists {unknown[0]!r}, not an element symbol")
    numbers = np.array([NUMBERS[s] for s in symbols], dtype=np.int64)
    xyz = _parse_list(row["XYZ_Ang"], "XYZ_Ang")
    try:
        positions = np.array(xyz, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("column 'XYZ_Ang' must be a list of [x, y, z] numbers") from None
    if positions.shape != (len(numbers), 3):
        raise ValueError(f"column 'XYZ_Ang' has shape {positions.shape}, expected ({len(numbers)}, 3) for the Elements")
    declared = row["N_atoms"].strip()
    if declared != str(len(numbers)):
        raise ValueError(f"column 'N_atoms' = {declared!r} but 'Elements' lists {len(numbers)} atoms")
    try:
        index = int(row["Index"])
    except ValueError:
        raise ValueError(f"column 'Index' = {row['Index'][:40]!r} is not an integer") from None
    targets = {name: np.float64(_parse_float(row[col], col) * factor) for name, (col, factor) in QM9_TARGETS.items()}
    structure = AtomicStructure(positions=positions, atomic_numbers=numbers, targets=targets, sid=index)
    structure.ids["smiles"] = row.get("SMILES", "")
    return structure


def read_qm9(source: str | os.PathLike[str], limit: int | None = None) -> tuple[int, Iterator[SourceItem]]:
    """Number of molecules and a lazy stream of items, in file order (``limit``: the first N)."""
    files = qm9_csv_files(source)
    total = _count_rows(files)
    if limit is not None:
        total = min(total, limit)
    used = frozenset(GEOMETRY_COLUMNS) | {col for col, _ in QM9_TARGETS.values()}

    def items() -> Iterator[SourceItem]:
        produced = 0
        csv.field_size_limit(_MAX_CELL + 1)
        for path in files:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                for line, row in enumerate(reader, start=2):
                    if limit is not None and produced >= limit:
                        return
                    produced += 1
                    where = f"{path.name} line {line}"
                    keys = frozenset(k for k in row if k is not None)
                    try:
                        structure = row_to_structure(row, where)
                    except (ValueError, StructureError) as exc:
                        yield SourceItem(where, error=str(exc), all_keys=keys)
                        continue
                    yield SourceItem(where, structure, used_keys=used & keys | {"SMILES"}, all_keys=keys)

    return total, items()
