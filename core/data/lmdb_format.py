"""matforge dataset format, schema version 1: the layout on disk and how to open it.

A dataset is a directory::

    my-dataset/
        metadata.json        schema version, shards and counts, fields, provenance, statistics
        shard-0000.lmdb      one LMDB file per shard (opened with subdir=False)
        shard-0001.lmdb
        ...

Inside a shard, record ``k`` (0-based, counted within the shard) is stored under the 8-byte
big-endian unsigned integer key ``k`` (so LMDB's byte order is numeric order); its value is a
msgpack record (:mod:`matforge.data.codec`), never a pickle. Each shard also holds the
key :data:`SHARD_META_KEY` with a small JSON record (schema version, shard index, count) so a
shard copied from another dataset is caught. Dataset index ``i`` runs over shard 0's records,
then shard 1's, and so on.

``metadata.json`` is written last, inside a temporary directory that is renamed into place:
a directory without it (an interrupted write) is never taken for a dataset.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from matforge.data.errors import DatasetFormatError, MissingShardError

FORMAT_NAME = "matforge-lmdb"
SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"
SHARD_META_KEY = b"matforge:shard"

_KEY = struct.Struct(">Q")


def shard_name(index: int) -> str:
    """File name of shard ``index``."""
    return f"shard-{index:04d}.lmdb"


def encode_key(index: int) -> bytes:
    """The LMDB key of record ``index`` within its shard."""
    return _KEY.pack(index)


def decode_key(key: bytes) -> int:
    return _KEY.unpack(key)[0]


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The validated metadata of the dataset directory ``path``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DatasetFormatError: not a matforge dataset, or a schema version this matforge does
            not read.
        MissingShardError: a shard named in the metadata is absent.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset {str(path)!r} does not exist")
    if not path.is_dir():
        raise DatasetFormatError(
            f"{str(path)!r} is a file, not a matforge dataset directory (one holding "
            f"{METADATA_FILE} and shard-*.lmdb). To read a legacy LMDB, import it first: "
            "'matforge data import SRC DEST --format oc20|matsciml'"
        )
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise DatasetFormatError(
            f"{str(path)!r} has no {METADATA_FILE}: not a matforge dataset, or a write that did "
            "not finish"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFormatError(f"{str(meta_path)!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise DatasetFormatError(f"{str(meta_path)!r}: 'format' must be {FORMAT_NAME!r}")
    version = meta.get("schema_version")
    if version is None:
        raise DatasetFormatError(f"{str(meta_path)!r} has no 'schema_version'")
    if version != SCHEMA_VERSION:
        raise DatasetFormatError(
            f"{str(meta_path)!r} has schema_version {version!r}; this matforge reads version "
            f"{SCHEMA_VERSION}. Upgrade matforge, or re-import the data."
        )
    shards = meta.get("shards")
    if not isinstance(shards, list) or not shards:
        raise DatasetFormatError(f"{str(meta_path)!r}: 'shards' must be a non-empty list")
    for shard in shards:
        count = shard.get("count") if isinstance(shard, dict) else None
        if not isinstance(shard.get("file") if isinstance(shard, dict) else None, str) or type(count) is not int or count < 0:
            raise DatasetFormatError(f"{str(meta_path)!r}: each shard needs 'file' and a count >= 0, got {shard!r}"[:300])
        if Path(shard["file"]).name != shard["file"]:
            raise DatasetFormatError(f"{str(meta_path)!r}: shard file {shard['file']!r} must be a bare name")
        if not (path / shard["file"]).is_file():
            raise MissingShardError(
                f"dataset {str(path)!r}: shard {shard['file']!r} ({shard['count']} structures) is "
                "missing"
            )
    if sum(s["count"] for s in shards) != meta.get("num_structures"):
        raise DatasetFormatError(f"{str(meta_path)!r}: shard counts do not add up to num_structures")
    from matforge.data.metadata_checks import check_fields, check_statistics

    check_fields(meta, str(meta_path))
    check_statistics(meta, str(meta_path))
    return meta


_LMDB_MAGIC = 0xBEEFC0DE
_META = struct.Struct("<II")  # mm_magic, mm_version at offset 16 of a meta page
_META_PAGES = struct.Struct("<QQ")  # mm_last_pg, mm_txnid at offset 136 (64-bit LMDB)


def check_shard_size(file: Path) -> None:
    """Raise unless ``file`` is as long as its own LMDB header says.

    LMDB maps the file into memory; reading a page past the end of a truncated file kills
    the process with SIGBUS. The two meta pages at the start record the page size and the
    last page in use, so the size the file must have is known before anything is mapped.
    """
    size = os.stat(file).st_size
    try:
        with open(file, "rb") as handle:
            head = handle.read(160)
            magic, version = _META.unpack_from(head, 16)
            page_size = struct.unpack_from("<I", head, 40)[0]  # FREE_DBI's md_pad holds it
            if magic != _LMDB_MAGIC or version != 1 or page_size not in {1 << k for k in range(9, 17)}:
                raise DatasetFormatError(f"{str(file)!r} is not a readable LMDB file: no LMDB header")
            handle.seek(page_size)
            second = handle.read(160)
            metas = [_META_PAGES.unpack_from(head, 136), _META_PAGES.unpack_from(second, 136)]
            if _META.unpack_from(second, 16)[0] != _LMDB_MAGIC:
                raise struct.error("second meta page")
    except struct.error:
        raise MissingShardError(f"{str(file)!r} is truncated: {size} bytes, shorter than an LMDB header") from None
    needed = (max(last for last, _ in metas) + 1) * page_size
    if size < needed:
        raise MissingShardError(
            f"{str(file)!r} is truncated: {size} bytes, but its LMDB header says {needed} "
            "(an interrupted copy or download?); copy the shard again"
        )


def open_shard(file: Path, *, readonly: bool = True):
    """An ``lmdb.Environment`` on one shard file (no lock file, no readahead when reading).

    Read-only opens check the file's size against its LMDB header first
    (:func:`check_shard_size`), so a truncated shard is an error, never a bus error.
    """
    import lmdb

    if readonly:
        check_shard_size(file)
    try:
        return lmdb.open(
            str(file),
            subdir=False,
            readonly=readonly,
            lock=not readonly,
            readahead=False,
            meminit=False,
            max_readers=2048,
        )
    except lmdb.Error as exc:
        raise DatasetFormatError(f"{str(file)!r} is not a readable LMDB file: {exc}") from None


# LMDB allows one environment per file per process (py-lmdb refuses a second open), so
# datasets reading the same shard share one read-only handle, counted by users. Keyed by
# device and inode: a dataset rewritten in place (temp dir + rename) gets a fresh handle.
_SHARED_READERS: dict[tuple[int, int, int], list[Any]] = {}


def _forget_inherited_readers() -> None:
    """In a forked child (a DataLoader worker): close the parent's handles, which must not be
    used here and which py-lmdb counts as open, so every dataset object reopens its own."""
    for env, _ in _SHARED_READERS.values():
        try:
            env.close()
        except Exception:  # pragma: no cover - closing a handle we are abandoning anyway
            pass
    _SHARED_READERS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_readers)


def _reader_key(file: Path) -> tuple[int, int, int]:
    st = os.stat(file)
    return (os.getpid(), st.st_dev, st.st_ino)


def acquire_shard(file: Path):
    """A read-only environment on ``file``, shared by every reader in this process."""
    key = _reader_key(file)
    stale = [k for k in _SHARED_READERS if k[0] != key[0]]
    for k in stale:
        # Inherited through fork: the parent's handle must not be used (or kept) here, and
        # py-lmdb refuses a new open while it lives.
        del _SHARED_READERS[k]
    entry = _SHARED_READERS.get(key)
    if entry is None:
        entry = _SHARED_READERS[key] = [open_shard(file), 0]
    entry[1] += 1
    return entry[0]


def release_shard(env) -> None:
    """Give back a handle from :func:`acquire_shard`; the last user closes it."""
    for key, entry in list(_SHARED_READERS.items()):
        if entry[0] is env:
            entry[1] -= 1
            if entry[1] <= 0:
                del _SHARED_READERS[key]
                env.close()
            return
    env.close()


def check_shard(env, file: Path, index: int, count: int) -> None:
    """Raise unless the shard's own record says it is shard ``index`` with ``count`` records."""
    with env.begin() as txn:
        raw = txn.get(SHARD_META_KEY)
        entries = txn.stat()["entries"]
    if raw is None:
        raise MissingShardError(f"{str(file)!r} is not a matforge shard (no {SHARD_META_KEY!r} record)")
    try:
        record = json.loads(raw)
    except json.JSONDecodeError:
        raise MissingShardError(f"{str(file)!r}: its shard record is corrupt") from None
    if record.get("schema_version") != SCHEMA_VERSION:
        raise DatasetFormatError(
            f"{str(file)!r}: shard schema_version {record.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    if record.get("index") != index or record.get("count") != count or entries != count + 1:
        raise MissingShardError(
            f"{str(file)!r} holds shard {record.get('index')} with {record.get('count')} records "
            f"({entries - 1} stored), but the dataset's metadata expects shard {index} with "
            f"{count}: the shard was replaced or truncated"
        )
