"""``matforge data verify``: read every record of a dataset and recompute its statistics.

Opening a dataset already checks the metadata, shard sizes and counts, and reading checks
each record; verifying does both for every record, keeps going past bad ones, and compares
the stored statistics with statistics recomputed from what the shards hold.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from matforge.data.errors import CorruptRecordError
from matforge.data.statistics import DatasetStatistics, StatisticsAccumulator

#: Relative tolerance when comparing stored and recomputed statistics: positions and forces
#: are stored as float32 (statistics are computed from the float64 input when writing).
STATISTICS_RTOL = 1e-5
_LISTED = 20


@dataclass
class VerifyReport:
    """What :func:`verify_dataset` found.

    Attributes:
        path: the dataset directory.
        num_records: records read.
        corrupt: one message per record that failed (file, key, field and reason).
        statistics: one message per stored statistic that disagrees with the records.
    """

    path: Path
    num_records: int
    corrupt: list[str] = field(default_factory=list)
    statistics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.statistics

    def __str__(self) -> str:
        good = self.num_records - len(self.corrupt)
        lines = [f"{self.path}: {good} of {self.num_records} records readable and valid"]
        if self.corrupt:
            lines.append(f"{len(self.corrupt)} corrupt record(s):")
            lines += [f"  {m}" for m in self.corrupt[:_LISTED]]
            if len(self.corrupt) > _LISTED:
                lines.append(f"  … and {len(self.corrupt) - _LISTED} more")
        if self.statistics:
            lines.append("stored statistics disagree with the records:")
            lines += [f"  {m}" for m in self.statistics]
        elif not self.corrupt:
            lines.append("statistics match the records")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def verify_dataset(path: str | os.PathLike[str], *, progress: bool = True) -> VerifyReport:
    """Read and check every record of the dataset at ``path`` and its statistics.

    Raises:
        DatasetFormatError, MissingShardError, FileNotFoundError: the dataset cannot be
            opened at all (metadata, shard sizes or counts are wrong).
    """
    from tqdm.auto import tqdm

    from matforge.data.dataset import AtomicDataset

    dataset = AtomicDataset(path)
    report = VerifyReport(path=dataset.path, num_records=len(dataset))
    accumulator = StatisticsAccumulator()
    for i in tqdm(range(len(dataset)), desc=f"verifying {dataset.path.name}", unit=" records",
                  disable=not progress, file=sys.stderr):  # fmt: skip
        try:
            accumulator.add(dataset[i])
        except CorruptRecordError as exc:
            report.corrupt.append(str(exc))
    dataset.close()
    if not report.corrupt:
        report.statistics = compare_statistics(dataset.statistics, accumulator.finalize())
    return report


def compare_statistics(stored: DatasetStatistics, recomputed: DatasetStatistics) -> list[str]:
    """Disagreements between stored and recomputed statistics, in words (empty: they agree)."""
    problems = []
    for name in ("num_structures", "num_atoms", "num_atoms_histogram", "element_counts"):
        if getattr(stored, name) != getattr(recomputed, name):
            problems.append(f"{name}: stored {getattr(stored, name)}, records give {getattr(recomputed, name)}"[:300])
    if set(stored.targets) != set(recomputed.targets):
        problems.append(f"targets: stored {sorted(stored.targets)}, records hold {sorted(recomputed.targets)}")
    for name in sorted(set(stored.targets) & set(recomputed.targets)):
        a, b = stored.targets[name], recomputed.targets[name]
        scale = max(abs(a.rms), abs(b.rms), 1e-12)
        for stat in ("mean", "std", "rms"):
            x, y = getattr(a, stat), getattr(b, stat)
            if not math.isclose(x, y, rel_tol=STATISTICS_RTOL, abs_tol=STATISTICS_RTOL * scale) or a.count != b.count:
                problems.append(f"targets.{name}.{stat}: stored {x:.10g} (count {a.count}), records give {y:.10g} (count {b.count})")
    for name in sorted(set(stored.linear_references) | set(recomputed.linear_references)):
        a, b = stored.linear_references.get(name), recomputed.linear_references.get(name)
        if a is None or b is None or set(a.element_energies) != set(b.element_energies):
            problems.append(f"linear_references.{name}: stored and recomputed fits cover different elements")
            continue
        scale = max(max(abs(c) for c in a.element_energies.values()), 1.0)
        for z, c in sorted(a.element_energies.items()):
            if not math.isclose(c, b.element_energies[z], rel_tol=STATISTICS_RTOL, abs_tol=STATISTICS_RTOL * scale):
                problems.append(f"linear_references.{name}: element {z}: stored {c:.10g} eV, records give {b.element_energies[z]:.10g} eV")
    return problems
