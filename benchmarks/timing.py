"""Interleaved timing for benchmarks on a shared, noisy machine.

Candidates are timed in turns (A B A B …, the order rotated every round) in one process, so
a slow minute of the machine hits every candidate alike, and ratios come from medians of
the same rounds. Each measurement is the wall time and this process's CPU time; with one
thread the CPU time leaves out the time other processes hold the core, so it is the steadier
figure on a shared machine (but it also counts cycles lost to a neighbour in the shared
caches, which is why both are printed).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Medians over the rounds, and the spread: half the interquartile range, all in ms."""

    wall: float
    cpu: float
    wall_spread: float
    cpu_spread: float
    rounds: int

    def __str__(self) -> str:
        return (f"cpu {self.cpu:8.2f} ms ± {self.cpu_spread:6.2f}   "
                f"wall {self.wall:8.2f} ms ± {self.wall_spread:6.2f}")  # fmt: skip


def _half_iqr(values: list[float]) -> float:
    if len(values) < 4:
        return (max(values) - min(values)) / 2
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / 2


def interleaved(
    candidates: Mapping[str, Callable[[], object]],
    rounds: int = 20,
    warmup: int = 2,
    inner: int = 1,
) -> dict[str, Timing]:
    """Time each candidate ``rounds`` times in turns; ``inner`` calls per measurement (for
    calls well under a millisecond). Returns label → :class:`Timing`, in the given order."""
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for k in range(rounds):
        shift = k % len(names)  # who goes first changes every round
        for name in names[shift:] + names[:shift]:
            fn = candidates[name]
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fn()
            wall[name].append((time.perf_counter() - start_wall) * 1e3 / inner)
            cpu[name].append((time.process_time() - start_cpu) * 1e3 / inner)
    return {
        name: Timing(
            statistics.median(wall[name]),
            statistics.median(cpu[name]),
            _half_iqr(wall[name]),
            _half_iqr(cpu[name]),
            rounds,
        )
        for name in names
    }


def print_table(title: str, results: Mapping[str, Timing], width: int = 26) -> None:
    """The timings, then each later candidate's CPU and wall ratio to the first."""
    print(title)
    for name, timing in results.items():
        print(f"  {name:{width}s} {timing}")
    (first, ours), *others = results.items()
    for name, other in others:
        print(f"  ratio {name} / {first}: {other.cpu / ours.cpu:.2f}x cpu, "
              f"{other.wall / ours.wall:.2f}x wall (interleaved, same run)")  # fmt: skip
