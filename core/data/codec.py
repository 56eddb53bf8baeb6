"""One `AtomicStructure` ⇄ one msgpack record whose arrays are raw little-endian buffers.

Why msgpack with raw buffers and not safetensors (both pickle-free): a record is a handful of
small arrays plus a few scalars and ids. On LiPS-sized records (83 atoms, 8 arrays),
decoding to a dict of numpy arrays took 45 µs with msgpack and 120 µs with
``safetensors.numpy.load`` (its per-record JSON header costs more than the arrays), and
msgpack records were 15 % smaller (2.5 kB vs 2.9 kB). msgpack also holds ``sid``, ``fid``
and free-form ids natively, where safetensors metadata is string → string only. Repeat the
measurement with ``python benchmarks/bench_lmdb_decode.py --codecs``.

A record is a msgpack map::

    {"atomic_numbers": A, "positions": A, "cell": A | None, "pbc": [bool, bool, bool],
     "tags": A, "fixed": A, "targets": {name: A}, "per_atom": [name, ...],
     "sid": int | str | None, "fid": int | None, "ids": {str: msgpack value}}

where each ``A`` is ``[dtype, shape, bytes]``, ``dtype`` a little-endian numpy type string
from :data:`ARRAY_DTYPES`. Decoded arrays are writable and canonical: float64, int64, bool.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from matforge.data.errors import CorruptRecordError
from matforge.structure import AtomicStructure, StructureError

#: numpy type strings a record may hold (little-endian, no objects, no structured types).
ARRAY_DTYPES: frozenset[str] = frozenset(
    {"|b1", "|u1", "|i1", "<i2", "<i4", "<i8", "<u2", "<u4", "<f2", "<f4", "<f8"}
)

#: Arrays stored as float32 when a dataset is written with ``float32=True``.
FLOAT32_FIELDS: frozenset[str] = frozenset({"positions", "forces", "positions_relaxed"})

_RECORD_KEYS = frozenset(
    {"atomic_numbers", "positions", "cell", "pbc", "tags", "fixed", "targets", "per_atom", "sid", "fid", "ids"}
)


def _pack_array(value: np.ndarray, name: str, float32: bool) -> list[Any]:
    array = np.asarray(value)
    if array.dtype == bool:
        array = array.astype(np.bool_)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype("<f4" if float32 and name in FLOAT32_FIELDS else "<f8")
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype("<i8")
    else:
        raise TypeError(f"field {name!r}: cannot store dtype {array.dtype}")
    array = np.asarray(array, order="C")  # not ascontiguousarray: it turns 0-d into 1-d
    return [array.dtype.str, list(array.shape), array.tobytes()]


def _small_ints(values: np.ndarray, name: str) -> list[Any]:
    values = np.asarray(values, dtype=np.int64)
    for dtype in ("|u1", "|i1", "<i2", "<i4"):
        info = np.iinfo(np.dtype(dtype))
        if values.size == 0 or (values.min() >= info.min and values.max() <= info.max):
            return [dtype, list(values.shape), values.astype(dtype).tobytes()]
    return [np.dtype("<i8").str, list(values.shape), values.astype("<i8").tobytes()]


def encode_structure(structure: AtomicStructure, *, float32: bool = True) -> bytes:
    """The record bytes of a validated ``structure``.

    Args:
        float32: store positions, forces and relaxed positions as float32 (halves their
            size; 1e-7 relative precision). Cells, energies and stress stay float64.
    """
    s = structure
    for key, value in s.ids.items():
        if not isinstance(key, str) or not _is_plain(value):
            raise TypeError(
                f"ids[{key!r}] = {value!r}: ids must map strings to strings, numbers, booleans, "
                "None or lists of those"
            )
    if not _is_plain(s.sid) or isinstance(s.sid, (list, dict, float)):
        raise TypeError(f"sid must be an int, a string or None, got {type(s.sid).__name__}")
    record = {
        "atomic_numbers": _small_ints(s.atomic_numbers, "atomic_numbers"),
        "positions": _pack_array(s.positions, "positions", float32),
        "cell": None if s.cell is None else _pack_array(s.cell, "cell", float32),
        "pbc": [bool(p) for p in s.pbc],
        "tags": _small_ints(s.tags, "tags"),
        "fixed": _pack_array(np.asarray(s.fixed, dtype=bool), "fixed", float32),
        "targets": {name: _pack_array(v, name, float32) for name, v in sorted(s.targets.items())},
        "per_atom": sorted(s.per_atom),
        "sid": s.sid.item() if isinstance(s.sid, np.generic) else s.sid,
        "fid": None if s.fid is None else int(s.fid),
        # "index" is the position in a dataset, set when reading; it is not stored
        "ids": {k: v for k, v in s.ids.items() if k != "index"},
    }
    return msgpack.packb(record, use_bin_type=True)


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, np.generic):
        return isinstance(value.item(), (bool, int, float, str))
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return False


_NUMPY_DTYPES: dict[str, np.dtype] = {name: np.dtype(name) for name in ARRAY_DTYPES}
_CANONICAL = {"f": np.float64, "i": np.int64, "u": np.int64, "b": np.bool_}


def _unpack_array(packed: Any, field: str, where: str) -> np.ndarray:
    try:
        dtype, shape, data = packed
        dt = _NUMPY_DTYPES[dtype]
        count = math.prod(shape)
    except (TypeError, ValueError, KeyError):
        raise CorruptRecordError(
            f"{where}: field {field!r} is not a [dtype, shape, bytes] triple of a supported dtype", field=field
        ) from None
    if not isinstance(data, bytes) or len(data) != dt.itemsize * count:
        raise CorruptRecordError(
            f"{where}: field {field!r} holds {len(data) if isinstance(data, bytes) else 'no'} "
            f"bytes, expected {dt.itemsize * count} for {dtype} {shape} (truncated or corrupt value)", field=field
        )
    try:
        array = np.frombuffer(data, dtype=dt).reshape(shape)
    except (TypeError, ValueError):
        raise CorruptRecordError(f"{where}: field {field!r} has invalid shape {shape!r}", field=field) from None
    return array.astype(_CANONICAL[dt.kind])  # a writable copy in the canonical dtype


def decode_structure(data: bytes | memoryview, *, where: str = "record") -> AtomicStructure:
    """The `AtomicStructure` stored in ``data``, checked as the writer checks it.

    The same validation as at write time runs on every record read (finite values,
    1 ≤ Z ≤ 118, shapes, a finite non-singular cell of sane size where pbc is set), except the
    minimum-distance check, which needs a neighbour search: a tampered or bit-rotted shard
    gives an error here, never NaN in training or a crash in a neighbour list.

    Args:
        where: names the record in errors (e.g. ``"shard-0000.lmdb key 17"``).

    Raises:
        CorruptRecordError: the bytes are not a complete record, or hold values no structure
            may have; ``field`` names the field.
    """
    try:
        record = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:
        raise CorruptRecordError(
            f"{where}: value is not a valid msgpack record ({type(exc).__name__}: {exc}); the "
            "value is truncated or corrupt"
        ) from None
    if not isinstance(record, dict) or not {"atomic_numbers", "positions"} <= record.keys():
        raise CorruptRecordError(f"{where}: value is not a matforge structure record")
    unknown = record.keys() - _RECORD_KEYS
    if unknown:
        raise CorruptRecordError(f"{where}: record has unknown fields {sorted(unknown)}")
    z = _unpack_array(record["atomic_numbers"], "atomic_numbers", where)
    n = z.shape[0] if z.ndim == 1 else -1
    positions = _unpack_array(record["positions"], "positions", where)
    if n < 1 or positions.shape != (n, 3):
        raise CorruptRecordError(
            f"{where}: positions {list(positions.shape)} do not match {list(z.shape)} atomic_numbers"
        )
    cell = record.get("cell")
    targets = record.get("targets") or {}
    if not isinstance(targets, dict):
        raise CorruptRecordError(f"{where}: field 'targets' is not a map")
    try:
        structure = AtomicStructure(
            positions=positions,
            atomic_numbers=z,
            cell=None if cell is None else _unpack_array(cell, "cell", where),
            pbc=np.asarray(record.get("pbc", [False, False, False]), dtype=bool),
            tags=_unpack_array(record["tags"], "tags", where) if "tags" in record else None,
            fixed=_unpack_array(record["fixed"], "fixed", where) if "fixed" in record else None,
            targets={k: _unpack_array(v, f"targets.{k}", where) for k, v in targets.items()},
            per_atom=frozenset(record.get("per_atom") or ()),
            sid=record.get("sid"),
            fid=record.get("fid"),
            ids=dict(record.get("ids") or {}),
        )
    except CorruptRecordError:
        raise
    except Exception as exc:
        raise CorruptRecordError(f"{where}: {type(exc).__name__}: {exc}") from None
    _check_lengths(structure, where)
    try:
        structure.validate(min_distance=None)
    except StructureError as exc:
        raise CorruptRecordError(f"{where}: field {exc.field!r}: {exc}", field=exc.field) from None
    return structure


def _check_lengths(s: AtomicStructure, where: str) -> None:
    n = s.num_atoms
    for name in ("tags", "fixed"):
        if getattr(s, name).shape != (n,):
            raise CorruptRecordError(f"{where}: field {name!r} does not match {n} atoms", field=name)
    if s.pbc.shape != (3,):
        raise CorruptRecordError(f"{where}: field 'pbc' has shape {list(s.pbc.shape)}, expected [3]", field="pbc")
    if s.cell is not None and s.cell.shape != (3, 3):
        raise CorruptRecordError(f"{where}: cell has shape {list(s.cell.shape)}, expected [3, 3]", field="cell")
    for name, value in s.targets.items():
        if s.is_per_atom(name) and (value.ndim < 1 or value.shape[0] != n):
            raise CorruptRecordError(
                f"{where}: per-atom target {name!r} has shape {list(value.shape)}, expected [{n}, ...]",
                field=f"targets.{name}",
            )
