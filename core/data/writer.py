"""`write_dataset`: structures → a matforge dataset (format v1), atomically, with statistics.

Each shard is written by its own process when ``num_shards > 1`` (validation, neighbour
checks and encoding dominate the cost). Shards are written to a temporary directory beside
the destination and the directory is renamed into place only once
``metadata.json`` is complete, so an interrupted write never leaves a dataset that looks
complete.
"""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing
import os
import queue as _queue
import shlex
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from matforge.data.codec import FLOAT32_FIELDS, encode_structure
from matforge.data.errors import DatasetError, DestinationExistsError
from matforge.data.lmdb_format import (
    FORMAT_NAME,
    METADATA_FILE,
    SCHEMA_VERSION,
    SHARD_META_KEY,
    encode_key,
    shard_name,
)
from matforge.data.statistics import DatasetStatistics, StatisticsAccumulator
from matforge.structure import DEFAULT_MIN_DISTANCE, TARGET_UNITS, AtomicStructure, StructureError

_INITIAL_MAP_SIZE = 64 << 20  # bytes; doubled whenever a transaction does not fit
_TXN_RECORDS = 1000
_TXN_BYTES = 32 << 20
_MAX_LISTED_REJECTIONS = 100


@dataclass(frozen=True)
class Rejection:
    """A structure left out of a dataset: its position in the input and why."""

    index: int
    reason: str


@dataclass
class WriteSummary:
    """What :func:`write_dataset` wrote.

    Attributes:
        path: the dataset directory.
        num_structures: structures written.
        rejected: structures refused (only with ``errors="skip"``), in input order.
        shard_counts: structures per shard.
        statistics: the statistics stored in the metadata.
        num_bytes: total size of the dataset's files.
    """

    path: Path
    num_structures: int
    shard_counts: list[int]
    statistics: DatasetStatistics
    num_bytes: int
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def num_rejected(self) -> int:
        return len(self.rejected)

    def __str__(self) -> str:
        text = (
            f"wrote {self.num_structures} structures to {self.path} "
            f"({len(self.shard_counts)} shard(s), {self.num_bytes / 1e6:.2f} MB)"
        )
        if self.rejected:
            text += f"; rejected {self.num_rejected}"
        return text


def write_dataset(
    path: str | os.PathLike[str],
    structures: Iterable[AtomicStructure],
    *,
    num_shards: int = 1,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    float32: bool = True,
    progress: bool = True,
    min_distance: float | None = DEFAULT_MIN_DISTANCE,
    errors: Literal["raise", "skip"] = "raise",
) -> WriteSummary:
    """Validate ``structures`` and write them as a matforge dataset at ``path``.

    Args:
        path: the dataset directory to create.
        structures: the structures, in dataset order. A sized sequence streams into
            ``num_shards`` contiguous shards; an unsized iterable is first collected when
            ``num_shards > 1``.
        num_shards: number of LMDB shards, written in parallel processes.
        provenance: recorded in the metadata (e.g. ``source``, ``importer``); overrides the
            automatic ``command_line``, ``created`` (honours ``SOURCE_DATE_EPOCH``) and
            ``matforge_version`` entries.
        overwrite: replace an existing dataset at ``path`` (never a directory that is not
            a matforge dataset).
        float32: store positions, forces and relaxed positions as float32.
        progress: show a progress bar on stderr.
        min_distance: reject structures with two atoms closer than this (Å); ``None`` skips
            that check.
        errors: ``"raise"`` stops at the first invalid structure (nothing is written);
            ``"skip"`` leaves invalid structures out and lists them in the summary.

    Raises:
        StructureError: a structure is invalid (``errors="raise"``), naming its input index.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if num_shards < 1:
        raise DatasetError(f"num_shards must be >= 1, got {num_shards}")
    if errors not in ("raise", "skip"):
        raise DatasetError(f"errors must be 'raise' or 'skip', got {errors!r}")
    _check_destination(path, overwrite)
    if num_shards > 1 and not isinstance(structures, Sized):
        structures = list(structures)
    total = len(structures) if isinstance(structures, Sized) else None
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    options = _ShardOptions(float32=float32, min_distance=min_distance, errors=errors)
    try:
        bar = _progress_bar(total, f"writing {path.name}", progress)
        try:
            if num_shards == 1:
                results = [_write_shard(tmp, 0, _counted(enumerate(structures), bar), options)]
            else:
                results = _write_parallel(tmp, structures, total or 0, num_shards, options, bar)
        finally:
            bar.close()
        summary = _finish(tmp, path, results, provenance, float32, min_distance, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def clean_stale_temporaries(path: Path) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*`` directories beside ``path`` left by
    writes whose process no longer runs (killed mid-write); returns what was removed. A
    temporary directory of a write still running is left alone."""
    removed = []
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for stale in path.parent.glob(pattern):
            pid_text = stale.name.rsplit(".", 1)[-1].split("-")[1] if "-" in stale.name else ""
            if not pid_text.isdigit() or _process_alive(int(pid_text)):
                continue
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _check_destination(path: Path, overwrite: bool) -> None:
    if not path.exists():
        return
    if not overwrite:
        raise DestinationExistsError(
            f"{str(path)!r} already exists; pass overwrite=True to replace it", path=str(path), replaceable=True
        )
    is_dataset = path.is_dir() and (path / METADATA_FILE).is_file()
    is_empty_dir = path.is_dir() and not any(path.iterdir())
    if not (is_dataset or is_empty_dir):
        raise DestinationExistsError(
            f"{str(path)!r} exists and is not a matforge dataset; refusing to overwrite it",
            path=str(path), replaceable=False,
        )


def _progress_bar(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=" structures", disable=not enabled, file=sys.stderr)


def _counted(items: Iterator, bar) -> Iterator:
    for item in items:
        yield item
        bar.update(1)


@dataclass(frozen=True)
class _ShardOptions:
    float32: bool
    min_distance: float | None
    errors: str


@dataclass
class _ShardResult:
    index: int
    count: int
    statistics: StatisticsAccumulator
    fields: dict[str, dict[str, Any]]
    rejected: list[Rejection]


class _ShardWriter:
    """Appends records to one LMDB file, doubling the map size whenever it is full."""

    def __init__(self, file: Path) -> None:
        import lmdb

        self._lmdb = lmdb
        self.file = file
        # meminit zero-fills page buffers, so the same input gives byte-identical files
        self.env = lmdb.open(
            str(file), subdir=False, map_size=_INITIAL_MAP_SIZE, lock=False,
            sync=False, metasync=False, meminit=True,
        )  # fmt: skip
        self.pending: list[tuple[bytes, bytes]] = []
        self.pending_bytes = 0
        self.count = 0

    def append(self, value: bytes) -> None:
        self.pending.append((encode_key(self.count), value))
        self.pending_bytes += len(value)
        self.count += 1
        if len(self.pending) >= _TXN_RECORDS or self.pending_bytes >= _TXN_BYTES:
            self.flush()

    def flush(self, extra: tuple[bytes, bytes] | None = None) -> None:
        items = self.pending + ([extra] if extra else [])
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in items:
                        txn.put(key, value, append=key != SHARD_META_KEY)
                break
            except self._lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
        self.pending, self.pending_bytes = [], 0

    def close(self, index: int) -> None:
        """Write the shard record, flush to disk and close."""
        record = {"schema_version": SCHEMA_VERSION, "index": index, "count": self.count}
        self.flush(extra=(SHARD_META_KEY, json.dumps(record, sort_keys=True).encode()))
        self.env.sync(True)
        self.env.close()


def _fsync(file: Path) -> None:
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_shard(directory: Path, index: int, items: Iterable[tuple[int, Any]], options: _ShardOptions) -> _ShardResult:
    writer = _ShardWriter(directory / shard_name(index))
    stats = StatisticsAccumulator()
    fields: dict[str, dict[str, Any]] = {}
    rejected: list[Rejection] = []
    for input_index, structure in items:
        try:
            if not isinstance(structure, AtomicStructure):
                raise StructureError(f"expected an AtomicStructure, got {type(structure).__name__}")
            structure.validate(min_distance=options.min_distance, where=f"input structure {input_index}")
            value = encode_structure(structure, float32=options.float32)
        except (StructureError, TypeError) as exc:
            if options.errors == "raise":
                message = str(exc) if f"input structure {input_index}" in str(exc) else f"{exc} (input structure {input_index})"
                raise StructureError(message) from None
            rejected.append(Rejection(input_index, str(exc)))
            continue
        writer.append(value)
        stats.add(structure)
        _note_fields(fields, structure, options.float32)
    writer.close(index)
    return _ShardResult(index, writer.count, stats, fields, rejected)


def _note_fields(fields: dict[str, dict[str, Any]], s: AtomicStructure, float32: bool) -> None:
    if not fields:
        fields.update(
            atomic_numbers={"dtype": "int64", "shape": ["N"], "unit": "", "count": 0},
            positions={"dtype": "float32" if float32 else "float64", "shape": ["N", 3], "unit": "Å", "count": 0},
            cell={"dtype": "float64", "shape": [3, 3], "unit": "Å", "count": 0},
            pbc={"dtype": "bool", "shape": [3], "unit": "", "count": 0},
            tags={"dtype": "int64", "shape": ["N"], "unit": "", "count": 0},
            fixed={"dtype": "bool", "shape": ["N"], "unit": "", "count": 0},
        )
    for name in ("atomic_numbers", "positions", "pbc", "tags", "fixed"):
        fields[name]["count"] += 1
    if s.cell is not None:
        fields["cell"]["count"] += 1
    for name, value in s.targets.items():
        entry = fields.get(f"targets.{name}")
        if entry is None:
            per_atom = s.is_per_atom(name)
            floating = value.dtype.kind == "f"
            dtype = ("float32" if float32 and name in FLOAT32_FIELDS else "float64") if floating else (
                "bool" if value.dtype == bool else "int64")
            shape: list[Any] = ["N", *value.shape[1:]] if per_atom else list(value.shape)
            entry = {"dtype": dtype, "shape": shape, "unit": TARGET_UNITS.get(name, ""), "count": 0, "per_atom": per_atom}
            fields[f"targets.{name}"] = entry
        entry["count"] += 1


def _shard_worker(directory: str, index: int, inbox, outbox, options: _ShardOptions, parent: int) -> None:
    def items():
        while True:
            try:
                item = inbox.get(timeout=1.0)
            except _queue.Empty:
                if os.getppid() != parent:  # the parent died (kill -9): do not wait forever
                    os._exit(1)
                continue
            if item is None:
                return
            yield item

    try:
        result = _write_shard(Path(directory), index, items(), options)
    except BaseException as exc:
        outbox.put(("error", index, type(exc).__name__, str(exc)))
        return
    outbox.put(("ok", index, result))


def _write_parallel(directory: Path, structures, total: int, num_shards: int, options: _ShardOptions, bar) -> list[_ShardResult]:
    # Workers use numpy, vesin and lmdb only, so fork is safe on Linux even after torch is
    # imported (as for DataLoader workers); spawn elsewhere (needs a __main__ guard).
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    outbox = ctx.Queue()
    inboxes = [ctx.Queue(maxsize=256) for _ in range(num_shards)]
    workers = [
        ctx.Process(target=_shard_worker, args=(str(directory), k, inboxes[k], outbox, options, os.getpid()), daemon=True)
        for k in range(num_shards)
    ]
    for w in workers:
        w.start()
    results: dict[int, _ShardResult] = {}

    def collect(block: bool) -> None:
        while True:
            try:
                message = outbox.get(block=block, timeout=1.0 if block else None)
            except _queue.Empty:
                return
            if message[0] == "error":
                _, index, kind, text = message
                raise (StructureError if kind == "StructureError" else DatasetError)(
                    text if kind == "StructureError" else f"shard {index}: {kind}: {text}"
                )
            results[message[1]] = message[2]
            if not block:
                continue
            return

    try:
        bounds = [total * k // num_shards for k in range(num_shards + 1)]
        shard = 0
        for i, structure in enumerate(structures):
            while i >= bounds[shard + 1]:
                shard += 1
            while True:
                try:
                    inboxes[shard].put((i, structure), timeout=1.0)
                    break
                except _queue.Full:
                    collect(block=False)
                    if not workers[shard].is_alive():
                        raise DatasetError(f"the writer of shard {shard} stopped unexpectedly") from None
            bar.update(1)
        for inbox in inboxes:
            inbox.put(None)
        while len(results) < num_shards:
            collect(block=True)
            if len(results) < num_shards and not any(w.is_alive() for w in workers) and outbox.empty():
                raise DatasetError("a shard writer stopped without reporting its result")
    finally:
        for w in workers:
            if w.is_alive() and len(results) < num_shards:
                w.terminate()
            w.join()
    return [results[k] for k in range(num_shards)]


def _finish(tmp: Path, path: Path, results: list[_ShardResult], provenance: dict[str, Any] | None,
            float32: bool, min_distance: float | None, overwrite: bool) -> WriteSummary:
    stats = StatisticsAccumulator()
    fields: dict[str, dict[str, Any]] = {}
    rejected: list[Rejection] = []
    for result in results:
        stats.merge(result.statistics)
        rejected.extend(result.rejected)
        for name, entry in result.fields.items():
            if name in fields:
                fields[name]["count"] += entry["count"]
            else:
                fields[name] = dict(entry)
    statistics = stats.finalize().rounded()  # the same metadata.json on every BLAS build
    if statistics.num_structures == 0:
        reason = f" ({len(rejected)} rejected, first: {rejected[0].reason})" if rejected else ""
        raise DatasetError(f"no structures to write to {str(path)!r}{reason}")
    meta = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "num_structures": statistics.num_structures,
        "shards": [{"file": shard_name(r.index), "count": r.count} for r in results],
        "fields": dict(sorted(fields.items())),
        "float32": float32,
        "min_distance": min_distance,
        "provenance": _provenance(provenance, rejected),
        "statistics": statistics.to_dict(),
    }
    meta_file = tmp / METADATA_FILE
    meta_file.write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    _fsync(meta_file)
    if path.exists():
        if not overwrite:
            raise DestinationExistsError(f"{str(path)!r} appeared while writing; not replacing it", path=str(path), replaceable=True)
        _check_destination(path, overwrite)
        old = path.parent / f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)
    size = sum(f.stat().st_size for f in path.iterdir())
    return WriteSummary(
        path=path,
        num_structures=statistics.num_structures,
        shard_counts=[r.count for r in results],
        statistics=statistics,
        num_bytes=size,
        rejected=sorted(rejected, key=lambda r: r.index),
    )


def _provenance(user: dict[str, Any] | None, rejected: list[Rejection]) -> dict[str, Any]:
    from matforge._version import __version__

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch else _dt.datetime.now(_dt.timezone.utc)
    record: dict[str, Any] = {
        "command_line": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "",
        "created": now.replace(microsecond=0).isoformat(),
        "matforge_version": __version__,
    }
    if rejected:
        record["rejected"] = {
            "count": len(rejected),
            "first": [{"index": r.index, "reason": r.reason} for r in sorted(rejected, key=lambda r: r.index)[:_MAX_LISTED_REJECTIONS]],
        }
    record.update(user or {})
    try:
        json.dumps(record)
    except TypeError as exc:
        raise TypeError(f"provenance must be JSON-serialisable: {exc}") from None
    return record
