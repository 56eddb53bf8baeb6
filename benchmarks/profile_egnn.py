"""Per-op CPU profile of egnn-paper's force-training step on the emt-s2ef devset batch.

Prints torch.profiler's table (self CPU time per op over ``--steps`` steps, one thread) and a
summary: the share of matrix products and the multiply-adds they do per step, against this
machine's measured sgemm rate on the largest edge-wise product, which bounds how fast the
step can be without doing fewer products. Not a ``bench_*`` script: it records no figures.

    OMP_NUM_THREADS=1 python benchmarks/profile_egnn.py [--steps 5] [--figure training]
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_egnn import devset_batch, energy_and_forces, forward_ours
from torch.profiler import ProfilerActivity, profile

from matforge.registry import registry

MATMULS = ("aten::mm", "aten::addmm", "aten::bmm")


def sgemm_rate(rows: int, width: int = 64, repeats: int = 20) -> float:
    """Multiply-adds per second of [rows, width] @ [width, width] (the φ_x hidden layer)."""
    a, b = torch.randn(rows, width), torch.randn(width, width)
    for _ in range(3):
        a @ b
    start = time.process_time()
    for _ in range(repeats):
        a @ b
    return repeats * rows * width * width / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--figure", choices=["training", "forces"], default="training")
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = registry.get("model", "egnn-paper")()
    batch = devset_batch(model)
    target_energy, target_forces = batch.target("energy"), batch.target("forces")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        if args.figure == "forces":
            energy_and_forces(forward_ours, model, batch)
            return
        energy, forces = energy_and_forces(forward_ours, model, batch, create_graph=True)
        loss = (energy - target_energy).abs().mean() + (forces - target_forces).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    print(f"{args.figure} step, egnn-paper, {batch.num_nodes} atoms, {batch.total_edges} edges, "
          f"{args.steps} steps, torch {torch.__version__}")  # fmt: skip
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=34))
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMULS)
    flops = sum(e.flops for e in events if e.key in MATMULS and e.flops) / 2 / args.steps
    rate = sgemm_rate(batch.total_edges)
    print(f"matrix products: {100 * matmul / total:.0f}% of self time (the profiler clocks wall time), {flops / 1e9:.2f} G multiply-adds "
          f"per step; sgemm [E, 64] @ [64, 64] here: {rate / 1e9:.1f} G multiply-adds/s CPU, so the products "
          f"alone need >= {1e3 * flops / rate:.0f} ms per step")  # fmt: skip


if __name__ == "__main__":
    main()
