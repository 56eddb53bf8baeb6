"""GALA behaviour beyond the contract kit: presets, masks reaching every attention and
reduction, the reflection statement per mode, options, and a light hook module."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from matforge.errors import MatforgeUserError
from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.testing import contract_structures, random_crystal, random_slab
from matforge_pointcloud.batch import PointCloudBatch

PAPER_PARAMETERS = 1_500_000  # Table 1 of the Open MatSci ML Toolkit paper, Gala


def build(name="gala", **args):
    torch.manual_seed(0)
    return registry.get("model", name)(**args).double().eval()


def collate(model, structures) -> PointCloudBatch:
    rep = build_representation(model, dtype=torch.float64)
    return rep.collate([rep(s) for s in structures])


def energies(model, batch) -> torch.Tensor:
    per_atom = model(batch)[:, 0]
    return per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)


def test_both_presets_are_registered():
    assert {"gala", "gala-paper"} <= set(registry.names("model"))


def test_paper_preset_has_the_papers_parameter_count_within_ten_percent():
    count = sum(p.numel() for p in build("gala-paper").parameters())
    print(f"gala-paper parameters: {count:,} (paper: 1.5M; {count / PAPER_PARAMETERS - 1:+.1%})")
    assert abs(count / PAPER_PARAMETERS - 1) < 0.10


def test_paper_preset_uses_the_papers_oc20_centres():
    assert build("gala-paper").representation_config()["centres"] == "oc20"


def test_hook_module_imports_no_torch():
    code = "import sys, matforge_gala.plugin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def widen(batch: PointCloudBatch, extra: int, seed: int = 0) -> PointCloudBatch:
    """The batch with ``extra`` more padded slots per centre and garbage (random atoms, far
    shifts) in every padded slot."""
    g = torch.Generator().manual_seed(seed)
    c = batch.neighbours.shape[0]
    neighbours = torch.cat([batch.neighbours, batch.centres[:, None].expand(c, extra)], dim=1)
    shifts = torch.cat([batch.shifts, batch.shifts.new_zeros((c, extra, 3))], dim=1)
    mask = torch.cat([batch.mask, batch.mask.new_zeros((c, extra))], dim=1)
    padded = ~mask
    neighbours[padded] = torch.randint(0, batch.num_nodes, (int(padded.sum()),), generator=g)
    shifts[padded] = torch.randint(-50, 50, (int(padded.sum()), 3), generator=g, dtype=shifts.dtype)
    return dataclasses.replace(batch, neighbours=neighbours, shifts=shifts, mask=mask)


class NaNPadded(PointCloudBatch):
    """Relative vectors NaN in padded slots: a model that forgets the mask returns NaN."""

    def relative_vectors(self):
        nan = torch.full_like(self.positions[:1], float("nan"))
        return torch.where(self.mask[..., None], super().relative_vectors(), nan)


@pytest.mark.parametrize(
    "args",
    [{}, {"tied": True, "merge": "concat", "join": "concat"}, {"equivariant": False, "invariant_norm": "momentum", "value_norm": "momentum"}],
    ids=["multivector", "tied", "invariant"],
)
def test_padded_slots_never_change_energies_forces_or_statistics(args):
    """Garbage and NaN in padded slots, and more of them, change no energy, no force and (in
    training mode) no running statistic of a momentum normalisation."""
    model = build(width=8, depth=2, **args)
    batch = collate(model, list(contract_structures(seed=1).values()))
    wide = widen(batch, extra=5)
    nan = NaNPadded(**{f.name: getattr(wide, f.name) for f in dataclasses.fields(wide)})
    assert bool(nan.relative_vectors().isnan().any())
    results = []
    for variant in (batch, wide, nan):
        trained = build(width=8, depth=2, **args).train()
        positions = variant.positions.clone().requires_grad_(True)
        e = energies(trained, dataclasses.replace(variant, positions=positions))
        (gradient,) = torch.autograd.grad(e.sum(), positions)
        buffers = torch.cat([b.flatten() for b in trained.buffers()])
        results.append((e.detach(), gradient, buffers))
    for e, gradient, buffers in results[1:]:
        torch.testing.assert_close(e, results[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(gradient, results[0][1], rtol=0, atol=1e-12)
        torch.testing.assert_close(buffers, results[0][2], rtol=0, atol=1e-12)


def test_neighbours_beyond_the_models_cutoff_are_masked():
    """A representation built wider than the model's cutoff changes nothing, even with a
    hard cutoff (no envelope): the model masks slots beyond its own cutoff."""
    model = build(width=8, smooth_cutoff=False, cutoff=3.0)
    structures = list(contract_structures(seed=2).values())
    wide_rep = build_representation(model, dtype=torch.float64, cutoff=5.0)
    wide = wide_rep.collate([wide_rep(s) for s in structures])
    with torch.no_grad():
        torch.testing.assert_close(energies(model, wide), energies(model, collate(model, structures)), rtol=0, atol=1e-12)


def reflected(structure):
    out = structure.copy()
    out.positions = structure.positions * [-1.0, 1.0, 1.0]
    if structure.cell is not None:
        out.cell = structure.cell * [-1.0, 1.0, 1.0]
    return out


@pytest.mark.parametrize(("args", "o3"), [({"equivariant": False}, True), ({}, False), ({"tied": True}, False)], ids=["invariant", "multivector", "tied"])
def test_only_invariant_attention_is_reflection_invariant(args, o3):
    """Multivector outputs reach trivectors, which change sign under a mirror: such energies
    are SO(3)- but not O(3)-invariant (the kit runs them with ``reflections = False``)."""
    model = build(width=8, depth=2, **args)
    with torch.no_grad():
        for module in model.modules():  # α_n = 1: the covariant terms at full strength
            if getattr(module, "vector_kernels", None) is not None:
                module.vector_kernels.fill_(1.0)
    crystal = random_crystal(4, seed=1)
    with torch.no_grad():
        e, e_mirror = energies(model, collate(model, [crystal, reflected(crystal)]))
    change = abs(float(e - e_mirror))
    assert change < 1e-12 if o3 else change > 1e-10


def test_an_isolated_centre_and_a_full_cloud_batch_together():
    model = build(width=8)
    lone = dataclasses.replace(random_slab(4, seed=0))
    lone.positions = np.array([[0.0, 0, 0]])
    lone.atomic_numbers = np.array([6])
    lone.cell, lone.pbc = None, np.zeros(3, dtype=bool)
    lone.tags, lone.fixed = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=bool)
    crystal = contract_structures(seed=0)["crystal"]
    with torch.no_grad():
        together = energies(model, collate(model, [lone, crystal]))
        alone = torch.cat([energies(model, collate(model, [s])) for s in (lone, crystal)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [({"merge": "sum"}, "merge"), ({"invariant_mode": "most"}, "product modes"), ({"invariant_norm": "batch"}, "invariant normalisation"),
     ({"equivariant_norm": "layer"}, "equivariant normalisation"), ({"output": "forces"}, "output")],
)
def test_bad_options_are_user_errors(args, message):
    with pytest.raises(MatforgeUserError, match=message):
        registry.get("model", "gala")(**args)


def test_embedding_output_has_the_width():
    model = build(width=12, output="embedding")
    assert (model.output.kind, model.output.width) == ("embedding", 12)
    assert model.energy is None
