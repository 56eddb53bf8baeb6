"""The contract kit itself: a correct periodic backbone passes every check, and backbones
broken in one way each fail the check meant to catch that way (so no check passes
vacuously)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.interfaces import Backbone, OutputSpec
from matforge.neighbors import neighbor_pairs
from matforge.registry import registry
from matforge.testing import (
    CHECKS,
    BackboneContract,
    Contract,
    ContractError,
    check_backbone,
    run_check,
)


class PairPotential(Backbone):
    """A correct reference: smooth pair sum over periodic neighbours within ``cutoff`` Å,
    ``e_i = Σ_j s(Z_i) ⊙ s(Z_j) exp(-k r²) (1 - r/cutoff)²``; ``width > 1`` makes it an
    embedding backbone."""

    representation = "atoms"

    def __init__(self, width: int = 1, cutoff: float = 4.0) -> None:
        super().__init__()
        self.width, self.cutoff = width, cutoff
        self.species = nn.Embedding(119, width)
        self.decay = nn.Parameter(torch.tensor(0.3))

    @property
    def output(self) -> OutputSpec:
        return OutputSpec("energy") if self.width == 1 else OutputSpec("embedding", self.width)

    def pair_vectors(self, batch: AtomsBatch) -> tuple[Tensor, Tensor, Tensor]:
        """Centres i [E], neighbours j [E] and r_ij [E, 3] (periodic images included)."""
        first = torch.cumsum(batch.num_atoms, 0) - batch.num_atoms
        i_all, j_all, shift_all = [], [], []
        for g in range(batch.num_graphs):
            rows = slice(int(first[g]), int(first[g] + batch.num_atoms[g]))
            i, j, shifts, _ = neighbor_pairs(
                batch.positions[rows].detach().numpy(), batch.cell[g].numpy(), batch.pbc[g].numpy(), self.cutoff
            )
            i_all.append(torch.from_numpy(i) + first[g])
            j_all.append(torch.from_numpy(j) + first[g])
            shift_all.append(torch.from_numpy(shifts).to(batch.dtype) @ batch.cell[g])
        i, j = torch.cat(i_all), torch.cat(j_all)
        return i, j, batch.positions[j] - batch.positions[i] + torch.cat(shift_all)

    def pair_weights(self, vectors: Tensor) -> Tensor:
        r2 = (vectors**2).sum(-1)
        return torch.exp(-self.decay * r2) * (1 - r2.sqrt() / self.cutoff) ** 2

    def forward(self, batch: AtomsBatch) -> Tensor:
        i, j, vectors = self.pair_vectors(batch)
        z = batch.atomic_numbers
        contributions = self.species(z[i]) * self.species(z[j]) * self.pair_weights(vectors)[:, None]
        return contributions.new_zeros(batch.num_nodes, self.width).index_add(0, i, contributions)


class Chiral(PairPotential):
    """Invariant under proper rotations only: adds det[u_i, v_i, w_i] of three differently
    weighted neighbour-vector sums, a pseudo-scalar that flips sign under reflections."""

    def __init__(self, cutoff: float = 4.0) -> None:
        super().__init__(1, cutoff)
        self.weights = nn.Embedding(119, 3)

    def forward(self, batch: AtomsBatch) -> Tensor:
        i, j, vectors = self.pair_vectors(batch)
        w = self.weights(batch.atomic_numbers[j]) * self.pair_weights(vectors)[:, None]  # [E, 3]
        sums = vectors.new_zeros(batch.num_nodes, 3, 3).index_add(0, i, w[:, :, None] * vectors[:, None, :])
        return super().forward(batch) + torch.linalg.det(sums)[:, None]


# -- backbones broken in exactly one way -----------------------------------------------------


class UsesAbsolutePositions(PairPotential):
    def forward(self, batch: AtomsBatch) -> Tensor:
        return super().forward(batch) + 0.01 * batch.positions[:, :1]


class IgnoresImages(PairPotential):
    def pair_vectors(self, batch: AtomsBatch) -> tuple[Tensor, Tensor, Tensor]:
        i, j, _ = super().pair_vectors(batch)
        return i, j, batch.positions[j] - batch.positions[i]


class CellLengthFeatures(PairPotential):
    def forward(self, batch: AtomsBatch) -> Tensor:
        lengths = batch.cell.norm(dim=-1).sum(-1)  # |a| + |b| + |c|: depends on the basis chosen
        return super().forward(batch) + 0.01 * lengths[batch.batch, None]


class DetachedGeometry(PairPotential):
    def pair_vectors(self, batch: AtomsBatch) -> tuple[Tensor, Tensor, Tensor]:
        i, j, vectors = super().pair_vectors(batch)
        return i, j, 0.5 * vectors + 0.5 * vectors.detach()  # same energy, half the forces


class BatchStatistics(PairPotential):
    def forward(self, batch: AtomsBatch) -> Tensor:
        out = super().forward(batch)
        return out - 0.1 * out.mean(0)


class AtomOrderDependent(PairPotential):
    def forward(self, batch: AtomsBatch) -> Tensor:
        out = super().forward(batch)
        first = (torch.cumsum(batch.num_atoms, 0) - batch.num_atoms)[batch.batch]
        index_in_structure = torch.arange(batch.num_nodes) - first
        return out + 0.01 * index_in_structure[:, None]


class LazyLayer(PairPotential):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.LazyLinear(1)

    def forward(self, batch: AtomsBatch) -> Tensor:
        return self.scale(super().forward(batch))


class UnusedParameter(PairPotential):
    def __init__(self) -> None:
        super().__init__()
        self.never_used = nn.Linear(2, 2)


class Unpicklable(PairPotential):
    def __init__(self) -> None:
        super().__init__()
        self.transform = lambda x: x  # lambdas do not pickle

    def forward(self, batch: AtomsBatch) -> Tensor:
        return self.transform(super().forward(batch))


class WrongWidth(PairPotential):
    @property
    def output(self) -> OutputSpec:
        return OutputSpec("embedding", 3)


class UnsavedState(PairPotential):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.rand(1), persistent=False)  # not in the state dict

    def forward(self, batch: AtomsBatch) -> Tensor:
        return self.scale * super().forward(batch)


class UnknownRepresentation(PairPotential):
    representation = "no-such-representation"


BACKBONES = {
    "kit-pair": PairPotential,
    "kit-chiral": Chiral,
    "kit-absolute-positions": UsesAbsolutePositions,
    "kit-ignores-images": IgnoresImages,
    "kit-cell-lengths": CellLengthFeatures,
    "kit-detached-geometry": DetachedGeometry,
    "kit-batch-statistics": BatchStatistics,
    "kit-atom-order": AtomOrderDependent,
    "kit-lazy": LazyLayer,
    "kit-unused-parameter": UnusedParameter,
    "kit-unpicklable": Unpicklable,
    "kit-wrong-width": WrongWidth,
    "kit-unsaved-state": UnsavedState,
    "kit-unknown-representation": UnknownRepresentation,
}


@pytest.fixture(scope="module", autouse=True)
def kit_backbones():
    for name, cls in BACKBONES.items():
        registry.register("model", name, cls, override=True)
    yield
    for name in BACKBONES:
        registry.unregister("model", name)


# -- a correct backbone passes -----------------------------------------------------------------


class TestPairPotentialEnergy(BackboneContract):
    backbone = "kit-pair"


class TestPairPotentialEmbedding(BackboneContract):
    backbone = "kit-pair"
    backbone_args: ClassVar[dict] = {"width": 4}


class TestChiralWithoutReflections(BackboneContract):
    backbone = "kit-chiral"
    reflections = False


def test_check_backbone_reports_every_check_passed():
    report = check_backbone("kit-pair", checks=["output_shape", "periodic_wrap"])
    assert report.ok
    assert [(r.name, r.status) for r in report.results] == [("output_shape", "passed"), ("periodic_wrap", "passed")]


def test_periodic_checks_skip_for_a_backbone_declared_non_periodic():
    report = check_backbone("kit-pair", checks=["periodic_wrap", "periodic_basis"], periodic=False)
    assert [r.status for r in report.results] == ["skipped", "skipped"]


# -- each broken backbone fails the check meant for it ---------------------------------------

BROKEN = [
    ("kit-absolute-positions", "euclidean_symmetry", "not invariant"),
    ("kit-chiral", "euclidean_symmetry", r"O\(3\).*parity_k=1"),
    ("kit-ignores-images", "periodic_wrap", "moved by lattice vectors"),
    ("kit-cell-lengths", "periodic_basis", "cell rows"),
    ("kit-detached-geometry", "forces_finite_differences", "central differences"),
    ("kit-batch-statistics", "batch_consistency", "batched"),
    ("kit-atom-order", "permutation", "permuted"),
    ("kit-lazy", "eager_construction", "lazy"),
    ("kit-unused-parameter", "eager_construction", "never_used"),
    ("kit-unpicklable", "eager_construction", "does not pickle"),
    ("kit-wrong-width", "output_shape", r"width=3"),
    ("kit-unsaved-state", "checkpoint_roundtrip", "rebuilt from checkpoint"),
    ("kit-unknown-representation", "representation_registered", "not registered"),
]


@pytest.mark.parametrize(("backbone", "check", "message"), BROKEN, ids=[f"{b}-{c}" for b, c, _ in BROKEN])
def test_check_catches_broken_backbone(backbone, check, message):
    with pytest.raises(ContractError, match=message):
        run_check(Contract(backbone), check)


def test_every_check_has_a_broken_backbone_that_fails_it():
    assert {check for _, check, _ in BROKEN} == set(CHECKS)


def test_check_backbone_collects_all_failures_in_one_error():
    with pytest.raises(ContractError) as info:
        check_backbone("kit-absolute-positions", checks=["output_shape", "euclidean_symmetry", "periodic_wrap"])
    text = str(info.value)
    assert "passed  output_shape" in text
    assert "failed  euclidean_symmetry" in text and "failed  periodic_wrap" in text
