"""Small structures generated in the tests (no binary fixtures)."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.structure import AtomicStructure


def make_structure(seed: int, *, n: int | None = None, energy: bool = True, forces: bool = True,
                   periodic: bool = True) -> AtomicStructure:
    """A random, valid structure: atoms on a jittered grid (no overlaps), Cu/O/H/C."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9)) if n is None else n
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    positions = grid * 2.0 + rng.uniform(-0.2, 0.2, (n, 3))
    z = rng.choice([1, 6, 8, 29], n)
    targets = {}
    if energy:
        targets["energy"] = np.array(float(sum({1: -1.0, 6: -5.0, 8: -4.0, 29: -3.5}[int(a)] for a in z)) + rng.normal(0, 0.1))
    if forces:
        targets["forces"] = rng.normal(size=(n, 3))
    return AtomicStructure(
        positions=positions,
        atomic_numbers=z,
        cell=np.eye(3) * 6.0 if periodic else None,
        pbc=[periodic] * 3,
        tags=rng.integers(0, 3, n),
        fixed=rng.random(n) < 0.3,
        targets=targets,
        sid=seed,
        fid=seed % 4,
        ids={"source": f"test-{seed}"},
    )


@pytest.fixture
def structures() -> list[AtomicStructure]:
    return [make_structure(k) for k in range(24)]
