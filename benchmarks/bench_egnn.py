"""EGNN on CPU: forward+forces on a synthetic batch, and a training step on S2EF devset data.

Both use ``egnn-paper`` sizes. The peer measured in the same run is the same model, same
weights, evaluated with the EGNN equations written the straightforward way
(:mod:`matforge_egnn.reference`: per-edge concatenation and plain indexing, as the public
implementations do). The public matsciml EGNN (DGL) needs the DGL stack; see
``benchmarks/dgl_egnn.py`` (``nox -s bench-dgl``).

    OMP_NUM_THREADS=1 python benchmarks/bench_egnn.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.structure import AtomicStructure

#: Forward+forces of the public matsciml EGNN (DGL) on the synthetic batch, torch 2.2.1,
#: 1 thread, on the project's CPU machines: a reference, not a measurement of this run.
MATSCIML_REFERENCE_MS = 270.0


def synthetic_structures(seed: int = 0) -> list[AtomicStructure]:
    """32 structures × 30 atoms uniform in a 6.7 Å cube, no cell (the issue's batch)."""
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


@dataclass(frozen=True)
class Timing:
    """Medians over the repeats, in ms: wall clock, and CPU time of this process (with one
    thread, the CPU time leaves out the time other processes hold the core, so it is the
    steadier figure on a shared machine; on an idle one the two agree)."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"wall {self.wall:7.1f} ms   cpu {self.cpu:7.1f} ms"


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> Timing:
    """Median wall and CPU time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start_wall) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return Timing(statistics.median(wall), statistics.median(cpu))


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


def report(results: dict[str, Timing]) -> None:
    """Print each peer's time relative to the first (ours)."""
    (first, ours), *others = results.items()
    for name, value in others:
        print(f"  ratio {name} / {first}: {value.wall / ours.wall:.2f}x wall, "
              f"{value.cpu / ours.cpu:.2f}x cpu (same run)")


def bench_forward_forces(model, peers: dict[str, Callable], repeats: int) -> Timing:
    """Forward+forces on the synthetic batch for each peer; returns ours."""
    rep = build_representation(model, cutoff=5.0)
    batch = rep.collate([rep(s) for s in synthetic_structures()])
    print(f"forward+forces, egnn-paper, 32 x 30 atoms, radius 5 Å, {batch.total_edges} edges, "
          f"float32, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    results = {}
    for name, forward in peers.items():
        results[name] = timed(lambda f=forward: energy_and_forces(f, model, batch), repeats)
        print(f"  {name:22s} {results[name]}")
    report(results)
    return next(iter(results.values()))


def print_matsciml_reference(ours: Timing) -> None:
    print(f"  reference only, NOT measured in this run: matsciml EGNN (DGL, torch 2.2.1, 1 thread) "
          f"~{MATSCIML_REFERENCE_MS:.0f} ms; ours {MATSCIML_REFERENCE_MS / ours.wall:.1f}x faster "
          f"by wall time, {MATSCIML_REFERENCE_MS / ours.cpu:.1f}x by CPU time")


def bench_training_step(model, peers: dict[str, Callable], repeats: int) -> None:
    """Time and structures/s of one force-training step on 32 emt-s2ef frames."""
    structures = devset_structures()
    if structures is None:
        print("training step: skipped")
        return
    rep = build_representation(model)
    batch = rep.collate([rep(s) for s in structures])
    target_energy, target_forces = batch.target("energy"), batch.target("forces")
    print(f"training step (forward, forces, backward, AdamW), egnn-paper, 32 emt-s2ef frames "
          f"({batch.num_nodes} atoms, {batch.total_edges} edges), {torch.get_num_threads()} thread(s)")
    results = {}
    for name, forward in peers.items():
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(forward=forward, optimizer=optimizer):
            energy, forces = energy_and_forces(forward, model, batch, create_graph=True)
            loss = (energy - target_energy).abs().mean() + (forces - target_forces).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        results[name] = timing = timed(step, repeats)
        print(f"  {name:22s} {timing}   {32e3 / timing.wall:6.1f} structures/s (wall)   "
              f"{32e3 / timing.cpu:6.1f} (cpu)")
    report(results)


def setup(description: str) -> tuple[argparse.Namespace, torch.nn.Module]:
    """Parse ``--threads`` and ``--repeats``, set the threads, build egnn-paper (seed 0)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = registry.get("model", "egnn-paper")()
    print(f"egnn-paper: {sum(p.numel() for p in model.parameters()):,} parameters, torch {torch.__version__}")
    return args, model


def main() -> None:
    args, model = setup(__doc__.splitlines()[0])
    ours = bench_forward_forces(model, same_run_peers(), args.repeats)
    print_matsciml_reference(ours)
    bench_training_step(model, same_run_peers(), args.repeats)


if __name__ == "__main__":
    main()
