"""MEGNet on CPU: forward+forces on a synthetic batch, and a training step on S2EF devset data.

Both use ``megnet-paper`` (1.2M parameters) on the batches of ``bench_egnn.py``. The peer
measured in the same run is the same model, same weights, evaluated with the MEGNet
equations written the straightforward way (:mod:`matforge_megnet.reference`: per-bond
concatenation into φ_e and index_add means, as the public implementations do).

Context only, not measured here: the public matsciml MEGNet (DGL 2.1.0, torch 2.2.1, one
thread, December 2026) took 545 ms for forward+forces on the 32×30-atom synthetic batch;
it concatenates raw coordinates into its atom features, so it is not invariant. The issue's
goal was ≥ 2× faster than that in the same environment; see ``benchmarks/dgl_megnet.py``
(``nox -s bench-dgl``) for the DGL stack.

    OMP_NUM_THREADS=1 python benchmarks/bench_megnet.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from _report import record
from bench_egnn import devset_structures, energy_and_forces, synthetic_structures
from timing import Timing, interleaved, print_table

from matforge.interfaces import build_representation
from matforge.registry import registry

#: Forward+forces of the public matsciml MEGNet on the synthetic batch (see the docstring).
MATSCIML_REFERENCE_MS = 545.0


def forward_ours(model, batch):
    return model(batch)


def same_run_peers() -> dict[str, Callable]:
    """Ours first, then the peer: label → ``forward(model, batch)``."""
    from matforge_megnet.reference import reference_forward

    return {"matforge MEGNet": forward_ours, "straightforward MEGNet": reference_forward}


def record_against_peer(name: str, results: dict[str, Timing], context: str | None = None) -> None:
    (_, ours), (peer, theirs) = list(results.items())[:2]
    record(f"{name} (cpu)", ours.cpu, "ms", peer=peer, peer_value=theirs.cpu, higher_is_better=False, context=context)
    record(f"{name} (wall)", ours.wall, "ms", peer=peer, peer_value=theirs.wall, higher_is_better=False, context=context)


def bench_forward_forces(model, peers: dict[str, Callable], repeats: int, label: str = "") -> dict[str, Timing]:
    """Forward+forces (eval mode) on the synthetic batch of bench_egnn.py for each peer."""
    model.eval()
    rep = build_representation(model, cutoff=5.0)
    batch = rep.collate([rep(s) for s in synthetic_structures()])
    title = (f"forward+forces, megnet-paper, 32 x 30 atoms, radius 5 Å, {batch.total_edges} edges, "
             f"float32, {torch.get_num_threads()} thread(s), torch {torch.__version__}{label}, {repeats} interleaved rounds")
    candidates = {name: (lambda f=forward: energy_and_forces(f, model, batch)) for name, forward in peers.items()}
    results = interleaved(candidates, rounds=repeats)
    print_table(title, results)
    ours = next(iter(results.values()))
    print(f"  reference only, NOT measured in this run: matsciml MEGNet (DGL, torch 2.2.1, 1 thread) "
          f"~{MATSCIML_REFERENCE_MS:.0f} ms in its own environment; ours here {ours.cpu:.0f} ms CPU, "
          f"{ours.wall:.0f} ms wall (no ratio: the two were not measured in one run)")
    return results


def bench_training_step(model, peers: dict[str, Callable], repeats: int) -> dict[str, Timing] | None:
    """One force-training step (train mode: dropout on) on 32 emt-s2ef frames for each peer."""
    structures = devset_structures()
    if structures is None:
        print("training step: skipped")
        return None
    model.train()
    rep = build_representation(model)
    batch = rep.collate([rep(s) for s in structures])
    target_energy, target_forces = batch.target("energy"), batch.target("forces")
    title = (f"training step (forward, forces, backward, AdamW), megnet-paper, 32 emt-s2ef frames "
             f"({batch.num_nodes} atoms, {batch.total_edges} edges), {torch.get_num_threads()} thread(s), "
             f"{repeats} interleaved rounds")
    candidates = {}
    for name, forward in peers.items():
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(forward=forward, optimizer=optimizer):
            energy, forces = energy_and_forces(forward, model, batch, create_graph=True)
            loss = (energy - target_energy).abs().mean() + (forces - target_forces).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        candidates[name] = step
    results = interleaved(candidates, rounds=repeats)
    print_table(title, results)
    for name, timing in results.items():
        print(f"  {name:26s} {32e3 / timing.wall:6.1f} structures/s (wall)")
    return results


def setup(description: str) -> tuple[argparse.Namespace, torch.nn.Module]:
    """Parse ``--threads`` and ``--repeats``, set the threads, build megnet-paper (seed 0)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = registry.get("model", "megnet-paper")()
    print(f"megnet-paper: {sum(p.numel() for p in model.parameters()):,} parameters, torch {torch.__version__}")
    return args, model


def main() -> None:
    args, model = setup(__doc__.splitlines()[0])
    context = f"matsciml MEGNet (DGL, torch 2.2.1, 1 thread): {MATSCIML_REFERENCE_MS:.0f} ms, not measured here"
    record_against_peer("megnet-paper forward+forces, 32x30 atoms", bench_forward_forces(model, same_run_peers(), args.repeats), context)
    training = bench_training_step(model, same_run_peers(), args.repeats)
    if training is not None:
        record_against_peer("megnet-paper training step, 32 emt-s2ef frames", training)


if __name__ == "__main__":
    main()
