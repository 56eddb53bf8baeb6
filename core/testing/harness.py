"""A registered backbone, built from its registry name and arguments and evaluated on
structures: per-atom outputs, energies and forces, the quantities every check compares."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from matforge.batch import AtomsBatch
from matforge.interfaces import Backbone, Representation, build_representation
from matforge.structure import AtomicStructure


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, leaving the caller's RNG state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run a block with one intra-op thread: the checks' structures are tiny, and OpenMP
    start-up costs more than it saves on them (much more on a busy machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Run a block with ``torch.get_default_dtype() == dtype`` (e3nn builds its rotation
    matrices in the default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def seeded_backbone(
    name: str, args: Mapping[str, Any] | None = None, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> Backbone:
    """A fresh backbone for the checks: ``registry.get("backbone", name)(**args)`` with torch's
    RNG seeded for the initialisation, cast to ``dtype``, in eval mode (no dropout).

    Unlike :func:`matforge.models.build_backbone` (what tasks use), it records no spec on the
    instance and controls the seed and dtype, so two calls give the same weights.
    """
    from matforge.interfaces import check_backbone_args
    from matforge.registry import registry

    factory = registry.get("backbone", name)
    check_backbone_args(name, factory, dict(args or {}))
    with seeded(seed):
        backbone = factory(**copy.deepcopy(dict(args or {})))
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"model {name!r} built a {type(backbone).__name__}, not a matforge.interfaces.Backbone"
        )
    return backbone.to(dtype).eval()


class BackboneHarness:
    """One backbone and its representation, evaluated on lists of structures.

    Embedding backbones are reduced to a per-atom energy by a fixed random linear readout
    (seeded, so the same in every harness): the physical checks then constrain the
    embeddings through a scalar that depends on all of their components.

    Args:
        name: registry name of the backbone (kind ``backbone``, alias ``model``).
        args: constructor arguments (JSON-like).
        dtype: dtype of the backbone and of the batches (float64 for the tight checks).
        seed: torch seed used for the backbone's initialisation.
        representation_args: overrides for the representation's settings.
    """

    def __init__(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        dtype: torch.dtype = torch.float64,
        seed: int = 0,
        representation_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.args = dict(args or {})
        self.dtype = dtype
        self.representation_args = dict(representation_args or {})
        self.backbone = seeded_backbone(name, self.args, seed=seed, dtype=dtype)
        self.representation: Representation = build_representation(
            self.backbone, **{**self.representation_args, "dtype": dtype}
        )
        spec = self.backbone.output
        with seeded(12345):
            weights = torch.randn(spec.width, dtype=dtype) / spec.width**0.5
        self.readout: Tensor | None = weights if spec.kind == "embedding" else None

    def collate(self, structures: Sequence[AtomicStructure]) -> AtomsBatch:
        """The batch the representation makes of ``structures``."""
        return self.representation.collate([self.representation(s) for s in structures])

    def per_atom(self, structures: Sequence[AtomicStructure]) -> Tensor:
        """Backbone outputs [N, width], detached."""
        with torch.no_grad():
            return self.backbone(self.collate(structures)).detach()

    def atom_energies(self, outputs: Tensor) -> Tensor:
        """Per-atom energies [N] from backbone outputs [N, width]."""
        return outputs[:, 0] if self.readout is None else outputs @ self.readout

    def energy_and_forces(self, structures: Sequence[AtomicStructure]) -> tuple[Tensor, Tensor]:
        """Energies [G] (eV) and forces = -dE/dpositions [N, 3] (eV/Å), detached."""
        batch = self.collate(structures)
        positions = batch.positions.requires_grad_(True)
        energies = self.structure_energies(batch)
        (gradient,) = torch.autograd.grad(energies.sum(), positions)
        return energies.detach(), -gradient

    def structure_energies(self, batch: AtomsBatch) -> Tensor:
        """Energies [G] of a batch, differentiable (sum of per-atom energies)."""
        per_atom = self.atom_energies(self.backbone(batch))
        zeros = per_atom.new_zeros(batch.num_graphs)
        return zeros.index_add(0, batch.batch, per_atom)
