"""EGNN on CPU, interleaved with its same-run peer: forward, forward+forces, training step.

Two batches: the synthetic one (32 structures × 30 atoms in a 6.7 Å cube, no cell, radius
5 Å) and the devset one (the first 32 emt-s2ef training frames, periodic, 6 Å). Both use
``egnn-paper`` sizes, float32. The peer measured in the same run is the same model, same
weights, evaluated with the EGNN equations written the straightforward way
(:mod:`matforge_egnn.reference`: per-edge concatenation and plain indexing, as the public
implementations do). Candidates run in turns (A B A B …, :mod:`timing`), medians and
half-IQR spreads of CPU and wall time are printed, and every ratio is between two figures of
this run.

Context only, not measured here (issue 17, 2026-12, torch 2.2.1 + DGL 2.1.0, one thread,
float32, the project's 2-core CPU machine; 32 emt-s2ef frames, 934 atoms, 35,432 edges; the
public matsciml PLEGNN built from its source at the paper's sizes, fed the same edges; CPU ms,
medians of 20, two runs):

=====================  ===============  ===================  ===============
figure                 matforge native  matforge DGL backend matsciml PLEGNN
=====================  ===============  ===================  ===============
forward                32.5 / 34.5      35.3 / 36.7          59.4 / 54.1
forward + forces       71.3 / 67.8      77.4 / 72.8          182.9 / 153.9
training step          227.5 / 227.7    219.8 / 222.4        373.6 / 397.5
=====================  ===============  ===================  ===============

On the synthetic batch the same source gave the peer 93.7 ms for forward+forces. Those
numbers come from another machine state and stack, so no ratio to them is printed.

    OMP_NUM_THREADS=1 python benchmarks/bench_egnn.py [--threads 1] [--rounds 20]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import numpy as np
import torch
from _report import record
from timing import Timing, interleaved, print_table

from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.structure import AtomicStructure

#: The peer's figures quoted in the module docstring (CPU ms; issue 17): context only.
MATSCIML_CONTEXT = {"forward": (59.4, 54.1), "forward+forces": (182.9, 153.9), "training step": (373.6, 397.5)}


def synthetic_structures(seed: int = 0) -> list[AtomicStructure]:
    """32 structures × 30 atoms uniform in a 6.7 Å cube, no cell."""
    rng = np.random.default_rng(seed)
    return [
        AtomicStructure(
            positions=rng.uniform(0.0, 6.7, (30, 3)),
            atomic_numbers=rng.choice([1, 6, 7, 8, 29, 78], 30),
        ).validate(min_distance=None)
        for _ in range(32)
    ]


def devset_structures(count: int = 32) -> list[AtomicStructure] | None:
    """The first ``count`` frames of the emt-s2ef train split, or None when not installed."""
    try:
        from matforge.data import open_dataset

        dataset = open_dataset("devset:emt-s2ef/train")
    except Exception as exc:  # the devset ships with the data layer
        print(f"  (emt-s2ef devset not available: {type(exc).__name__}: {exc})")
        return None
    return [dataset[k] for k in range(count)]


def energy_and_forces(forward, model, batch, *, create_graph: bool = False):
    positions = batch.positions.requires_grad_(True)
    per_atom = forward(model, batch)[:, 0]
    energy = per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)
    (gradient,) = torch.autograd.grad(energy.sum(), positions, create_graph=create_graph)
    return energy, -gradient


def forward_ours(model, batch):
    return model(batch)


def same_run_peers() -> dict[str, Callable]:
    """Ours first, then the peer: label → ``forward(model, batch)``."""
    from matforge_egnn.reference import reference_forward

    return {"matforge EGNN": forward_ours, "straightforward EGNN": reference_forward}


def figures(model, batch, peers: dict[str, Callable]) -> dict[str, dict[str, Callable[[], object]]]:
    """figure → label → a zero-argument call. Each training-step candidate steps its own copy
    of the model (same starting weights) with its own AdamW."""
    out: dict[str, dict[str, Callable[[], object]]] = {"forward": {}, "forward+forces": {}, "training step": {}}
    has_targets = "energy" in batch.targets and "forces" in batch.targets
    targets = (batch.target("energy"), batch.target("forces")) if has_targets else None
    for name, forward in peers.items():

        def forward_only(forward=forward):
            with torch.no_grad():
                return forward(model, batch)

        out["forward"][name] = forward_only
        out["forward+forces"][name] = lambda forward=forward: energy_and_forces(forward, model, batch)
        if not has_targets:
            continue
        own = copy.deepcopy(model)
        optimizer = torch.optim.AdamW(own.parameters(), lr=1e-4)

        def step(forward=forward, own=own, optimizer=optimizer):
            target_energy, target_forces = targets
            energy, forces = energy_and_forces(forward, own, batch, create_graph=True)
            loss = (energy - target_energy).abs().mean() + (forces - target_forces).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        out["training step"][name] = step
    return {k: v for k, v in out.items() if v}


def bench_batch(label: str, model, batch, peers: dict[str, Callable], rounds: int, *, context: bool) -> dict[str, dict[str, Timing]]:
    """Every figure of one batch, interleaved; prints and records them. Returns figure → results."""
    print(f"\n{label}: {batch.num_graphs} structures, {batch.num_nodes} atoms, {batch.total_edges} edges, "
          f"float32, {torch.get_num_threads()} thread(s), torch {torch.__version__}")  # fmt: skip
    results = {}
    for figure, candidates in figures(model, batch, peers).items():
        results[figure] = timings = interleaved(candidates, rounds=rounds)
        print_table(f" {figure}", timings)
        (_, ours), *others = timings.items()
        peer_name, peer = others[0] if others else (None, None)
        note = None
        if context and figure in MATSCIML_CONTEXT:
            quoted = " / ".join(f"{v:.1f}" for v in MATSCIML_CONTEXT[figure])
            note = f"matsciml PLEGNN {quoted} ms CPU (issue 17, torch 2.2.1 + DGL, not this run)"
            print(f"  context only, not measured here: {note}")
        record(f"EGNN {figure}, {label} (CPU)", ours.cpu, "ms", peer=peer_name,
               peer_value=peer.cpu if peer else None, higher_is_better=False, spread=ours.cpu_spread,
               context=note)  # fmt: skip
    return results


def synthetic_batch(model):
    rep = build_representation(model, cutoff=5.0)
    return rep.collate([rep(s) for s in synthetic_structures()])


def devset_batch(model):
    structures = devset_structures()
    if structures is None:
        return None
    rep = build_representation(model)
    return rep.collate([rep(s) for s in structures])


def setup(description: str) -> tuple[argparse.Namespace, torch.nn.Module]:
    """Parse ``--threads`` and ``--rounds``, set the threads, build egnn-paper (seed 0)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", "--repeats", type=int, default=20)
    parser.add_argument("--only", choices=["synthetic", "devset"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = registry.get("model", "egnn-paper")()
    print(f"egnn-paper: {sum(p.numel() for p in model.parameters()):,} parameters, torch {torch.__version__}")
    return args, model


def main() -> None:
    args, model = setup(__doc__.splitlines()[0])
    peers = same_run_peers()
    if args.only != "devset":
        bench_batch("synthetic batch", model, synthetic_batch(model), peers, args.rounds, context=False)
    if args.only != "synthetic":
        batch = devset_batch(model)
        if batch is not None:
            bench_batch("emt-s2ef devset batch", model, batch, peers, args.rounds, context=True)


if __name__ == "__main__":
    main()
