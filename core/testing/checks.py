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

import copy
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
    default_dtype,
    seeded,
    seeded_backbone,
    single_thread,
)
from matforge.testing.placement import DefaultDeviceFor, model_packages
from matforge.testing.structures import DEFAULT_SPECIES, contract_structures
from matforge.testing.symmetry import assert_euclidean_equivariance


class ContractError(AssertionError):
    """A backbone broke the contract; the message says which check and by how much."""


class CheckSkipped(Exception):
    """The check does not apply to this backbone (the message says why)."""


@dataclass
class Contract:
    """A registered backbone and what the checks may expect of it.

    Args:
        backbone: registry name (kind ``backbone``, alias ``model``).
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
        smooth: energies and forces are continuous as a neighbour crosses the cutoff;
            ``False`` for hard-cutoff backbones (skips the continuity check and the
            enlarged-cutoff comparison of the representation-cutoff check).
        cutoff_step: distance (Å) on either side of the cutoff at which the continuity check
            compares energies and forces.
        cutoff_atol: largest jump of the energy (eV) and forces (eV/Å) across the cutoff.
        local: an atom's energy depends only on atoms within the backbone's receptive field;
            ``False`` for backbones with global terms (a global state, long-range
            electrostatics, per-structure normalisation): skips the locality check.
        locality_distance: an atom this far (Å) from a molecule is beyond any backbone's
            receptive field (the locality check).
        float32_rtol: float32 energies and forces vs float64, relative to the largest
            float64 magnitude (plus 1).
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
    smooth: bool = True
    cutoff_step: float = 1e-7
    cutoff_atol: float = 1e-5
    local: bool = True
    locality_distance: float = 100.0
    float32_rtol: float = 1e-4

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

    backbone = seeded_backbone(contract.backbone, contract.args, seed=contract.seed)
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
    rebuilt = seeded_backbone(contract.backbone, args, seed=contract.seed + 1)
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
    (unless ``reflections=False``) reflections: e3nn's ``assert_equivariant`` when e3nn is
    installed (positions ``"cartesian_points"``, cell rows and forces ``"1o"``, energies
    ``"0e"``), else the kit's own sampling (:mod:`matforge.testing.symmetry`), same trials
    and tolerance."""
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
            assert_euclidean_equivariance(
                energy_and_forces, positions, cells, parity=contract.reflections, atol=contract.symmetry_atol, ntrials=2, seed=contract.seed
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


# -- training, smoothness, locality, devices -------------------------------------------------


def check_double_backward(contract: Contract) -> None:
    """A force loss is differentiable w.r.t. the parameters (the forces' graph is kept, as
    S2EF training does), and its gradient matches a central finite difference along a random
    direction in parameter space (float64)."""
    h = contract.harness
    structures = list(contract.structures.values())
    with seeded(contract.seed + 7):
        weights = torch.randn(sum(s.num_atoms for s in structures), 3, dtype=torch.float64)

    def force_loss(backbone, create_graph: bool) -> Tensor:
        batch = h.collate(structures)
        positions = batch.positions.requires_grad_(True)
        energy = _structure_energies(h, backbone, batch).sum()
        (gradient,) = torch.autograd.grad(energy, positions, create_graph=create_graph)
        return (gradient * weights).sum()

    named = [(n, p) for n, p in h.backbone.named_parameters() if p.requires_grad]
    try:
        loss = force_loss(h.backbone, create_graph=True)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    except RuntimeError as exc:
        raise ContractError(
            f"a force loss cannot be differentiated w.r.t. the parameters (double backward), so "
            f"S2EF training fails: {exc}"
        ) from exc
    grads = [torch.zeros_like(p) if g is None else g for (_, p), g in zip(named, grads)]
    if not any(bool(g.abs().max() > 0) for g in grads):
        raise ContractError(
            "a force loss gives no gradient to any parameter (double backward): the forces' graph "
            "does not reach the weights (a detach(), or an autograd Function marked once_differentiable?)"
        )
    with seeded(contract.seed + 8):
        direction = [torch.randn_like(p) for _, p in named]
    # A unit step in all parameters together: small enough not to cross ReLU kinks, where
    # forces jump as functions of the weights.
    norm = torch.sqrt(sum((d**2).sum() for d in direction))
    direction = [d / norm for d in direction]
    step = contract.fd_step
    shifted = []
    for sign in (1.0, -1.0):
        copy_ = copy.deepcopy(h.backbone)
        with torch.no_grad():
            for p, d in zip((p for p in copy_.parameters() if p.requires_grad), direction):
                p.add_(sign * step * d)
        shifted.append(force_loss(copy_, create_graph=False).detach())
    numerical = (shifted[0] - shifted[1]) / (2 * step)
    analytical = sum((g * d).sum() for g, d in zip(grads, direction)).detach()
    tolerance = contract.fd_atol * (1.0 + float(numerical.abs()))
    if not abs(float(analytical - numerical)) <= tolerance:
        raise ContractError(
            f"gradient of a force loss w.r.t. the parameters is wrong: directional derivative "
            f"{float(analytical):.10g} by double backward vs {float(numerical):.10g} by central "
            f"differences (tolerance {tolerance:.1e})"
        )


def _structure_energies(h: BackboneHarness, backbone: torch.nn.Module, batch) -> Tensor:
    """The harness's structure energies with another copy of its backbone."""
    per_atom = h.atom_energies(backbone(batch))
    return per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)


def _model_cutoff(contract: Contract) -> float | None:
    """The cutoff the representation is built with, else the backbone's ``cutoff``
    attribute (backbones on the ``atoms`` representation), else ``None``."""
    h = contract.harness
    config = {**h.backbone.representation_config(), **contract.representation_args}
    if "cutoff" in config:
        return float(config["cutoff"])
    cutoff = getattr(h.backbone, "cutoff", None)
    return float(cutoff) if isinstance(cutoff, (int, float)) else None


def check_cutoff_continuity(contract: Contract) -> None:
    """Energy and forces change continuously as a neighbour crosses the cutoff: a third atom
    moved from ``cutoff_step`` inside to ``cutoff_step`` outside the cutoff of one atom of a
    dimer (and beyond the other's) changes the energy by at most ``cutoff_atol``, and forces
    too (float64). A hard cutoff, or a model whose envelope reaches beyond its
    representation's cutoff, jumps."""
    if not contract.smooth:
        raise CheckSkipped(f"backbone {contract.backbone!r} declares smooth=False (a hard cutoff)")
    cutoff = _model_cutoff(contract)
    if cutoff is None:
        raise CheckSkipped("the backbone declares no cutoff (no 'cutoff' in representation_config(), no .cutoff)")
    rng = np.random.default_rng(contract.seed)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    species = rng.choice(np.asarray(DEFAULT_SPECIES), size=3)
    energies, forces = [], []
    for distance in (cutoff - contract.cutoff_step, cutoff + contract.cutoff_step):
        # Atom 1 is 1.3 Å from atom 0 on the far side: only the pair (0, 2) crosses the cutoff.
        positions = np.stack([np.zeros(3), -1.3 * direction, distance * direction])
        s = AtomicStructure(positions=positions, atomic_numbers=species, sid="cutoff-crossing").validate()
        e, f = contract.harness.energy_and_forces([s])
        energies.append(e)
        forces.append(f)
    _assert_close(energies[1], energies[0], contract.cutoff_atol, f"energy (eV) as atom 2 crosses the {cutoff} Å cutoff of atom 0")
    _assert_close(forces[1], forces[0], contract.cutoff_atol, f"forces (eV/Å) as atom 2 crosses the {cutoff} Å cutoff of atom 0")


def check_representation_cutoff(contract: Contract) -> None:
    """The representation reaches as far as the model: its ``cutoff`` is at least the
    backbone's ``cutoff`` attribute (when it has one), and (for ``smooth`` backbones) building
    the representation with a 1 Å larger cutoff changes no energy or force: nothing the model
    would see beyond the representation's cutoff is missing."""
    h = contract.harness
    config = {**h.backbone.representation_config(), **contract.representation_args}
    if "cutoff" not in config:
        raise CheckSkipped(f"representation {type(h.backbone).representation!r} takes no cutoff")
    cutoff = float(config["cutoff"])
    declared = getattr(h.backbone, "cutoff", None)
    if isinstance(declared, (int, float)) and cutoff < float(declared):
        raise ContractError(
            f"the representation is built with cutoff {cutoff} Å, shorter than the backbone's cutoff "
            f"{float(declared)} Å: neighbours between them are never seen"
        )
    if not contract.smooth:
        return
    wider = BackboneHarness(
        contract.backbone, contract.args, dtype=torch.float64, seed=contract.seed,
        representation_args={**contract.representation_args, "cutoff": cutoff + 1.0},
    )
    structures = list(contract.structures.values())
    e_ref, f_ref = h.energy_and_forces(structures)
    e_wide, f_wide = wider.energy_and_forces(structures)
    what = f"representation cutoff {cutoff + 1.0} Å instead of {cutoff} Å (the model interacts beyond its representation's cutoff)"
    _assert_close(e_wide, e_ref, contract.symmetry_atol, f"{what}: energy (eV)")
    _assert_close(f_wide, f_ref, contract.symmetry_atol, f"{what}: forces (eV/Å)")


def check_device_placement(contract: Contract) -> None:
    """``forward`` creates its tensors on the batch's device and in its dtype, run on CPU:
    energies and forces of a float32 batch are computed with the model's code creating
    tensors on ``meta`` by default (:class:`~matforge.testing.placement.DefaultDeviceFor`)
    and, during forward, torch's default dtype set to float64, so a tensor made without
    ``device=`` (or ``dtype=``) fails or changes the result, as it would on a GPU."""
    h = contract.make_harness(torch.float32)
    structures = list(contract.structures.values())
    expected_e, expected_f = h.energy_and_forces(structures)
    batch = h.collate(structures)
    try:
        with DefaultDeviceFor(model_packages(h.backbone), "meta"):
            positions = batch.positions.requires_grad_(True)
            # Only forward under the float64 default: some of torch's own backward formulas
            # (det's) build tensors in the default dtype.
            with default_dtype(torch.float64):
                energies = h.structure_energies(batch)
            (gradient,) = torch.autograd.grad(energies.sum(), positions)
    except (RuntimeError, NotImplementedError) as exc:
        raise ContractError(
            f"forward creates a tensor on the default device instead of the batch's "
            f"(pass device=batch.positions.device, or use new_zeros / zeros_like): {exc}"
        ) from exc
    for what, value, expected in (("energies", energies, expected_e), ("forces", -gradient, expected_f)):
        if value.device != expected.device or value.dtype != expected.dtype:
            raise ContractError(
                f"{what} of a float32 CPU batch came out as {value.dtype} on {value.device} with the default "
                "device 'meta' and default dtype float64: forward creates tensors without device= or dtype="
            )
        _assert_close(value.detach(), expected, 0.0, f"{what} with torch's defaults changed (device meta, float64)")


def check_locality(contract: Contract) -> None:
    """An atom ``locality_distance`` Å away (beyond any receptive field) changes no per-atom
    output or force of a molecule, and the energy of both is the sum of their energies.
    Skipped for backbones declaring ``local=False``."""
    if not contract.local:
        raise CheckSkipped(f"backbone {contract.backbone!r} declares local=False (global interactions)")
    h = contract.harness
    molecule = contract.structures["molecule"]
    direction = np.ones(3) / np.sqrt(3.0)
    far = molecule.positions.mean(0) + contract.locality_distance * direction
    species = int(DEFAULT_SPECIES[-1])
    joined = _replace(
        molecule,
        positions=np.vstack([molecule.positions, far]),
        atomic_numbers=np.append(molecule.atomic_numbers, species),
        tags=np.append(molecule.tags, 0),
        fixed=np.append(molecule.fixed, False),
    )
    alone = AtomicStructure(positions=far[None], atomic_numbers=[species], sid="far-atom").validate()
    n = molecule.num_atoms
    (e_mol, e_alone), f_parts = h.energy_and_forces([molecule, alone])
    e_joined, f_joined = h.energy_and_forces([joined])
    what = f"molecule with an atom {contract.locality_distance} Å away"
    _assert_close(h.per_atom([joined])[:n], h.per_atom([molecule]), contract.symmetry_atol, f"{what}: per-atom outputs of the molecule")
    _assert_close(f_joined, f_parts, contract.symmetry_atol, f"{what}: forces (eV/Å)")
    _assert_close(e_joined, (e_mol + e_alone).reshape(1), contract.symmetry_atol, f"{what}: energy vs the sum of both (eV)")


def check_isolated_atoms(contract: Contract) -> None:
    """A lone atom of each species (no neighbours at all) has a finite energy and zero
    force, in float32 and float64."""
    structures = [
        AtomicStructure(positions=np.zeros((1, 3)), atomic_numbers=[z], sid=f"isolated-{z}").validate() for z in DEFAULT_SPECIES
    ]
    for dtype in (torch.float64, torch.float32):
        h = contract.harness if dtype == torch.float64 else contract.make_harness(dtype)
        batch = h.collate(structures)
        positions = batch.positions.requires_grad_(True)
        energies = h.structure_energies(batch)
        # With no neighbours the energy may not depend on positions at all: zero force.
        (gradient,) = torch.autograd.grad(energies.sum(), positions, allow_unused=True)
        forces = torch.zeros_like(positions) if gradient is None else -gradient
        energies = energies.detach()
        if not bool(torch.isfinite(energies).all()):
            bad = [z for z, e in zip(DEFAULT_SPECIES, energies.tolist()) if not np.isfinite(e)]
            raise ContractError(f"isolated atoms have non-finite energies ({dtype}) for atomic numbers {bad}")
        _assert_close(forces, torch.zeros_like(forces), contract.symmetry_atol, f"forces on isolated atoms (eV/Å, {dtype})")


def check_float32(contract: Contract) -> None:
    """The backbone in float32 gives the float64 energies and forces to float32 precision
    (``float32_rtol`` of the largest magnitude), in float32."""
    structures = list(contract.structures.values())
    e64, f64 = contract.harness.energy_and_forces(structures)
    h32 = contract.make_harness(torch.float32)
    h32.backbone.load_state_dict(contract.harness.backbone.state_dict())  # identical weights, rounded
    if contract.harness.readout is not None:  # randn draws other numbers in float32
        h32.readout = contract.harness.readout.float()
    e32, f32 = h32.energy_and_forces(structures)
    for what, value in (("energies", e32), ("forces", f32)):
        if value.dtype != torch.float32:
            raise ContractError(f"{what} of a float32 backbone on a float32 batch are {value.dtype}")
    for what, value, expected in (("energies (eV)", e32, e64), ("forces (eV/Å)", f32, f64)):
        tolerance = contract.float32_rtol * (1.0 + float(expected.abs().max()))
        _assert_close(value.double(), expected, tolerance, f"float32 vs float64 {what}")


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
    "double_backward": check_double_backward,
    "cutoff_continuity": check_cutoff_continuity,
    "representation_cutoff": check_representation_cutoff,
    "device_placement": check_device_placement,
    "locality": check_locality,
    "isolated_atoms": check_isolated_atoms,
    "float32": check_float32,
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
        backbone: registry name (kind ``backbone``, alias ``model``).
        args: constructor arguments.
        checks: names of the checks to run (default: all of :data:`CHECKS`).
        raise_on_failure: raise :class:`ContractError` listing every failed check.
        **settings: further fields of :class:`Contract` (``reflections``, ``periodic``, ``smooth``, ``local``,
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

