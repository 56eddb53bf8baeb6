"""benchmarks/timing.py: candidates take turns, and the first of a round changes every round."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_interleaved_timing_takes_turns_and_rotates_who_goes_first():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from timing import interleaved
    finally:
        sys.path.remove(str(BENCHMARKS))
    calls: list[str] = []
    results = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=4, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then rotated rounds
    assert list(results) == ["a", "b"] and all(r.rounds == 4 and r.cpu >= 0 and r.wall >= 0 for r in results.values())
