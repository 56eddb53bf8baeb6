"""Iterate the values of legacy LMDBs (OC20, matsciml): one file, or a directory of ``*.lmdb``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from matforge.data.errors import DatasetFormatError


@dataclass(frozen=True)
class LegacyValue:
    """One stored value and where it came from: file name and key."""

    file: str
    key: str
    data: bytes

    @property
    def where(self) -> str:
        """``"data.lmdb key 17"``."""
        return f"{self.file} key {self.key}"


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def lmdb_files(source: str | Path) -> list[Path]:
    """The LMDB files of ``source``: itself, or the ``*.lmdb`` files of a directory in
    natural order (``data.2.lmdb`` before ``data.10.lmdb``)."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"source {str(source)!r} does not exist")
    if source.is_file():
        return [source]
    files = sorted((p for p in source.glob("*.lmdb") if p.is_file()), key=_natural_key)
    if not files:
        raise DatasetFormatError(f"{str(source)!r} holds no *.lmdb files")
    return files


def _open(file: Path):
    import lmdb

    from matforge.data.lmdb_format import check_shard_size

    check_shard_size(file)  # a truncated LMDB would be a bus error once mapped
    try:
        return lmdb.open(str(file), subdir=False, readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as exc:
        raise DatasetFormatError(f"{str(file)!r} is not an LMDB file ({exc})") from None


class LegacyLmdb:
    """The integer-keyed values of one or more legacy LMDB files, in key order.

    Keys that are not ASCII integers (``length``, ``metadata``) are not structures; they are
    listed in :attr:`skipped_keys`.
    """

    def __init__(self, source: str | Path) -> None:
        self.files = lmdb_files(source)
        self.skipped_keys: list[str] = []
        self._keys: list[list[bytes]] = []
        for file in self.files:
            env = _open(file)
            try:
                with env.begin() as txn:
                    keys = list(txn.cursor().iternext(keys=True, values=False))
            finally:
                env.close()
            numeric = [k for k in keys if k.isdigit()]
            self.skipped_keys += [f"{file.name} key {k.decode(errors='replace')}" for k in keys if not k.isdigit()]
            self._keys.append(sorted(numeric, key=int))

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def __iter__(self) -> Iterator[LegacyValue]:
        for file, keys in zip(self.files, self._keys):
            env = _open(file)
            try:
                with env.begin() as txn:
                    for key in keys:
                        value = txn.get(key)
                        yield LegacyValue(file.name, key.decode(), bytes(value) if value is not None else b"")
            finally:
                env.close()


def read_pickled_records(
    source,
    to_fields: Callable[[object], Mapping[str, object]],
    key_map,
    required: frozenset[str],
    *,
    max_record_bytes: int | None = None,
) -> tuple[LegacyLmdb, Iterator]:
    """The source and a lazy stream of its items, for LMDBs of pickled records.

    Each value goes through the restricted unpickler (an unsafe pickle raises and stops the
    import), then ``to_fields`` (the format's layout → a flat field mapping) and the key map.
    Any other failure of a record rejects that record only: it is yielded with the field
    and the reason, and the stream goes on.
    """
    from matforge.data.errors import UnsafePickleError
    from matforge.data.importers.base import SourceItem
    from matforge.data.importers.fields import record_to_structure
    from matforge.data.importers.legacy_pickle import DEFAULT_MAX_RECORD_BYTES, safe_loads

    lmdb_source = LegacyLmdb(source)
    budget = DEFAULT_MAX_RECORD_BYTES if max_record_bytes is None else max_record_bytes

    def items() -> Iterator[SourceItem]:
        for value in lmdb_source:
            try:
                fields = to_fields(safe_loads(value.data, where=value.where, max_bytes=budget))
                structure, used = record_to_structure(fields, key_map, required=required, default_pbc=True)
            except UnsafePickleError:
                raise
            except Exception as exc:  # one bad record never stops the import
                yield SourceItem.rejected(value.file, value.key, exc)
                continue
            yield SourceItem(value.where, structure, used_keys=frozenset(used), all_keys=frozenset(fields))

    return lmdb_source, items()
