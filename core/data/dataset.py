"""`AtomicDataset`: a matforge dataset on disk as a torch ``Dataset`` of `AtomicStructure`.

Opening a dataset checks its metadata against its shards (sizes, counts, field dtypes)
before anything is sized from it; every record read is validated as the writer validates it.
LMDB handles belong to one process: a dataset object built in the main process can be handed
to DataLoader workers or DDP ranks, each of which opens its own environments on first access
(forked workers drop the handles they inherit).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from matforge.data.codec import decode_structure
from matforge.data.errors import CorruptRecordError, DatasetError
from matforge.data.lmdb_format import (
    acquire_shard,
    check_shard,
    encode_key,
    read_metadata,
    release_shard,
)
from matforge.data.metadata_checks import check_record_fields
from matforge.data.statistics import DatasetStatistics
from matforge.structure import AtomicStructure


class AtomicDataset(Dataset):
    """Structures of one matforge dataset directory (format v1), by integer index.

    Args:
        path: the dataset directory (``metadata.json`` + ``shard-*.lmdb``).
        indices: optional subset, as positions in the full dataset (e.g. from
            ``matforge data split --index-files``).

    Attributes:
        path: the directory.
        metadata: the parsed ``metadata.json``.
    """

    def __init__(self, path: str | os.PathLike[str], *, indices: Sequence[int] | np.ndarray | None = None) -> None:
        self.path = Path(path)
        self.metadata: dict[str, Any] = read_metadata(self.path)
        counts = [s["count"] for s in self.metadata["shards"]]
        self._files = [self.path / s["file"] for s in self.metadata["shards"]]
        self._counts = counts
        self._offsets = np.cumsum([0, *counts]).tolist()
        self._total = int(self._offsets[-1])
        self._indices: np.ndarray | None = None
        if indices is not None:
            idx = np.asarray(indices, dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= self._total):
                raise IndexError(
                    f"indices for {str(self.path)!r} must lie in 0..{self._total - 1}, got "
                    f"{int(idx.min())}..{int(idx.max())}"
                )
            self._indices = idx
        self._statistics: DatasetStatistics | None = None
        self._envs: list[Any] | None = None
        self._pid: int | None = None
        for shard in range(len(self._files)):
            self._env(shard)  # counts, sizes and field dtypes checked now, before anyone allocates by them

    # -- what it holds ----------------------------------------------------------------------

    @property
    def statistics(self) -> DatasetStatistics:
        """Statistics of these structures: stored at write time, or computed (one pass, then
        cached) for an ``indices`` subset."""
        if self._statistics is None:
            if self._indices is None:
                self._statistics = DatasetStatistics.from_dict(self.metadata["statistics"])
            else:
                self._statistics = DatasetStatistics.of(iter(self))
        return self._statistics

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        """Stored fields: ``{name: {dtype, shape, unit, count}}``; targets as ``targets.NAME``."""
        return self.metadata["fields"]

    @property
    def target_names(self) -> list[str]:
        return sorted(k.removeprefix("targets.") for k in self.fields if k.startswith("targets."))

    @property
    def provenance(self) -> dict[str, Any]:
        return self.metadata.get("provenance", {})

    def __len__(self) -> int:
        return self._total if self._indices is None else int(self._indices.size)

    def __repr__(self) -> str:
        return f"AtomicDataset({str(self.path)!r}, {len(self)} structures, targets: {', '.join(self.target_names) or 'none'})"

    # -- reading ------------------------------------------------------------------------------

    def __getitem__(self, index: int) -> AtomicStructure:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {str(self.path)!r} with {n} structures")
        if self._indices is not None:
            i = int(self._indices[i])
        shard = bisect.bisect_right(self._offsets, i) - 1
        local = i - self._offsets[shard]
        env = self._env(shard)
        with env.begin() as txn:
            value = txn.get(encode_key(local))
        where = f"{str(self._files[shard])!r} key {local} (dataset index {i})"
        if value is None:
            raise CorruptRecordError(f"{where}: record is missing")
        structure = decode_structure(value, where=where)
        structure.ids["index"] = i  # position in the dataset, for error messages and predictions
        return structure

    def __iter__(self) -> Iterator[AtomicStructure]:
        for i in range(len(self)):
            yield self[i]

    def _env(self, shard: int):
        pid = os.getpid()
        if self._envs is None or self._pid != pid:
            # a forked worker must not reuse its parent's LMDB handles
            self._envs = [None] * len(self._files)
            self._pid = pid
        env = self._envs[shard]
        if env is None:
            env = acquire_shard(self._files[shard])
            try:
                check_shard(env, self._files[shard], shard, self._counts[shard])
                self._check_first_record(env, shard)
            except Exception:
                release_shard(env)
                raise
            self._envs[shard] = env
        return env

    def _check_first_record(self, env: Any, shard: int) -> None:
        if self._counts[shard] == 0:
            return
        import msgpack

        with env.begin() as txn:
            value = txn.get(encode_key(0))
        try:
            record = msgpack.unpackb(value, raw=False) if value is not None else None
        except Exception:
            return  # reading that record reports it, with its key
        check_record_fields(record, self.fields, f"{str(self._files[shard])!r} key 0")

    def close(self) -> None:
        """Close open LMDB environments (they reopen on the next access)."""
        if self._envs is not None and self._pid == os.getpid():
            for env in self._envs:
                if env is not None:
                    release_shard(env)
        self._envs = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_envs"] = None
        state["_pid"] = None
        return state


def open_dataset(path_or_devset: str | os.PathLike[str], *, indices: Sequence[int] | None = None) -> AtomicDataset:
    """Open a dataset directory, an index file written by ``matforge data split``
    (``*.json``), or a shipped devset split as ``devset:NAME/SPLIT``.

    Raises:
        FileNotFoundError, DatasetFormatError, UnknownDevsetError: with the path or name.
    """
    from matforge.devsets.catalog import resolve_dataset_path

    path = resolve_dataset_path(path_or_devset)
    if path.is_file() and path.suffix == ".json":
        from matforge.data.split import read_index_file

        if indices is not None:
            raise DatasetError(f"{str(path)!r} is an index file; do not pass indices as well")
        path, indices = read_index_file(path)
    return AtomicDataset(path, indices=indices)
