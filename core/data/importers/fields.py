"""Source records (dicts of arrays) → `AtomicStructure`, through a key map.

A key map sends each matforge name (``positions``, ``energy``, …) to the source keys to look
for, first found wins; a dotted source key (``targets.energy``) reaches into nested dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from matforge.errors import InvalidValueError, MatforgeUserError
from matforge.structure import PER_ATOM_TARGETS, AtomicStructure

#: matforge fields that are not targets.
STRUCTURE_FIELDS: tuple[str, ...] = ("positions", "atomic_numbers", "cell", "pbc", "tags", "fixed", "sid", "fid")
REQUIRED_FIELDS: tuple[str, ...] = ("positions", "atomic_numbers")


class RecordError(MatforgeUserError, ValueError):
    """A source record cannot become a structure (missing key, wrong type or shape, …).

    Attributes:
        field: the matforge field (or source key) at fault, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


KeyMap = dict[str, tuple[str, ...]]


def parse_key_map(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["energy=y", "forces=force"]`` or a dict → ``{"energy": "y", "forces": "force"}``."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            dest, sep, src = item.partition("=")
            if not sep or not dest.strip() or not src.strip():
                raise InvalidValueError(f"key map entry {item!r} must look like DEST=SRC, e.g. energy=y")
            pairs.append((dest.strip(), src.strip()))
    mapping: dict[str, str] = {}
    for dest, src in pairs:
        if dest in mapping:
            raise InvalidValueError(f"key map names {dest!r} twice")
        mapping[dest] = src
    return mapping


def merge_key_map(defaults: KeyMap, user: Mapping[str, str]) -> tuple[KeyMap, frozenset[str]]:
    """Defaults overridden by the user's entries; returns the map and the user's names (a
    name the user asked for is required in every record)."""
    merged = dict(defaults)
    for dest, src in user.items():
        merged[dest] = (src,)
    return merged, frozenset(user)


def _lookup(record: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _numeric(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of numbers (bool, int or float), or a RecordError naming ``name``."""
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (bool, int, float, np.generic, list, tuple)):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise RecordError(f"field {name!r} is not a rectangular array of numbers ({exc})"[:300], field=name) from None
    else:
        raise RecordError(f"field {name!r} must be an array of numbers, got a {type(value).__name__}", field=name)
    if array.dtype.kind not in "biuf":
        raise RecordError(f"field {name!r} must hold numbers, got dtype {array.dtype}", field=name)
    return array


def _scalar_id(value: Any, name: str) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return value.decode(errors="replace") if isinstance(value, bytes) else value
    array = _numeric(value, name)
    if array.size != 1:
        raise RecordError(f"field {name!r} must be a single id, got shape {list(array.shape)}", field=name)
    item = array.reshape(()).item()
    if isinstance(item, float) and item.is_integer():
        return int(item)
    if not isinstance(item, int) or isinstance(item, bool):
        raise RecordError(f"field {name!r} must be an integer or a string, got {item!r}", field=name)
    return item


def record_to_structure(
    record: Mapping[str, Any],
    key_map: KeyMap,
    *,
    required: frozenset[str] = frozenset(),
    default_pbc: bool = True,
) -> tuple[AtomicStructure, set[str]]:
    """The structure in ``record`` and the top-level source keys it used.

    Args:
        key_map: matforge name → candidate source keys.
        required: names (beyond positions and atomic numbers) that every record must carry.
        default_pbc: periodicity of a record with a cell but no ``pbc`` key.

    Raises:
        RecordError: naming the missing key or the field with the wrong shape.
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"value is a {type(record).__name__}, expected a dict of fields")
    odd_key = next((k for k in record if not isinstance(k, str)), None)
    if odd_key is not None:
        raise RecordError(f"record keys must be strings; found the {type(odd_key).__name__} key {odd_key!r}"[:200])
    found: dict[str, Any] = {}
    used: set[str] = set()
    for dest, candidates in key_map.items():
        for src in candidates:
            present, value = _lookup(record, src)
            if present and value is not None:
                found[dest] = value
                used.add(src.split(".")[0])
                break
        else:
            if dest in REQUIRED_FIELDS or dest in required:
                raise RecordError(
                    f"missing key {' or '.join(repr(c) for c in candidates)} (for {dest!r}); the "
                    f"record has {sorted(record)}", field=dest,
                )  # fmt: skip
    positions = _numeric(found["positions"], "positions").astype(np.float64)
    z = _numeric(found["atomic_numbers"], "atomic_numbers")
    if z.ndim != 1:
        raise RecordError(f"atomic_numbers must have shape [N], got {list(z.shape)}", field="atomic_numbers")
    if z.dtype.kind == "f":
        if not np.all(np.isfinite(z)) or not np.all(z == np.round(z)):
            raise RecordError("atomic_numbers are not whole numbers", field="atomic_numbers")
        z = z.astype(np.int64)
    n = len(z)
    if record.get("natoms") is not None:
        natoms = _numeric(record["natoms"], "natoms")
        if natoms.size != 1 or natoms.dtype.kind == "b" or float(natoms.reshape(())) != n:
            raise RecordError(f"natoms = {natoms.tolist()!r} but atomic_numbers has {n} entries"[:200], field="natoms")
        used.add("natoms")
    cell = found.get("cell")
    if cell is not None:
        cell = _numeric(cell, "cell").astype(np.float64)
        if cell.shape == (1, 3, 3):
            cell = cell[0]
    pbc = found.get("pbc")
    if pbc is None:
        pbc = np.full(3, default_pbc and cell is not None)
    else:
        pbc = _numeric(pbc, "pbc").astype(bool).reshape(-1)
        if pbc.size == 1:
            pbc = np.full(3, bool(pbc[0]))
    targets: dict[str, np.ndarray] = {}
    for dest, value in found.items():
        if dest in STRUCTURE_FIELDS:
            continue
        array = _numeric(value, dest)
        if dest not in PER_ATOM_TARGETS and array.size == 1 and array.ndim <= 1:
            array = array.reshape(())  # OC20 stores energies as [1] tensors or floats
        targets[dest] = array
    fixed = found.get("fixed")
    tags = found.get("tags")
    fid = _scalar_id(found.get("fid"), "fid")
    if fid is not None and not isinstance(fid, int):
        raise RecordError(f"field 'fid' must be an integer frame index, got {fid!r}"[:200], field="fid")
    structure = AtomicStructure(
        positions=positions,
        atomic_numbers=z,
        cell=cell,
        pbc=pbc,
        tags=None if tags is None else _numeric(tags, "tags").astype(np.int64),
        fixed=None if fixed is None else _numeric(fixed, "fixed").astype(bool),
        targets=targets,
        sid=_scalar_id(found.get("sid"), "sid"),
        fid=fid,
    )
    return structure, used
