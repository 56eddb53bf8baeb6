"""Import Open Catalyst (OC20) LMDBs: pickled PyG ``Data`` (1.x or 2.x), without torch_geometric.

Field names follow the OC20 LMDBs (S2EF ``y``/``force``, IS2RE ``y_init``/``y_relaxed``/
``pos_relaxed``, newer fairchem ``energy``/``forces``). Neighbour data stored by some OC20
files (``edge_index``, ``cell_offsets``, ``distances``) is not imported: matforge's
representations rebuild it; the summary lists such fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from matforge.data.importers.base import SourceItem
from matforge.data.importers.fields import KeyMap, RecordError
from matforge.data.importers.legacy_lmdb import LegacyLmdb, read_pickled_records
from matforge.data.importers.legacy_pickle import PygData

DEFAULT_KEY_MAP: KeyMap = {
    "positions": ("pos",),
    "atomic_numbers": ("atomic_numbers",),
    "cell": ("cell",),
    "pbc": ("pbc",),
    "tags": ("tags",),
    "fixed": ("fixed",),
    "sid": ("sid",),
    "fid": ("fid",),
    "energy": ("y", "energy"),
    "forces": ("force", "forces"),
    "energy_relaxed": ("y_relaxed",),
    "energy_initial": ("y_init",),
    "positions_relaxed": ("pos_relaxed",),
    "stress": ("stress",),
}


def oc20_fields(value: object) -> Mapping[str, object]:
    """The fields of one unpickled OC20 value (PyG ``Data`` or, in some exports, a dict)."""
    if isinstance(value, PygData):
        return value.fields()
    if isinstance(value, Mapping):
        return value
    raise RecordError(f"value is a {type(value).__name__}, expected a PyG Data object")


def read_oc20(source, key_map: KeyMap, required: frozenset[str], *, max_record_bytes: int | None = None) -> tuple[LegacyLmdb, Iterator[SourceItem]]:
    """The source and a lazy stream of its items; unsafe pickles raise, others are rejected."""
    return read_pickled_records(source, oc20_fields, key_map, required, max_record_bytes=max_record_bytes)
