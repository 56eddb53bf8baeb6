"""Import matsciml LMDBs: values are pickled plain dicts of tensors, arrays and numbers.

Key names vary between matsciml datasets, so the targets come from the user's key map
(``--map energy=energy --map forces=force``); the defaults below cover the common names.
"""

from __future__ import annotations

from collections.abc import Iterator

from matforge.data.importers.base import SourceItem
from matforge.data.importers.fields import KeyMap, RecordError
from matforge.data.importers.legacy_lmdb import LegacyLmdb, read_pickled_records

DEFAULT_KEY_MAP: KeyMap = {
    "positions": ("pos", "positions", "cart_coords"),
    "atomic_numbers": ("atomic_numbers", "numbers"),
    "cell": ("cell", "lattice"),
    "pbc": ("pbc",),
    "tags": ("tags",),
    "fixed": ("fixed",),
    "sid": ("sid",),
    "fid": ("fid",),
    "energy": ("energy",),
    "forces": ("forces", "force"),
    "stress": ("stress",),
}


def _dict_record(record: object) -> dict:
    if not isinstance(record, dict):
        raise RecordError(f"value is a {type(record).__name__}, expected a dict")
    return record


def read_matsciml(source, key_map: KeyMap, required: frozenset[str], *, max_record_bytes: int | None = None) -> tuple[LegacyLmdb, Iterator[SourceItem]]:
    """The source and a lazy stream of its items; unsafe pickles raise, others are rejected."""
    return read_pickled_records(source, _dict_record, key_map, required, max_record_bytes=max_record_bytes)
