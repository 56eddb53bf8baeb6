"""Checks that ``metadata.json`` says what the shards hold, run when a dataset is opened.

A metadata file is small and read first, so everything sized from it (samplers, statistics,
normalisation) would trust a tampered or stale file: its statistics must be finite numbers,
its fields well formed, and the first record of each shard must have the dtypes and shapes
the fields declare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matforge.data.errors import DatasetFormatError

#: ``fields[...]["dtype"]`` → the msgpack array dtypes a record may store for it.
_STORED_DTYPES: dict[str, frozenset[str]] = {
    "float32": frozenset({"<f4"}),
    "float64": frozenset({"<f8"}),
    "int64": frozenset({"|u1", "|i1", "<i2", "<i4", "<i8"}),
    "bool": frozenset({"|b1"}),
}
_ARRAYS = ("atomic_numbers", "positions", "cell", "tags", "fixed")


def check_fields(meta: Mapping[str, Any], where: str) -> None:
    """Raise unless ``meta["fields"]`` maps names to ``{dtype, shape, count}`` entries."""
    fields = meta.get("fields")
    if not isinstance(fields, dict) or "positions" not in fields or "atomic_numbers" not in fields:
        raise DatasetFormatError(f"{where}: 'fields' must describe at least positions and atomic_numbers")
    total = meta["num_structures"]
    for name, entry in fields.items():
        ok = (
            isinstance(entry, dict) and entry.get("dtype") in _STORED_DTYPES
            and isinstance(entry.get("shape"), list)
            and all(d == "N" or (type(d) is int and d >= 0) for d in entry["shape"])
            and type(entry.get("count")) is int and 0 <= entry["count"] <= total
        )  # fmt: skip
        if not ok:
            raise DatasetFormatError(
                f"{where}: field {name!r} must be {{dtype: one of {sorted(_STORED_DTYPES)}, shape: [N or "
                f"sizes], count <= {total}}}, got {entry!r}"[:400]
            )


def check_statistics(meta: Mapping[str, Any], where: str) -> None:
    """Raise unless ``meta["statistics"]`` parses and every number in it is finite."""
    from matforge.data.statistics import DatasetStatistics

    stats = meta.get("statistics")
    if not isinstance(stats, dict):
        raise DatasetFormatError(
            f"{where} has no 'statistics' (written by another tool, or edited?); re-import the data "
            "or rewrite it with matforge.data.write_dataset to compute them"
        )
    bad = _first_non_finite(stats, "statistics")
    if bad is not None:
        raise DatasetFormatError(f"{where}: {bad} is not a finite number; the statistics are corrupt")
    try:
        parsed = DatasetStatistics.from_dict(stats)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetFormatError(f"{where}: 'statistics' is incomplete or malformed ({type(exc).__name__}: {exc})") from None
    if parsed.num_structures != meta["num_structures"]:
        raise DatasetFormatError(
            f"{where}: statistics describe {parsed.num_structures} structures, the dataset has {meta['num_structures']}"
        )


def _first_non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, (int, float)):
        return None if math.isfinite(value) else f"{path} = {value!r}"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return f"{path} (a {type(value).__name__})"
    for key, item in items:
        found = _first_non_finite(item, f"{path}.{key}")
        if found is not None:
            return found
    return None


def check_record_fields(record: Any, fields: Mapping[str, Any], where: str) -> None:
    """Raise unless a raw (msgpack-decoded) record's arrays have the dtypes and shapes ``fields``
    declares (``"N"`` is the record's number of atoms)."""
    if not isinstance(record, dict):
        return  # decode_structure reports unreadable records with their key
    arrays = {name: record.get(name) for name in _ARRAYS}
    targets = record.get("targets")
    if isinstance(targets, dict):
        arrays.update({f"targets.{k}": v for k, v in targets.items()})
    z = record.get("atomic_numbers")
    n = z[1][0] if isinstance(z, list) and len(z) == 3 and isinstance(z[1], list) and z[1] else None
    for name, packed in arrays.items():
        if packed is None:
            continue
        if not (isinstance(packed, list) and len(packed) == 3):
            return  # decode_structure names the malformed field
        entry = fields.get(name)
        if entry is None:
            raise DatasetFormatError(f"{where}: the record holds {name!r}, which metadata.json does not declare")
        dtype, shape = packed[0], packed[1]
        declared = [n if d == "N" else d for d in entry["shape"]]
        if dtype not in _STORED_DTYPES[entry["dtype"]] or shape != declared:
            raise DatasetFormatError(
                f"{where}: field {name!r} is stored as {dtype} {shape}, but metadata.json declares "
                f"{entry['dtype']} {entry['shape']}; the metadata does not belong to these shards"
            )
