"""The contract kit itself: a correct periodic backbone passes every check, and backbones
broken in one way each fail the check meant to catch that way (so no check passes
vacuously)."""

from __future__ import annotations

import sys
from typing import ClassVar

import pytest
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

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
from matforge.testing.symmetry import assert_euclidean_equivariance, random_rotation


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


class _SquaredLength(torch.autograd.Function):
    """|v|² with a hand-written backward that cannot itself be differentiated."""

    @staticmethod
    def forward(ctx, vectors: Tensor) -> Tensor:
        ctx.save_for_backward(vectors)
        return (vectors**2).sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:
        (vectors,) = ctx.saved_tensors
        return 2 * vectors * grad[..., None]


class OnceDifferentiable(PairPotential):
    """Right energies and forces, but a force loss cannot be backpropagated."""

    def pair_weights(self, vectors: Tensor) -> Tensor:
        r2 = _SquaredLength.apply(vectors)
        return torch.exp(-self.decay * r2) * (1 - r2.sqrt() / self.cutoff) ** 2


class HardCutoff(PairPotential):
    """No envelope: each pair's term drops to zero when it leaves the cutoff."""

    def pair_weights(self, vectors: Tensor) -> Tensor:
        return torch.exp(-self.decay * (vectors**2).sum(-1))


class GraphPair(Backbone):
    """The pair potential on the ``graph`` representation (edges from the DataLoader)."""

    representation = "graph"

    def __init__(self, cutoff: float = 4.0) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.species = nn.Embedding(119, 1)
        self.decay = nn.Parameter(torch.tensor(0.3))

    @property
    def output(self) -> OutputSpec:
        return OutputSpec("energy")

    def representation_config(self) -> dict:
        return {"cutoff": self.cutoff}

    def envelope_radius(self) -> float:
        return self.cutoff

    def forward(self, batch) -> Tensor:
        r = batch.edge_lengths()
        c = self.envelope_radius()
        weights = torch.where(r < c, torch.exp(-self.decay * r**2) * (1 - r / c) ** 2, 0.0)
        z = batch.atomic_numbers
        terms = self.species(z[batch.dst]) * self.species(z[batch.src]) * weights[:, None]
        return terms.new_zeros(batch.num_nodes, 1).index_add(0, batch.dst, terms)


class ShortRepresentationCutoff(GraphPair):
    """Asks for graphs 1 Å shorter than its own cutoff."""

    def representation_config(self) -> dict:
        return {"cutoff": self.cutoff - 1.0}


class EnvelopeBeyondRepresentation(GraphPair):
    """Declares its cutoff honestly but its envelope reaches 1 Å further."""

    def envelope_radius(self) -> float:
        return self.cutoff + 1.0


class CpuTensorInForward(PairPotential):
    """Creates a tensor on the default device: fails on a GPU."""

    def forward(self, batch: AtomsBatch) -> Tensor:
        return super().forward(batch) * torch.ones(batch.num_nodes, 1)


class DefaultDtypeInForward(PairPotential):
    """Creates a tensor in the default dtype: a float32 model returns float64."""

    def forward(self, batch: AtomsBatch) -> Tensor:
        return super().forward(batch) * torch.ones(batch.num_nodes, 1, device=batch.positions.device)


class StructureMean(PairPotential):
    """Each atom sees its structure's mean output: far atoms change near ones."""

    def forward(self, batch: AtomsBatch) -> Tensor:
        out = super().forward(batch)
        sums = out.new_zeros(batch.num_graphs, self.width).index_add(0, batch.batch, out)
        return out + 0.1 * (sums / batch.num_atoms[:, None].to(out.dtype))[batch.batch]


class NeighbourAverage(PairPotential):
    """Normalises by the summed pair weights: 0 / 0 for an atom without neighbours."""

    def forward(self, batch: AtomsBatch) -> Tensor:
        i, _, vectors = self.pair_vectors(batch)
        total = vectors.new_zeros(batch.num_nodes).index_add(0, i, self.pair_weights(vectors))
        return super().forward(batch) / total[:, None]


class LargeOffset(PairPotential):
    """Adds and removes a large reference energy: float32 keeps ~3 digits of the rest."""

    def forward(self, batch: AtomsBatch) -> Tensor:
        return (super().forward(batch) + 1e5) - 1e5


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
    "kit-once-differentiable": OnceDifferentiable,
    "kit-hard-cutoff": HardCutoff,
    "kit-graph-pair": GraphPair,
    "kit-short-representation-cutoff": ShortRepresentationCutoff,
    "kit-envelope-beyond-representation": EnvelopeBeyondRepresentation,
    "kit-cpu-tensor": CpuTensorInForward,
    "kit-default-dtype": DefaultDtypeInForward,
    "kit-structure-mean": StructureMean,
    "kit-neighbour-average": NeighbourAverage,
    "kit-large-offset": LargeOffset,
}

needs_graph = pytest.mark.skipif(
    ("representation", "graph") not in registry, reason="needs the matforge-graph plugin"
)


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


@needs_graph
class TestGraphPair(BackboneContract):
    """A backbone whose representation takes a cutoff: the representation-cutoff check runs."""

    backbone = "kit-graph-pair"


def test_the_mixin_has_one_test_per_check_generated_from_the_list():
    tests = {name.removeprefix("test_") for name in dir(BackboneContract) if name.startswith("test_")}
    assert tests == set(CHECKS)
    assert BackboneContract.test_locality.__doc__ == CHECKS["locality"].__doc__


def test_class_attributes_override_contract_fields():
    class Custom(BackboneContract):
        backbone = "kit-pair"
        backbone_args: ClassVar[dict] = {"width": 2}
        smooth = False
        fd_atol = 1e-3

    contract = Custom.contract()
    assert (contract.args, contract.smooth, contract.fd_atol, contract.symmetry_atol) == ({"width": 2}, False, 1e-3, 1e-9)


def test_check_backbone_reports_every_check_passed():
    report = check_backbone("kit-pair", checks=["output_shape", "periodic_wrap"])
    assert report.ok
    assert [(r.name, r.status) for r in report.results] == [("output_shape", "passed"), ("periodic_wrap", "passed")]


def test_locality_skips_for_a_backbone_declared_non_local():
    report = check_backbone("kit-structure-mean", checks=["locality"], local=False)
    assert [(r.status, r.message) for r in report.results] == [("skipped", "backbone 'kit-structure-mean' declares local=False (global interactions)")]


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
    ("kit-once-differentiable", "double_backward", "double backward"),
    ("kit-hard-cutoff", "cutoff_continuity", "crosses the 4.0 Å cutoff"),
    pytest.param("kit-short-representation-cutoff", "representation_cutoff", "shorter than the backbone's cutoff", marks=needs_graph),
    pytest.param("kit-envelope-beyond-representation", "representation_cutoff", "interacts beyond", marks=needs_graph),
    ("kit-cpu-tensor", "device_placement", "default device"),
    ("kit-default-dtype", "device_placement", "float64"),
    ("kit-structure-mean", "locality", "100.0 Å away"),
    ("kit-neighbour-average", "isolated_atoms", "non-finite"),
    ("kit-large-offset", "float32", "float32 vs float64 energies"),
]


def _values(case):
    return case.values if hasattr(case, "values") else case



@pytest.mark.parametrize(("backbone", "check", "message"), BROKEN, ids=[f"{b}-{c}" for b, c, _ in map(_values, BROKEN)])
def test_check_catches_broken_backbone(backbone, check, message):
    with pytest.raises(ContractError, match=message):
        run_check(Contract(backbone), check)


def test_every_check_has_a_broken_backbone_that_fails_it():
    assert {check for _, check, _ in map(_values, BROKEN)} == set(CHECKS)


def test_check_backbone_collects_all_failures_in_one_error():
    with pytest.raises(ContractError) as info:
        check_backbone("kit-absolute-positions", checks=["output_shape", "euclidean_symmetry", "periodic_wrap"])
    text = str(info.value)
    assert "passed  output_shape" in text
    assert "failed  euclidean_symmetry" in text and "failed  periodic_wrap" in text


# -- the symmetry check without e3nn -------------------------------------------------------------


@pytest.fixture
def without_e3nn(monkeypatch):
    for name in ("e3nn", "e3nn.util", "e3nn.util.test"):
        monkeypatch.setitem(sys.modules, name, None)  # import then raises ImportError


def test_random_rotations_are_proper_and_orthogonal():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        q = random_rotation(generator)
        torch.testing.assert_close(q @ q.T, torch.eye(3, dtype=q.dtype), rtol=0, atol=1e-12)
        assert abs(float(torch.linalg.det(q)) - 1.0) < 1e-12


def test_own_sampling_runs_without_e3nn(without_e3nn):
    positions, cells = torch.randn(4, 3, dtype=torch.float64), torch.zeros(1, 3, 3, dtype=torch.float64)

    def pairwise(p: Tensor, c: Tensor) -> list[Tensor]:
        p = p.clone().requires_grad_(True)
        energy = torch.pdist(p).pow(2).sum()
        (gradient,) = torch.autograd.grad(energy, p)
        return [energy.detach().reshape(1, 1), -gradient]

    assert assert_euclidean_equivariance(pairwise, positions, cells, parity=True, atol=1e-9) == "own"


@pytest.mark.parametrize(
    ("backbone", "settings", "fails"),
    [("kit-pair", {}, None), ("kit-chiral", {"reflections": False}, None), ("kit-chiral", {}, r"parity_k=1"), ("kit-absolute-positions", {}, "not invariant")],
)
def test_symmetry_check_without_e3nn_catches_what_it_catches_with_it(without_e3nn, backbone, settings, fails):
    contract = Contract(backbone, **settings)
    if fails is None:
        run_check(contract, "euclidean_symmetry")
    else:
        with pytest.raises(ContractError, match=fails):
            run_check(contract, "euclidean_symmetry")
