"""Split a dataset into named parts, at random or by a field, reproducibly (seeded).

Parts are written as new datasets (``DEST/<name>/``, a directory of splits that
:class:`~matforge.data.AtomicDataModule` reads as ``path=DEST``) or as index files
(``DEST/<name>.json``: ``{"format": "matforge-index", "dataset": ..., "indices": [...]}``),
which :func:`~matforge.data.open_dataset` opens like a dataset.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from matforge.data.dataset import AtomicDataset, open_dataset
from matforge.data.errors import DatasetError, DatasetFormatError, DestinationExistsError
from matforge.data.lmdb_format import METADATA_FILE

INDEX_FORMAT = "matforge-index"


#: The part that takes what the counted parts leave (``train=110000 val=10000 test=rest``).
REST = None


def split_sizes(total: int, fractions: Mapping[str, float | None]) -> dict[str, int]:
    """Sizes summing to ``total`` in proportion to ``fractions`` (largest remainders).

    Fractions are normalised, so ``{"train": 8, "val": 1, "test": 1}`` works too. When one
    part is :data:`REST` (``None``), the others are counts of structures and that part takes
    the remainder: ``{"train": 110000, "val": 10000, "test": None}``.
    """
    if not fractions:
        raise DatasetError("give at least one part, e.g. train=0.8 val=0.1 test=0.1")
    rest = [k for k, f in fractions.items() if f is REST]
    if rest:
        return _counted_sizes(total, fractions, rest)
    if any(f < 0 or not math.isfinite(f) for f in fractions.values()):
        raise DatasetError(f"fractions must be finite and >= 0, got {dict(fractions)}")
    weight = sum(fractions.values())
    if weight <= 0:
        raise DatasetError("fractions must not all be 0")
    exact = {k: total * f / weight for k, f in fractions.items()}
    sizes = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(sizes.values())
    for k in sorted(exact, key=lambda k: (sizes[k] - exact[k], list(exact).index(k)))[:left]:
        sizes[k] += 1
    return sizes


def _counted_sizes(total: int, counts: Mapping[str, float | None], rest: list[str]) -> dict[str, int]:
    if len(rest) > 1:
        raise DatasetError(f"only one part can take the rest, got {', '.join(rest)}")
    sizes: dict[str, int] = {}
    for name, count in counts.items():
        if count is REST:
            continue
        if count < 0 or not math.isfinite(count) or count != int(count):
            raise DatasetError(f"with a 'rest' part the others are counts; {name}={count} is not a whole number >= 0")
        sizes[name] = int(count)
    left = total - sum(sizes.values())
    if left < 0:
        raise DatasetError(f"the counted parts ask for {sum(sizes.values())} structures; the dataset has {total}")
    return {name: sizes.get(name, left) for name in counts}


def field_value(structure: Any, field: str) -> Any:
    """``sid``, ``fid``, an id name or a scalar target of ``structure``, as a hashable value."""
    if field in ("sid", "fid"):
        value = getattr(structure, field)
    elif field in structure.ids:
        value = structure.ids[field]
    elif field in structure.targets and np.asarray(structure.targets[field]).size == 1:
        value = np.asarray(structure.targets[field]).item()
    else:
        raise DatasetError(
            f"structure {structure.ids.get('index')} has no field {field!r} (sid, fid, ids "
            f"{sorted(structure.ids)}, scalar targets {sorted(structure.targets)})"
        )
    if value is None:
        raise DatasetError(f"structure {structure.ids.get('index')} has {field} = None; cannot group by it")
    return value


def split_indices(
    dataset: AtomicDataset, fractions: Mapping[str, float], *, seed: int = 0, by: str | None = None
) -> dict[str, np.ndarray]:
    """Indices of each part. ``by``: keep structures sharing that field's value together (e.g.
    all frames of one trajectory, ``by="sid"``); sizes then follow whole groups."""
    rng = np.random.default_rng(seed)
    n = len(dataset)
    if by is None:
        order = rng.permutation(n)
        sizes = split_sizes(n, fractions)
        parts, start = {}, 0
        for name, size in sizes.items():
            parts[name] = np.sort(order[start:start + size])
            start += size
        return parts
    groups: dict[Any, list[int]] = {}
    for i in range(n):
        groups.setdefault(field_value(dataset[i], by), []).append(i)
    keys = list(groups)
    order = rng.permutation(len(keys))
    targets = split_sizes(n, fractions)
    names = list(targets)
    parts_lists: dict[str, list[int]] = {name: [] for name in names}
    part = 0
    for k in order:
        # move on once this part has its share (the last part takes what is left)
        while part < len(names) - 1 and len(parts_lists[names[part]]) >= targets[names[part]]:
            part += 1
        parts_lists[names[part]].extend(groups[keys[k]])
    return {name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in parts_lists.items()}


def split_dataset(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    fractions: Mapping[str, float],
    *,
    seed: int = 0,
    by: str | None = None,
    index_files: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Split ``source`` into ``DEST/<name>/`` datasets (or ``DEST/<name>.json`` index files).

    Every part is checked before anything is written (none may be empty; existing parts need
    ``overwrite``), all parts are written into a temporary directory beside them, and they are
    moved into ``DEST`` only once all are complete: an error or interruption leaves ``DEST``
    as it was. ``provenance`` entries override those copied from the source and the split
    settings.

    Returns:
        part name → the path written.

    Raises:
        DatasetError: a part would be empty.
        DestinationExistsError: a part exists and ``overwrite`` is false.
    """
    from matforge.data.writer import clean_stale_temporaries, write_dataset

    dataset = open_dataset(source)
    parts = split_indices(dataset, fractions, seed=seed, by=by)
    empty = [name for name, indices in parts.items() if indices.size == 0]
    if empty:
        sizes = ", ".join(f"{name}={indices.size}" for name, indices in parts.items())
        raise DatasetError(
            f"part {empty[0]!r} would be empty: {len(dataset)} structures split as {sizes}; use fewer "
            "parts or larger fractions (nothing was written)"
        )
    dest = Path(dest)
    targets = {name: dest / (f"{name}.json" if index_files else name) for name in parts}
    for target in targets.values():
        if target.exists() and not overwrite:
            raise DestinationExistsError(
                f"{str(target)!r} already exists; pass overwrite=True to replace it (nothing was written)",
                path=str(target), replaceable=True,
            )  # fmt: skip
        if target.exists() and not index_files and not (target / METADATA_FILE).is_file():
            raise DestinationExistsError(
                f"{str(target)!r} exists and is not a matforge dataset; refusing to overwrite it",
                path=str(target), replaceable=False,
            )  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(dest / "split")  # .split.tmp-<pid>-* of a killed split
    staging = dest / f".split.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    how = {"split_of": str(Path(dataset.path).resolve()), "seed": seed, "by": by, "fractions": dict(fractions)}
    try:
        for name, indices in parts.items():
            staged = staging / targets[name].name
            if index_files:
                record = {"format": INDEX_FORMAT, "dataset": str(Path(dataset.path).resolve()), **how, "indices": indices.tolist()}
                staged.write_text(json.dumps(record) + "\n", encoding="utf-8")
            else:
                write_dataset(
                    staged, AtomicDataset(dataset.path, indices=indices),
                    float32=bool(dataset.metadata.get("float32", True)), min_distance=None, progress=progress,
                    provenance={**dataset.provenance, **how, "part": name, **(provenance or {})},
                )  # fmt: skip
        for target in targets.values():
            if target.exists():
                old = staging / f"{target.name}.old"
                os.rename(target, old)
            os.rename(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return targets


def read_index_file(path: str | os.PathLike[str]) -> tuple[Path, np.ndarray]:
    """The dataset and indices an index file names."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFormatError(f"{str(path)!r} is not a matforge index file: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != INDEX_FORMAT:
        raise DatasetFormatError(f"{str(path)!r} is not a matforge index file (format {INDEX_FORMAT!r})")
    dataset = Path(record["dataset"])
    if not dataset.is_absolute():
        dataset = path.parent / dataset
    return dataset, np.asarray(record["indices"], dtype=np.int64)
