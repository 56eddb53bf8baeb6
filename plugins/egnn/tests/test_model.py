"""EGNN-specific behaviour beyond the contract kit: size of the paper preset, periodic
images, smoothness at the cutoff, outputs, and a light hook module."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.structure import AtomicStructure
from matforge.testing import random_crystal

PAPER_PARAMETERS = 72_000  # Table 1 of the Open MatSci ML Toolkit paper, E(n)-GNN


def build(name="egnn", **args):
    torch.manual_seed(0)
    return registry.get("model", name)(**args).double().eval()


@torch.no_grad()
def energy(model, structures) -> torch.Tensor:
    rep = build_representation(model, dtype=torch.float64)
    batch = rep.collate([rep(s) for s in structures])
    return torch.zeros(batch.num_graphs, dtype=torch.float64).index_add(0, batch.batch, model(batch)[:, 0])


def test_both_presets_are_registered():
    assert {"egnn", "egnn-paper"} <= set(registry.names("model"))


def test_paper_preset_has_the_papers_parameter_count_within_ten_percent():
    count = sum(p.numel() for p in build("egnn-paper").parameters())
    print(f"egnn-paper parameters: {count:,} (paper: 72k; {count / PAPER_PARAMETERS - 1:+.1%})")
    assert abs(count / PAPER_PARAMETERS - 1) < 0.10


def test_hook_module_imports_no_torch():
    code = "import sys, matforge_egnn.plugin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["egnn", "egnn-paper"])
def test_supercell_energy_is_extensive(name):
    """A 2x1x1 supercell is the same crystal: twice the energy, which only holds when every
    periodic image is counted exactly once."""
    cell = random_crystal(seed=2)
    supercell = AtomicStructure(
        positions=np.concatenate([cell.positions, cell.positions + cell.cell[0]]),
        atomic_numbers=np.tile(cell.atomic_numbers, 2),
        cell=cell.cell * [[2], [1], [1]],
        pbc=cell.pbc,
    ).validate()
    e_cell, e_super = energy(build(name), [cell, supercell])
    assert torch.allclose(e_super, 2 * e_cell, rtol=0, atol=1e-9)


def test_periodic_images_change_the_energy():
    crystal = random_crystal(seed=1)
    isolated = AtomicStructure(positions=crystal.positions, atomic_numbers=crystal.atomic_numbers)
    e_crystal, e_isolated = energy(build(), [crystal, isolated])
    assert abs(float(e_crystal - e_isolated)) > 1e-3


def dimer(distance: float) -> AtomicStructure:
    return AtomicStructure(positions=np.array([[0.0, 0, 0], [distance, 0, 0]]), atomic_numbers=np.array([6, 8]))


def test_energy_is_continuous_where_a_neighbour_crosses_the_cutoff():
    model = build(cutoff=4.0)
    inside, outside = energy(model, [dimer(4.0 - 1e-6), dimer(4.0 + 1e-6)])
    assert abs(float(inside - outside)) < 1e-8


def test_paper_preset_has_the_papers_hard_cutoff():
    model = build("egnn-paper", cutoff=4.0)
    inside, outside = energy(model, [dimer(4.0 - 1e-6), dimer(4.0 + 1e-6)])
    assert abs(float(inside - outside)) > 1e-6


def test_position_updates_start_small():
    """The last layer of φ_x starts with gain 0.001: positions barely move at first."""
    model = build(update_positions=True, position_tanh=False, num_radial=0, smooth_cutoff=False)
    rep = build_representation(model, dtype=torch.float64)
    batch = rep.collate([rep(random_crystal(seed=0))])
    h = model.embedding(batch.atomic_numbers)
    vectors = batch.edge_vectors()
    _, displacement = model.layers[0](batch, h, vectors)
    assert 0 < displacement.abs().max() < 1e-2


def test_embedding_output_is_the_projected_features():
    model = build(output="embedding", projection_dims=[24, 12])
    assert (model.output.kind, model.output.width) == ("embedding", 12)
    assert model.energy_block is None


def test_unknown_output_kind_is_rejected():
    with pytest.raises(ValueError, match="output must be"):
        build(output="forces")


def test_representation_settings_follow_the_backbone():
    model = build(cutoff=5.0, max_neighbors=12)
    assert model.representation_config() == {"cutoff": 5.0, "max_neighbors": 12}


@pytest.mark.parametrize("name", ["egnn", "egnn-paper"])
def test_fused_layers_equal_the_straightforward_equations(name):
    """φ_e's node blocks applied per node then gathered = φ_e on the per-edge concatenation."""
    from matforge_egnn.reference import reference_forward

    model = build(name, update_positions=True)
    rep = build_representation(model, dtype=torch.float64)
    batch = rep.collate([rep(random_crystal(seed=0)), rep(dimer(1.3))])
    with torch.no_grad():
        assert torch.allclose(model(batch), reference_forward(model, batch), rtol=0, atol=1e-12)
