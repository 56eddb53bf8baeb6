"""MEGNet-specific behaviour beyond the contract kit: preset sizes, the fused block against
the straightforward equations, the graph variables and their periodic centre-of-mass
distance, the per-structure (Set2Set) output, dropout, smoothness, and a light hook module."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch

from matforge.errors import MatforgeUserError
from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.structure import AtomicStructure
from matforge.tasks import EnergyTask, PropertyTask
from matforge.testing import contract_structures, random_crystal, random_slab
from matforge_megnet.state import Z_SCALE, graph_variables, minimum_image

#: Table 1 of the Open MatSci ML Toolkit paper, MegNet.
PAPER_S2EF, PAPER_IS2RE = 1_200_000, 986_000


def build(name="megnet", **args):
    torch.manual_seed(0)
    return registry.get("model", name)(**args).double().eval()


def collate(model, structures):
    rep = build_representation(model, dtype=torch.float64)
    return rep.collate([rep(s) for s in structures])


@torch.no_grad()
def energy(model, structures) -> torch.Tensor:
    batch = collate(model, structures)
    return torch.zeros(batch.num_graphs, dtype=torch.float64).index_add(0, batch.batch, model(batch)[:, 0])


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_both_presets_are_registered():
    assert {"megnet", "megnet-paper"} <= set(registry.names("model"))


@pytest.mark.parametrize(
    ("args", "paper"), [({}, PAPER_S2EF), ({"bond_readout": False}, PAPER_IS2RE)], ids=["s2ef", "is2re"]
)
def test_paper_preset_has_the_papers_parameter_count_within_ten_percent(args, paper):
    count = parameters(build("megnet-paper", **args))
    print(f"megnet-paper {args}: {count:,} parameters (paper: {paper:,}; {count / paper - 1:+.1%})")
    assert abs(count / paper - 1) < 0.10


def test_default_preset_is_a_small_model():
    assert 100_000 < parameters(build()) < 300_000


def test_hook_module_imports_no_torch():
    code = "import sys, matforge_megnet.plugin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("name", "args"),
    [("megnet", {}), ("megnet-paper", {}), ("megnet", {"output": "structure", "bond_readout": False})],
    ids=["megnet", "megnet-paper", "megnet-structure"],
)
def test_fused_blocks_equal_the_straightforward_equations(name, args):
    from matforge_megnet.reference import reference_forward

    model = build(name, **args)
    batch = collate(model, list(contract_structures(seed=1).values()))
    with torch.no_grad():
        torch.testing.assert_close(model(batch), reference_forward(model, batch), rtol=0, atol=1e-12)


def test_raw_coordinates_do_not_enter_the_features():
    """Translating everything by 100 Å changes no output (matsciml's MegNet concatenates xyz
    into the atom features, FACTS §2)."""
    model = build("megnet-paper")
    structures = list(contract_structures(seed=2).values())
    moved = [s.copy() for s in structures]
    for s in moved:
        s.positions = s.positions + 100.0
    torch.testing.assert_close(energy(model, moved), energy(model, structures), rtol=0, atol=1e-9)


def tagged_cluster() -> AtomicStructure:
    """Two adsorbate atoms (C, O) above three surface atoms (Cu, Cu, Pt) and one subsurface Pt, no cell."""
    positions = np.array([[0, 0, 3.0], [0, 0, 4.2], [0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, -2.0]])
    return AtomicStructure(
        positions=positions, atomic_numbers=[6, 8, 29, 29, 78, 78], tags=[2, 2, 1, 1, 1, 0]
    ).validate()


def state_of(model, structure) -> np.ndarray:
    batch = collate(model, [structure])
    lengths = batch.edge_vectors().norm(dim=-1, keepdim=True)
    ones = torch.ones_like(lengths)
    counts = torch.zeros(1, 1, dtype=torch.float64) + lengths.shape[0]
    return graph_variables(batch, lengths, ones, counts)[0].numpy()


def test_graph_variables_of_a_tagged_cluster():
    s = tagged_cluster()
    state = state_of(build("megnet-paper"), s)
    z_ads, z_surf = np.array([6, 8]) * Z_SCALE, np.array([29, 29, 78]) * Z_SCALE
    np.testing.assert_allclose(state[:4], [z_ads.mean(), z_ads.std(), z_surf.mean(), z_surf.std()], atol=1e-6)
    distance = np.linalg.norm(s.positions[:2].mean(0) - s.positions[2:5].mean(0))
    np.testing.assert_allclose(state[8], distance, atol=1e-9)


def test_untagged_structures_have_no_adsorbate_variables():
    state = state_of(build(), random_crystal(seed=0))
    assert np.all(np.abs(state[[0, 1, 2, 3, 8]]) < 1e-5) and state[4] > 0


def test_minimum_image_is_the_shortest_periodic_image():
    rng = np.random.default_rng(0)
    slab = random_slab(seed=3)
    cell = torch.from_numpy(slab.cell)
    pbc = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    vectors = torch.from_numpy(rng.uniform(-12, 12, (50, 3)))
    found = minimum_image(vectors, cell.expand(50, 3, 3), pbc.expand(50, 3))
    images = torch.tensor(list(itertools.product(range(-5, 6), range(-5, 6), [0])), dtype=torch.float64) @ cell
    brute = (vectors[:, None, :] + images[None]).norm(dim=-1).min(dim=1).values
    torch.testing.assert_close(found.norm(dim=-1), brute, rtol=0, atol=1e-12)


def test_centre_of_mass_distance_ignores_lattice_moves_of_single_atoms():
    slab = random_slab(6, seed=4)
    moved = slab.copy()
    moved.positions = slab.positions + np.array([[1], [0], [-2], [0], [1], [0]]) * slab.cell[0] + np.array([[0], [1], [0], [-1], [0], [2]]) * slab.cell[1]
    model = build()
    np.testing.assert_allclose(state_of(model, moved), state_of(model, slab), atol=1e-12)


@pytest.mark.parametrize("name", ["megnet", "megnet-paper"])
def test_untagged_supercell_energy_is_extensive(name):
    """A 2x1x1 supercell of an untagged crystal: the same means, hence twice the energy,
    which only holds when every periodic image is counted exactly once."""
    cell = random_crystal(seed=2)
    supercell = AtomicStructure(
        positions=np.concatenate([cell.positions, cell.positions + cell.cell[0]]),
        atomic_numbers=np.tile(cell.atomic_numbers, 2),
        cell=cell.cell * [[2], [1], [1]],
        pbc=cell.pbc,
    ).validate()
    e_cell, e_super = energy(build(name), [cell, supercell])
    assert torch.allclose(e_super, 2 * e_cell, rtol=0, atol=1e-9)


def dimer(distance: float) -> AtomicStructure:
    return AtomicStructure(positions=np.array([[0.0, 0, 0], [1.2, 0, 0], [-distance, 0, 0]]), atomic_numbers=np.array([6, 8, 1]))


def test_energy_is_continuous_where_a_neighbour_crosses_the_cutoff():
    model = build(cutoff=4.0)
    inside, outside = energy(model, [dimer(4.0 - 1e-6), dimer(4.0 + 1e-6)])
    assert abs(float(inside - outside)) < 1e-8


def test_paper_preset_has_the_papers_hard_cutoff():
    model = build("megnet-paper", cutoff=4.0)
    inside, outside = energy(model, [dimer(4.0 - 1e-6), dimer(4.0 + 1e-6)])
    assert abs(float(inside - outside)) > 1e-6


def test_dropout_is_active_in_training_and_off_in_eval():
    model = build("megnet-paper")
    batch = collate(model, [random_slab(seed=0)])
    with torch.no_grad():
        first, second = model(batch), model(batch)
        model.train()
        noisy = model(batch)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.allclose(noisy, first)


def test_structure_output_is_one_row_per_structure_and_invariant():
    model = build(output="structure")
    structures = list(contract_structures(seed=0).values())
    assert (model.output.kind, model.output.width) == ("structure", 32)
    with torch.no_grad():
        together = model(collate(model, structures))
        alone = torch.cat([model(collate(model, [s])) for s in structures])
        rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0].numpy()
        rotated = [s.copy() for s in structures]
        for s in rotated:
            s.positions = s.positions @ rotation.T
            s.cell = None if s.cell is None else s.cell @ rotation.T
        turned = model(collate(model, rotated))
    assert together.shape == (len(structures), 32)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-10)
    torch.testing.assert_close(turned, together, rtol=0, atol=1e-9)


def test_property_task_reads_the_structure_output_without_pooling():
    task = PropertyTask("megnet", {"output": "structure"}, properties=["gap"], normalize=False).double()
    batch = collate(task.backbone, list(contract_structures(seed=0).values()))
    assert task(batch)["gap"].shape == (batch.num_graphs,)


def test_energy_tasks_refuse_the_structure_output():
    with pytest.raises(MatforgeUserError, match="output='energy'"):
        EnergyTask("megnet", {"output": "structure"})


def test_unknown_settings_are_rejected():
    with pytest.raises(ValueError, match="output must be"):
        build(output="forces")
    with pytest.raises(ValueError, match="graph_state"):
        build(graph_state="learned")
    with pytest.raises(ValueError, match="skip connections"):
        build(hiddens=[32, 16], conv_hiddens=[32, 8])
