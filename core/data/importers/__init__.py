"""Importers: OC20 LMDBs, matsciml LMDBs and ASE-readable files → matforge datasets.

>>> from matforge.data.importers import import_dataset                          # doctest: +SKIP
>>> summary = import_dataset("lips.lmdb", "lips", format="matsciml",
...                          key_map={"energy": "energy", "forces": "force"})  # doctest: +SKIP
>>> print(summary)                                                              # doctest: +SKIP

Legacy pickles are read through a restricted unpickler (:mod:`.legacy_pickle`): a value naming
any global outside tensors, arrays and PyG ``Data``, or building arrays through pickle opcodes,
stops the import with :class:`~matforge.data.errors.UnsafePickleError` and nothing is written.
Records that are merely unusable (missing key, wrong type, corrupt or oversized value, invalid
structure) are rejected and listed in the :class:`ImportSummary` with file, key, field and
reason; ``max_rejects`` stops an import whose records systematically do not fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from matforge.data.errors import DatasetError
from matforge.data.importers.base import ImportSummary, RejectedRecord, SourceItem
from matforge.data.importers.fields import merge_key_map, parse_key_map
from matforge.structure import DEFAULT_MIN_DISTANCE

FORMATS: tuple[str, ...] = ("oc20", "matsciml", "ase", "qm9")

__all__ = ["FORMATS", "ImportSummary", "RejectedRecord", "SourceItem", "import_dataset"]


def import_dataset(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    format: str,
    key_map: Sequence[str] | Mapping[str, str] | None = None,
    ase_format: str | None = None,
    num_shards: int = 1,
    overwrite: bool = False,
    float32: bool = True,
    progress: bool = True,
    min_distance: float | None = DEFAULT_MIN_DISTANCE,
    provenance: dict[str, Any] | None = None,
    limit: int | None = None,
    max_rejects: int | None = None,
    max_record_bytes: int | None = None,
) -> ImportSummary:
    """Convert ``source`` into a matforge dataset at ``dest``.

    Args:
        format: ``"oc20"`` (pickled PyG Data), ``"matsciml"`` (pickled dicts) or ``"ase"``.
        key_map: ``{matforge name: source key}`` or ``["energy=y", ...]``; entries override
            the format's defaults and must be present in every record (else it is rejected).
        ase_format: the ``format`` passed to ``ase.io.read`` (default: guessed from the name).
        num_shards, overwrite, float32, progress, min_distance: as for
            :func:`~matforge.data.write_dataset`.
        provenance: extra provenance entries (e.g. ``citation``).
        limit: import only the first ``limit`` records (``qm9`` only).
        max_rejects: stop (writing nothing) once more records than this are rejected;
            ``None``: no limit (the summary counts them).
        max_record_bytes: decoded-size budget of one legacy record (default
            :data:`~matforge.data.importers.legacy_pickle.DEFAULT_MAX_RECORD_BYTES`, 64 MiB).

    Raises:
        UnsafePickleError: a legacy record is hostile (nothing is written).
        TooManyRejectsError: more than ``max_rejects`` records were rejected.
    """
    if limit is not None and format != "qm9":
        raise DatasetError("limit is supported for --format qm9 only")
    user_map = parse_key_map(key_map)
    skipped: list[str] = []
    if format == "oc20":
        from matforge.data.importers.oc20 import DEFAULT_KEY_MAP, read_oc20

        full_map, required = merge_key_map(DEFAULT_KEY_MAP, user_map)
        lmdb_source, items = read_oc20(source, full_map, required, max_record_bytes=max_record_bytes)
        total, skipped = len(lmdb_source), lmdb_source.skipped_keys
        recorded: dict[str, Any] = dict(full_map)
    elif format == "matsciml":
        from matforge.data.importers.matsciml import DEFAULT_KEY_MAP, read_matsciml

        full_map, required = merge_key_map(DEFAULT_KEY_MAP, user_map)
        lmdb_source, items = read_matsciml(source, full_map, required, max_record_bytes=max_record_bytes)
        total, skipped = len(lmdb_source), lmdb_source.skipped_keys
        recorded = dict(full_map)
    elif format == "ase":
        from matforge.data.importers.ase_files import read_ase

        total, items = read_ase(source, user_map, ase_format)
        recorded = dict(user_map)
    elif format == "qm9":
        from matforge.data.importers.qm9 import (
            QM9_CITATION,
            QM9_TARGETS,
            qm9_source_label,
            read_qm9,
        )

        if user_map:
            raise DatasetError("--format qm9 takes no --map: its targets are fixed (see matforge.data.importers.qm9)")
        total, items = read_qm9(source, limit)
        recorded = {name: column for name, (column, _) in QM9_TARGETS.items()}
        provenance = {"source": qm9_source_label(source), "citation": QM9_CITATION, **(provenance or {})}
    else:
        raise DatasetError(f"unknown import format {format!r}; choose one of {', '.join(FORMATS)}")
    from matforge.data.importers.base import write_items

    return write_items(
        items, total, dest, source=source, format=format, key_map=recorded, skipped_keys=skipped,
        provenance=provenance, num_shards=num_shards, overwrite=overwrite, float32=float32,
        progress=progress, min_distance=min_distance, max_rejects=max_rejects,
    )  # fmt: skip
