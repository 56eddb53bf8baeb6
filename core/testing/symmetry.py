"""Sampling the Euclidean group for the symmetry check: e3nn's ``assert_equivariant`` when
e3nn is installed, else the kit's own sampling with the same trials and tolerance.

Both apply a random rotation R (and, with ``parity``, the reflection −R) and a random
translation t to positions (x → x Rᵀ + t) and cell rows (c → c Rᵀ), and require the energy
unchanged and the forces rotated (F → F Rᵀ).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: energy_and_forces(positions [N, 3], cells [G, 3, 3]) -> [energies [G, 1], forces [N, 3]]
EnergyAndForces = Callable[[Tensor, Tensor], list[Tensor]]


def random_rotation(generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """[3, 3] rotation matrix (det +1), uniform on SO(3): Q of the QR decomposition of a
    Gaussian matrix, its columns' signs fixed by R's diagonal (Mezzadri 2007)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _own_assert_equivariant(
    fn: EnergyAndForces, positions: Tensor, cells: Tensor, *, parity: bool, atol: float, ntrials: int, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    energy, forces = fn(positions, cells)
    for trial in range(ntrials):
        rotation = random_rotation(generator, positions.dtype)
        translation = torch.randn(3, generator=generator, dtype=positions.dtype)
        for parity_k in (0, 1) if parity else (0,):
            q = -rotation if parity_k else rotation
            moved_energy, moved_forces = fn(positions @ q.T + translation, cells @ q.T)
            errors = [
                float((moved_energy - energy).abs().max()) if energy.numel() else 0.0,
                float((moved_forces - forces @ q.T).abs().max()) if forces.numel() else 0.0,
            ]
            if max(errors) > atol:
                raise AssertionError(
                    f"largest errors (outputs 0, 1) {errors[0]:.3e}, {errors[1]:.3e} > tolerance {atol:.1e} "
                    f"in trial {trial} (parity_k={parity_k}, kit's own sampling; e3nn not installed)"
                )


def assert_euclidean_equivariance(
    fn: EnergyAndForces, positions: Tensor, cells: Tensor, *, parity: bool, atol: float, ntrials: int = 2, seed: int = 0
) -> str:
    """Raise ``AssertionError`` unless energies are invariant and forces equivariant under
    random rotations (reflections too with ``parity``) and translations. Returns which
    sampler ran: ``"e3nn"`` or ``"own"``."""
    try:
        from e3nn.util.test import assert_equivariant
    except ImportError:
        _own_assert_equivariant(fn, positions, cells, parity=parity, atol=atol, ntrials=ntrials, seed=seed)
        return "own"
    assert_equivariant(
        fn,
        args_in=[positions, cells],
        irreps_in=["cartesian_points", "1o"],
        irreps_out=["0e", "1o"],
        tolerance=atol,
        do_parity=parity,
        ntrials=ntrials,
    )
    return "e3nn"
