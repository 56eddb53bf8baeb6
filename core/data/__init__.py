"""Atomistic data: the matforge LMDB format, datasets, statistics, importers, the DataModule.

>>> from matforge.data import write_dataset, open_dataset     # doctest: +SKIP
>>> write_dataset("my-set", structures, num_shards=4)          # doctest: +SKIP
>>> ds = open_dataset("devset:lips/train"); ds[0], ds.statistics   # doctest: +SKIP

Names are imported on first use, so ``import matforge.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "write_dataset": "matforge.data.writer",
    "WriteSummary": "matforge.data.writer",
    "Rejection": "matforge.data.writer",
    "open_dataset": "matforge.data.dataset",
    "AtomicDataset": "matforge.data.dataset",
    "DatasetStatistics": "matforge.data.statistics",
    "TargetStatistics": "matforge.data.statistics",
    "LinearReference": "matforge.data.statistics",
    "AtomicDataModule": "matforge.data.datamodule",
    "split_dataset": "matforge.data.split",
    "DatasetError": "matforge.data.errors",
    "DatasetFormatError": "matforge.data.errors",
    "MissingShardError": "matforge.data.errors",
    "CorruptRecordError": "matforge.data.errors",
    "UnsafePickleError": "matforge.data.errors",
    "UnknownDevsetError": "matforge.data.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'matforge.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
