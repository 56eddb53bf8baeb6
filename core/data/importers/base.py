"""What every importer shares: source items, the import summary, and writing them out."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matforge.data.errors import TooManyRejectsError
from matforge.data.writer import WriteSummary, write_dataset
from matforge.structure import DEFAULT_MIN_DISTANCE, AtomicStructure, StructureError

_LISTED = 10


@dataclass(frozen=True)
class RejectedRecord:
    """A source record left out of an import: where it was, which field, and why.

    Attributes:
        where: file and key (``"data.lmdb key 17"``, ``"frames.extxyz frame 3"``).
        reason: what was wrong, in words.
        field: the field at fault (``"positions"``, ``"targets.energy"``), when one is.
    """

    where: str
    reason: str
    field: str | None = None

    def __str__(self) -> str:
        field = f" [{self.field}]" if self.field else ""
        return f"{self.where}{field}: {self.reason}"

    def __iter__(self):
        """``where, reason = record`` (the pair rejections were before fields were named)."""
        return iter((self.where, self.reason))


@dataclass(frozen=True)
class SourceItem:
    """One source record: its structure, or why it could not become one."""

    where: str
    structure: AtomicStructure | None = None
    error: str | None = None
    used_keys: frozenset[str] = frozenset()
    all_keys: frozenset[str] = frozenset()
    field: str | None = None

    @classmethod
    def rejected(cls, file: str, key: str, exc: BaseException) -> SourceItem:
        """The item of a record that failed with ``exc`` (its field, when the error names one)."""
        where = f"{file} key {key}"
        known = getattr(exc, "field", None) is not None or type(exc).__name__ in _EXPECTED
        reason = str(exc).removeprefix(f"{where}: ") if known else f"{type(exc).__name__}: {exc}"
        return cls(where, error=reason[:500], field=getattr(exc, "field", None))


_EXPECTED = frozenset({"RecordError", "CorruptRecordError", "RecordTooLargeError", "StructureError"})


@dataclass
class ImportSummary:
    """What an import read, wrote, rejected (and why) and which source fields it ignored."""

    source: str
    format: str
    num_read: int
    write: WriteSummary | None
    rejected: list[RejectedRecord] = field(default_factory=list)
    ignored_fields: dict[str, int] = field(default_factory=dict)
    skipped_keys: list[str] = field(default_factory=list)

    @property
    def num_imported(self) -> int:
        return 0 if self.write is None else self.write.num_structures

    def __str__(self) -> str:
        dest = self.write.path if self.write is not None else "(nothing written)"
        lines = [
            f"read {self.num_read} records from {self.source} ({self.format})",
            f"imported {self.num_imported} structures into {dest}",
            f"rejected {len(self.rejected)}",
        ]
        if self.rejected:
            reasons = Counter(_reason_kind(r.reason) for r in self.rejected)
            lines += [f"  {count:>6} × {kind}" for kind, count in reasons.most_common()]
            lines += [f"  e.g. {r}" for r in self.rejected[:_LISTED]]
        if self.ignored_fields:
            fields = ", ".join(f"{k} ({v})" for k, v in sorted(self.ignored_fields.items()))
            lines.append(f"source fields not imported (records): {fields}")
        if self.skipped_keys:
            lines.append(f"non-structure keys skipped: {', '.join(self.skipped_keys[:_LISTED])}")
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    """A reason without its numbers and trailing context, to group similar rejections."""
    head = reason.split(" (input structure")[0].split(";")[0]
    return "".join("#" if c.isdigit() else c for c in head)[:100]


class _Tracked(Sized):
    """Structures of the good items, validated here so that every rejection is counted as it
    happens (``max_rejects`` stops a systematic mismatch early); remembers where each came from."""

    def __init__(self, items: Iterable[SourceItem], total: int, min_distance: float | None, max_rejects: int | None) -> None:
        self._items = items
        self._total = total
        self._min_distance = min_distance
        self._max_rejects = max_rejects
        self.wheres: list[str] = []
        self.rejected: list[RejectedRecord] = []
        self.ignored: Counter[str] = Counter()
        self.num_read = 0

    def __len__(self) -> int:
        return self._total

    def _reject(self, record: RejectedRecord) -> None:
        self.rejected.append(record)
        if self._max_rejects is not None and len(self.rejected) > self._max_rejects:
            listed = "\n".join(f"  {r}" for r in self.rejected[:_LISTED])
            raise TooManyRejectsError(
                f"more than {self._max_rejects} records rejected after reading {self.num_read} "
                f"(--max-rejects {self._max_rejects}); nothing was written. First rejections:\n{listed}"
            )

    def __iter__(self) -> Iterator[AtomicStructure]:
        for item in self._items:
            self.num_read += 1
            if item.structure is None:
                self._reject(RejectedRecord(item.where, item.error or "unreadable", item.field))
                continue
            try:
                item.structure.validate(min_distance=self._min_distance)
            except StructureError as exc:
                self._reject(RejectedRecord(item.where, str(exc), exc.field))
                continue
            self.ignored.update(item.all_keys - item.used_keys)
            self.wheres.append(item.where)
            yield item.structure


def write_items(
    items: Iterable[SourceItem],
    total: int,
    dest: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str],
    format: str,
    key_map: dict[str, Any],
    skipped_keys: list[str] | None = None,
    provenance: dict[str, Any] | None = None,
    num_shards: int = 1,
    overwrite: bool = False,
    float32: bool = True,
    progress: bool = True,
    min_distance: float | None = DEFAULT_MIN_DISTANCE,
    max_rejects: int | None = None,
) -> ImportSummary:
    """Write the good items to ``dest`` (invalid structures are rejected, not fatal).

    Raises:
        TooManyRejectsError: more than ``max_rejects`` records were rejected (nothing written).
    """
    tracked = _Tracked(items, total, min_distance, max_rejects)
    record = {
        "source": str(Path(source).resolve()),
        "importer": format,
        "key_map": {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(key_map.items())},
        **(provenance or {}),
    }
    write = None
    try:
        write = write_dataset(
            dest, tracked, num_shards=num_shards, provenance=record, overwrite=overwrite,
            float32=float32, progress=progress, min_distance=min_distance, errors="skip",
        )  # fmt: skip
    except ValueError as exc:
        if tracked.num_read == 0 or tracked.wheres:
            raise
        # every record was rejected before writing: report them rather than an empty dataset
        if "no structures to write" not in str(exc):
            raise
    rejected = list(tracked.rejected)
    if write is not None:
        rejected += [RejectedRecord(tracked.wheres[r.index], r.reason) for r in write.rejected]
    return ImportSummary(
        source=str(source),
        format=format,
        num_read=tracked.num_read,
        write=write,
        rejected=rejected,
        ignored_fields=dict(tracked.ignored),
        skipped_keys=list(skipped_keys or []),
    )
