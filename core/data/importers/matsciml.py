"""Import matsciml LMDBs: values are pickled plain dicts of tensors, arrays and numbers.

Key names vary between matsciml datasets, so the targets come from the user's key map
(``--map energy=energy --map forces=force``); the defaults below cover the common names.
"""

from __future__ import annotations

from collections.abc import Iterator

from matforge.data.errors import CorruptRecordError
from matforge.data.importers.base import SourceItem
from matforge.data.importers.fields import KeyMap, RecordError, record_to_structure
from matforge.data.importers.legacy_lmdb import LegacyLmdb
from matforge.data.importers.legacy_pickle import safe_loads
from matforge.structure import StructureError

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


def read_matsciml(source, key_map: KeyMap, required: frozenset[str]) -> tuple[LegacyLmdb, Iterator[SourceItem]]:
    """The source and a lazy stream of its items; unsafe pickles raise, others are rejected."""
    lmdb_source = LegacyLmdb(source)

    def items() -> Iterator[SourceItem]:
        for value in lmdb_source:
            try:
                record = safe_loads(value.data, where=value.where)
                if not isinstance(record, dict):
                    raise RecordError(f"value is a {type(record).__name__}, expected a dict")
                structure, used = record_to_structure(record, key_map, required=required, default_pbc=True)
            except (CorruptRecordError, RecordError, StructureError) as exc:
                yield SourceItem(value.where, error=str(exc).removeprefix(f"{value.where}: "))
                continue
            yield SourceItem(value.where, structure, used_keys=frozenset(used), all_keys=frozenset(record))

    return lmdb_source, items()
