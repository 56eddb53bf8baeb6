"""The standard checks every backbone must pass, as plain functions of a :class:`Contract`.

Each check raises :class:`ContractError` (an ``AssertionError``) saying what broke and by
how much, or :class:`CheckSkipped` when it does not apply (periodic checks on a backbone that
declares ``periodic=False``). :func:`check_backbone` runs them all;
:class:`matforge.testing.BackboneContract` turns them into one pytest test each.

Physical checks run in float64 on the structures of
:func:`matforge.testing.structures.contract_structures`; their tolerances are absolute, in
eV for energies and eV/Å for forces.
"""

from __future__ import annotations

import functools
import io
import json
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from matforge.interfaces import OutputSpec
from matforge.structure import AtomicStructure
from matforge.testing.harness import (
    BackboneHarness,
    build_backbone,
    default_dtype,
    seeded,
    single_thread,
)
from matforge.testing.structures import contract_structures


class ContractError(AssertionError):
    """A backbone broke the contract; the message says which check and by how much."""


class CheckSkipped(Exception):
    """The check does not apply to this backbone (the message says why)."""


@dataclass
class Contract:
    """A registered backbone and what the checks may expect of it.

    Args:
        backbone: registry name (kind ``model``).
        args: constructor arguments; must survive a JSON round trip (checkpoints).
        reflections: the energy is invariant under reflections too (O(3)); ``False`` for
            backbones that are only invariant under proper rotations (SO(3)).
        periodic: the backbone handles periodic cells (runs the wrap and basis checks).
        representation_args: overrides for the representation's settings.
        symmetry_atol: energies (eV) and forces (eV/Å) under rotations, reflections,
            translations, permutations, wrapping and basis changes, float64.
        consistency_atol: batched vs one by one, and checkpoint round trip, float64.
        fd_step: central finite-difference step (Å).
        fd_atol: forces vs finite differences (eV/Å).
        seed: seed of the backbone's initialisation and of the generated structures.
    """

    backbone: str
    args: Mapping[str, Any] = field(default_factory=dict)
    reflections: bool = True
    periodic: bool = True
    representation_args: Mapping[str, Any] = field(default_factory=dict)
    symmetry_atol: float = 1e-9
    consistency_atol: float = 1e-10
    fd_step: float = 1e-5
    fd_atol: float = 1e-6
    seed: int = 0

    @functools.cached_property
    def harness(self) -> BackboneHarness:
        """The backbone in float64 (built once per contract)."""
        return self.make_harness(torch.float64)

    def make_harness(self, dtype: torch.dtype, seed: int | None = None) -> BackboneHarness:
        return BackboneHarness(
            self.backbone,
            self.args,
            dtype=dtype,
            seed=self.seed if seed is None else seed,
            representation_args=self.representation_args,
        )

    @functools.cached_property
    def structures(self) -> dict[str, AtomicStructure]:
        """Named test structures (molecules; crystal and slab when ``periodic``)."""
        return contract_structures(seed=self.seed, periodic=self.periodic)

    def periodic_structures(self) -> dict[str, AtomicStructure]:
        if not self.periodic:
            raise CheckSkipped(f"backbone {self.backbone!r} declares periodic=False")
        return {k: s for k, s in self.structures.items() if s.pbc.any()}


# -- helpers ---------------------------------------------------------------------------------


def _assert_close(actual: Tensor, expected: Tensor, atol: float, what: str) -> None:
    if actual.shape != expected.shape:
        raise ContractError(f"{what}: shape {list(actual.shape)} != expected {list(expected.shape)}")
    error = (actual - expected).abs()
    if error.numel() and not bool(error.max() <= atol):
        worst = np.unravel_index(int(error.argmax()), tuple(error.shape))
        raise ContractError(
            f"{what}: max abs difference {float(error.max()):.3e} > {atol:.1e} at index "
            f"{tuple(int(i) for i in worst)} (got {float(actual[worst]):.12g}, expected "
            f"{float(expected[worst]):.12g})"
        )


def _replace(structure: AtomicStructure, **changes: Any) -> AtomicStructure:
    out = structure.copy()
    for name, value in changes.items():
        setattr(out, name, value)
    return out


def _compare_structures(
    contract: Contract,
    reference: Sequence[AtomicStructure],
    transformed: Sequence[AtomicStructure],
    what: str,
    *,
    atom_order: Tensor | None = None,
    per_atom: bool = True,
) -> None:
    """Energies, forces and (when ``per_atom``) per-atom outputs of ``transformed`` equal
    those of ``reference``; ``atom_order[k]`` is the reference atom that transformed atom
    ``k`` came from."""
    h = contract.harness
    e_ref, f_ref = h.energy_and_forces(reference)
    e_new, f_new = h.energy_and_forces(transformed)
    if atom_order is not None:
        f_ref = f_ref[atom_order]
    _assert_close(e_new, e_ref, contract.symmetry_atol, f"{what}: energy (eV)")
    _assert_close(f_new, f_ref, contract.symmetry_atol, f"{what}: forces (eV/Å)")
    if per_atom:
        out_ref, out_new = h.per_atom(reference), h.per_atom(transformed)
        if atom_order is not None:
            out_ref = out_ref[atom_order]
        _assert_close(out_new, out_ref, contract.symmetry_atol, f"{what}: per-atom outputs")


# -- API checks ------------------------------------------------------------------------------


def check_representation_registered(contract: Contract) -> None:
    """The representation the backbone names is registered, builds from the backbone's
    JSON-like settings, and collates into an ``AtomsBatch``."""
    from matforge.batch import AtomsBatch
    from matforge.registry import registry

    backbone = build_backbone(contract.backbone, contract.args, seed=contract.seed)
    name = type(backbone).representation
    if ("representation", name) not in registry:
        raise ContractError(
            f"backbone {contract.backbone!r} consumes representation {name!r}, which is not "
            f"registered (registered: {registry.names('representation')})"
        )
    config = backbone.representation_config()
    try:
        json.dumps(config)
    except TypeError as exc:
        raise ContractError(f"representation_config() is not JSON-like: {config!r} ({exc})") from exc
    batch = contract.harness.collate(list(contract.structures.values()))
    if not isinstance(batch, AtomsBatch):
        raise ContractError(f"representation {name!r} collated a {type(batch).__name__}, not an AtomsBatch")


def check_eager_construction(contract: Contract) -> None:
    """All parameters exist after ``__init__`` (no lazy modules, nothing created in
    ``forward``), every one of them receives a gradient from the energy, and the backbone
    pickles.

    That is what ``DistributedDataParallel`` needs: it registers parameters at wrap time, a
    parameter without a gradient makes it fail unless ``find_unused_parameters=True``, and
    spawned workers receive the model pickled.
    """
    from torch.nn.modules.lazy import LazyModuleMixin
    from torch.nn.parameter import is_lazy

    h = contract.harness
    lazy = [n for n, m in h.backbone.named_modules() if isinstance(m, LazyModuleMixin)]
    lazy += [n for n, t in [*h.backbone.named_parameters(), *h.backbone.named_buffers()] if is_lazy(t)]
    if lazy:
        raise ContractError(f"lazy modules or parameters (breaks DDP and checkpoints): {lazy}")
    if not list(h.backbone.parameters()):
        raise ContractError("the backbone has no parameters")

    before = {k: tuple(v.shape) for k, v in h.backbone.state_dict().items()}
    batch = h.collate(list(contract.structures.values()))
    energy = h.structure_energies(batch).sum()
    after = {k: tuple(v.shape) for k, v in h.backbone.state_dict().items()}
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        raise ContractError(f"forward() created or reshaped parameters/buffers: {changed}")

    named = [(n, p) for n, p in h.backbone.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(energy, [p for _, p in named], allow_unused=True)
    unused = [n for (n, _), g in zip(named, grads) if g is None]
    if unused:
        raise ContractError(
            f"parameters that receive no gradient from the energy (DDP fails on them unless "
            f"find_unused_parameters=True; do not create what forward does not use): {unused}"
        )
    try:
        pickle.dumps(h.backbone)
    except Exception as exc:
        raise ContractError(f"the backbone does not pickle (spawned DDP workers need it): {exc}") from exc


def check_output_shape(contract: Contract) -> None:
    """``forward`` returns [N, width] as the backbone's ``OutputSpec`` declares, finite, in
    the batch's dtype (float32 and float64)."""
    for dtype in (torch.float32, torch.float64):
        h = contract.harness if dtype == torch.float64 else contract.make_harness(dtype)
        spec = h.backbone.output
        if not isinstance(spec, OutputSpec):
            raise ContractError(f"backbone.output is a {type(spec).__name__}, not an OutputSpec")
        structures = list(contract.structures.values())
        out = h.per_atom(structures)
        n = sum(s.num_atoms for s in structures)
        if tuple(out.shape) != (n, spec.width):
            raise ContractError(
                f"forward returned shape {list(out.shape)}; OutputSpec({spec.kind!r}, "
                f"width={spec.width}) on {n} atoms means [{n}, {spec.width}]"
            )
        if out.dtype != dtype:
            raise ContractError(f"forward on a {dtype} batch returned {out.dtype}")
        if not bool(torch.isfinite(out).all()):
            raise ContractError(f"forward returned non-finite values ({dtype})")


def check_batch_consistency(contract: Contract) -> None:
    """Structures batched together give the outputs, energies and forces they give one by
    one, whatever their order in the batch."""
    h = contract.harness
    structures = list(contract.structures.values())
    singles = [h.energy_and_forces([s]) for s in structures]
    outputs = [h.per_atom([s]) for s in structures]
    for order in (range(len(structures)), reversed(range(len(structures)))):
        order = list(order)
        energies, forces = h.energy_and_forces([structures[k] for k in order])
        per_atom = h.per_atom([structures[k] for k in order])
        _assert_close(energies, torch.cat([singles[k][0] for k in order]), contract.consistency_atol, f"batched (order {order}) vs single: energy (eV)")
        _assert_close(forces, torch.cat([singles[k][1] for k in order]), contract.consistency_atol, f"batched (order {order}) vs single: forces (eV/Å)")
        _assert_close(per_atom, torch.cat([outputs[k] for k in order]), contract.consistency_atol, f"batched (order {order}) vs single: per-atom outputs")


def check_checkpoint_roundtrip(contract: Contract) -> None:
    """``state_dict`` saved with ``torch.save``, loaded into a backbone rebuilt from the
    registry name and JSON round-tripped arguments (initialised with another seed), gives the
    same outputs."""
    try:
        args = json.loads(json.dumps(dict(contract.args)))
    except TypeError as exc:
        raise ContractError(f"backbone arguments are not JSON-like, checkpoints cannot rebuild it: {exc}") from exc
    h = contract.harness
    buffer = io.BytesIO()
    torch.save(h.backbone.state_dict(), buffer)
    buffer.seek(0)
    rebuilt = build_backbone(contract.backbone, args, seed=contract.seed + 1)
    try:
        rebuilt.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    except RuntimeError as exc:
        raise ContractError(f"state_dict does not load into a rebuilt backbone: {exc}") from exc
    if rebuilt.representation_config() != h.backbone.representation_config():
        raise ContractError("a rebuilt backbone asks for other representation settings")
    structures = list(contract.structures.values())
    batch = h.collate(structures)
    with torch.no_grad():
        expected, actual = h.backbone(batch), rebuilt.eval()(batch)
    _assert_close(actual, expected, contract.consistency_atol, "rebuilt from checkpoint: per-atom outputs")


# -- physical checks -------------------------------------------------------------------------


def check_euclidean_symmetry(contract: Contract) -> None:
    """Energies invariant and forces equivariant under random rotations, translations and
    (unless ``reflections=False``) reflections, with e3nn's ``assert_equivariant``: positions
    are ``"cartesian_points"``, cell rows and forces ``"1o"``, energies ``"0e"``."""
    try:
        from e3nn.util.test import assert_equivariant
    except ImportError as exc:  # pragma: no cover - e3nn is in matforge[test]
        raise ContractError("the symmetry check needs e3nn: pip install 'matforge[test]'") from exc

    structures = list(contract.structures.values())
    counts = [s.num_atoms for s in structures]
    h = contract.harness

    def energy_and_forces(positions: Tensor, cells: Tensor) -> list[Tensor]:
        moved = [
            _replace(s, positions=p.numpy(), cell=None if s.cell is None else c.numpy())
            for s, p, c in zip(structures, torch.split(positions, counts), cells)
        ]
        energies, forces = h.energy_and_forces(moved)
        return [energies.unsqueeze(-1), forces]

    positions = torch.from_numpy(np.concatenate([s.positions for s in structures]))
    cells = torch.from_numpy(np.stack([np.zeros((3, 3)) if s.cell is None else s.cell for s in structures]))
    with seeded(contract.seed), default_dtype(torch.float64):
        try:
            assert_equivariant(
                energy_and_forces,
                args_in=[positions, cells],
                irreps_in=["cartesian_points", "1o"],
                irreps_out=["0e", "1o"],
                tolerance=contract.symmetry_atol,
                do_parity=contract.reflections,
                ntrials=2,
            )
        except AssertionError as exc:
            group = "O(3)" if contract.reflections else "SO(3)"
            raise ContractError(
                f"energy not invariant / forces not equivariant under {group} and translations "
                f"(outputs: 0 = energy, 1 = forces; parity_k=1 is a reflection): {exc}"
            ) from exc


def check_permutation(contract: Contract) -> None:
    """Renumbering the atoms of a structure permutes per-atom outputs and forces the same
    way and leaves the energy unchanged."""
    rng = np.random.default_rng(contract.seed)
    for name, s in contract.structures.items():
        order = rng.permutation(s.num_atoms)
        if s.num_atoms > 1 and np.all(order == np.arange(s.num_atoms)):
            order = np.roll(order, 1)
        permuted = _replace(
            s,
            positions=s.positions[order],
            atomic_numbers=s.atomic_numbers[order],
            tags=s.tags[order],
            fixed=s.fixed[order],
        )
        _compare_structures(contract, [s], [permuted], f"{name}, atoms permuted {order.tolist()}", atom_order=torch.from_numpy(order))


def check_forces_finite_differences(contract: Contract) -> None:
    """Forces equal minus the central finite difference of the energy along every
    coordinate of every atom (float64)."""
    h, step = contract.harness, contract.fd_step
    for name, s in contract.structures.items():
        displaced = []
        for atom in range(s.num_atoms):
            for axis in range(3):
                for sign in (1.0, -1.0):
                    positions = s.positions.copy()
                    positions[atom, axis] += sign * step
                    displaced.append(_replace(s, positions=positions))
        energies, _ = h.energy_and_forces(displaced)
        plus, minus = energies.view(-1, 2).unbind(-1)
        numerical = -((plus - minus) / (2 * step)).view(s.num_atoms, 3)
        _, forces = h.energy_and_forces([s])
        _assert_close(forces, numerical, contract.fd_atol, f"{name}: autograd forces vs central differences (eV/Å)")


def _lattice_translations(s: AtomicStructure, rng: np.random.Generator) -> np.ndarray:
    """[N, 3] integer multiples (-2..2) of the periodic lattice vectors, one per atom."""
    n = rng.integers(-2, 3, size=(s.num_atoms, 3))
    n[:, ~s.pbc] = 0
    n[0, np.flatnonzero(s.pbc)[0]] = 1  # at least one atom really moves
    return n


def check_periodic_wrap(contract: Contract) -> None:
    """Moving atoms by lattice vectors (into other images, or wrapped back into the cell)
    changes nothing: the structure is the same."""
    rng = np.random.default_rng(contract.seed)
    for name, s in contract.periodic_structures().items():
        moved = _replace(s, positions=s.positions + _lattice_translations(s, rng) @ s.cell)
        _compare_structures(contract, [s], [moved], f"{name}: atoms moved by lattice vectors")
        frac = s.positions @ np.linalg.inv(s.cell)
        frac[:, s.pbc] -= np.floor(frac[:, s.pbc] + 0.5)  # wrapped to [-0.5, 0.5): across the cell
        wrapped = _replace(s, positions=frac @ s.cell)
        _compare_structures(contract, [s], [wrapped], f"{name}: atoms wrapped across the cell")


def check_periodic_basis(contract: Contract) -> None:
    """Describing the lattice by an equivalent basis (a' = a + b, and c' = c - a when c is
    periodic) changes nothing."""
    for name, s in contract.periodic_structures().items():
        basis = np.eye(3, dtype=np.int64)
        periodic = np.flatnonzero(s.pbc)
        if len(periodic) < 2:
            continue  # one lattice vector has no other equivalent basis
        basis[periodic[0], periodic[1]] = 1
        if len(periodic) == 3:
            basis[periodic[2], periodic[0]] = -1
        assert round(abs(np.linalg.det(basis))) == 1
        equivalent = _replace(s, cell=basis @ s.cell)
        _compare_structures(contract, [s], [equivalent], f"{name}: cell rows {basis.tolist()} @ cell")


# -- running ---------------------------------------------------------------------------------

#: Every check, by name, in the order :func:`check_backbone` runs them.
CHECKS: dict[str, Callable[[Contract], None]] = {
    "representation_registered": check_representation_registered,
    "eager_construction": check_eager_construction,
    "output_shape": check_output_shape,
    "batch_consistency": check_batch_consistency,
    "checkpoint_roundtrip": check_checkpoint_roundtrip,
    "euclidean_symmetry": check_euclidean_symmetry,
    "permutation": check_permutation,
    "forces_finite_differences": check_forces_finite_differences,
    "periodic_wrap": check_periodic_wrap,
    "periodic_basis": check_periodic_basis,
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "passed", "failed" or "skipped"
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ContractReport:
    """What :func:`check_backbone` found; ``ok`` is True when nothing failed."""

    backbone: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def __str__(self) -> str:
        lines = [f"contract of backbone {self.backbone!r}:"]
        for r in self.results:
            lines.append(f"  {r.status:7s} {r.name} ({r.seconds:.2f} s){': ' + r.message if r.message else ''}")
        return "\n".join(lines)


def run_check(contract: Contract, name: str) -> None:
    """Run the check ``name`` (a key of :data:`CHECKS`); raises as the check does."""
    if name not in CHECKS:
        raise KeyError(f"unknown check {name!r}; checks: {list(CHECKS)}")
    with single_thread():
        CHECKS[name](contract)


def check_backbone(
    backbone: str,
    args: Mapping[str, Any] | None = None,
    *,
    checks: Sequence[str] | None = None,
    raise_on_failure: bool = True,
    **settings: Any,
) -> ContractReport:
    """Run the contract's checks on a registered backbone.

    >>> from matforge.testing import check_backbone
    >>> print(check_backbone("egnn", {"hidden": 16}))   # doctest: +SKIP

    Args:
        backbone: registry name (kind ``model``).
        args: constructor arguments.
        checks: names of the checks to run (default: all of :data:`CHECKS`).
        raise_on_failure: raise :class:`ContractError` listing every failed check.
        **settings: further fields of :class:`Contract` (``reflections``, ``periodic``,
            tolerances, ``representation_args``, ``seed``).
    """
    contract = Contract(backbone, dict(args or {}), **settings)
    results = []
    for name in checks or list(CHECKS):
        start = time.perf_counter()
        try:
            run_check(contract, name)
            status, message = "passed", ""
        except CheckSkipped as exc:
            status, message = "skipped", str(exc)
        except Exception as exc:  # report every failure, not only the first
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        results.append(CheckResult(name, status, message, time.perf_counter() - start))
    report = ContractReport(backbone, tuple(results))
    if raise_on_failure and not report.ok:
        raise ContractError(str(report))
    return report

