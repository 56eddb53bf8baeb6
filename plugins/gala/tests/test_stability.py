"""Numerical stability at the paper's settings: depth 5 with multivector-valued attention.

The public implementation returns NaN there: its running ``momentum_layer`` normalisation is
the identity at initialisation, a residual is added twice, and each block multiplies
multivectors, so their magnitudes square per block (~1e20 at depth 5,
../shared/reference/FACTS.md §2). Ours divides each cloud's multivectors by their RMS norm
(``equivariant_norm="cloud"``), adds one residual, and scales inputs by ``length_scale``.
"""

from __future__ import annotations

import pytest
import torch

from matforge.data import open_dataset
from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.testing import contract_structures
from matforge_gala.presets import PAPER


def energy_and_forces(model, batch):
    positions = batch.positions.requires_grad_(True)
    per_atom = model(batch)[:, 0]
    energies = per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)
    (gradient,) = torch.autograd.grad(energies.sum(), positions, create_graph=model.training)
    return energies, -gradient


def devset_batch(model, count: int = 2, dtype=torch.float32):
    rep = build_representation(model, dtype=dtype)
    return rep.collate([rep(s) for s in open_dataset("devset:emt-s2ef/train", indices=range(count))])


def multivector_magnitudes(model, batch) -> list[float]:
    """Largest |multivector| entering each block's invariant attention."""
    seen: list[float] = []
    hooks = [a.register_forward_hook(lambda _m, args, _out: seen.append(float(args[0].abs().max()))) for a in model.value_attention]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_paper_preset_is_finite_at_initialisation_in_float32(mode):
    torch.manual_seed(0)
    model = registry.get("model", "gala-paper")().train(mode == "train")
    energies, forces = energy_and_forces(model, devset_batch(model, count=1))
    assert bool(torch.isfinite(energies).all()) and bool(torch.isfinite(forces).all())


def test_cloud_norm_bounds_multivectors_at_depth_five_where_none_lets_them_grow():
    """Å inputs, no envelope, covariant weights α = 1: without a normalisation multivectors
    grow block after block; the cloud norm keeps every one within sqrt(K)."""
    torch.manual_seed(0)
    settings = {**PAPER, "width": 16, "length_scale": 1.0, "centres": "all", "smooth_cutoff": False}
    bounded = registry.get("model", "gala")(**settings).double().eval()
    unbounded = registry.get("model", "gala")(**{**settings, "equivariant_norm": None}).double().eval()
    unbounded.load_state_dict(bounded.state_dict())
    with torch.no_grad():  # covariant combination weights of order 1 instead of 0.05
        for model in (bounded, unbounded):
            for attention in model.multivector_attention:
                attention.vector_kernels.fill_(1.0)
    batch = devset_batch(bounded, count=1, dtype=torch.float64)
    grown, kept = multivector_magnitudes(unbounded, batch), multivector_magnitudes(bounded, batch)
    # RMS 1 per cloud after every block: no multivector exceeds sqrt(K).
    assert max(kept[1:]) <= batch.max_neighbours**0.5, kept
    assert grown[-1] > 10 * kept[-1], (grown, kept)


@pytest.mark.slow
def test_training_at_depth_five_keeps_every_parameter_and_output_finite():
    """300 S2EF steps (energy + force loss, Adam, lr 3e-3) at the paper's settings, narrowed
    to width 8 and 3 Å clouds to fit a unit test, on Å-scale structures."""
    torch.manual_seed(0)
    settings = {**PAPER, "width": 8, "cutoff": 3.0, "centres": "all"}
    model = registry.get("model", "gala")(**settings).double().train()
    rep = build_representation(model, dtype=torch.float64)
    batch = rep.collate([rep(s) for s in contract_structures(seed=0).values()])
    target_e = torch.linspace(-1.0, 1.0, batch.num_graphs, dtype=torch.float64)
    target_f = torch.randn(batch.num_nodes, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(300):
        energies, forces = energy_and_forces(model, batch)
        assert bool(torch.isfinite(energies).all()) and bool(torch.isfinite(forces).all()), f"step {step}"
        loss = (energies - target_e).abs().mean() + (forces - target_f).abs().mean()
        first = float(loss.detach()) if first is None else first
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert bool(torch.isfinite(tensor).all()), name
    assert float(loss) < first  # it trained, not just survived
