"""Scatter-sum forward + backward on a 32-graph batch: native torch vs DGL's kernels.

The batch is 32 EMT-devset-like slabs (see bench_neighbors.py) as radius graphs at 6 Å, with
64 float32 features per edge; the op is ``matforge_graph.ops.aggregate(batch, e, "sum")``
(edges → destination atoms) and the backward of a weighted sum of its output. Both backends
run in the same process on the same batch; DGL's graph is built once (cached on the batch),
as in training. Runs in ``nox -s bench-dgl`` (torch 2.2.1 + DGL 2.1.0, CPU).

    OMP_NUM_THREADS=1 python benchmarks/dgl_ops.py [--graphs 32] [--width 64] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_neighbors import make_slab, to_structure

from matforge_graph import ops, use_backend
from matforge_graph.batch import GraphBatch


def median_ms(step, repeats: int) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    batch = GraphBatch.collate([to_structure(make_slab(rng)) for _ in range(args.graphs)], cutoff=6.0)
    edges = torch.randn(batch.total_edges, args.width, requires_grad=True)
    weights = torch.randn(batch.num_nodes, args.width)

    def step() -> None:
        out = ops.aggregate(batch, edges, "sum")
        (out * weights).sum().backward()
        edges.grad = None

    results = {}
    for backend in ("native", "dgl"):
        with use_backend(backend):
            results[backend] = median_ms(step, args.repeats)
    with use_backend("dgl"):
        dgl_out = ops.aggregate(batch, edges, "sum")
    assert torch.allclose(dgl_out, ops.aggregate(batch, edges, "sum"), atol=1e-4)

    print(f"scatter-sum fwd+bwd, {args.graphs} graphs, {batch.num_nodes} atoms, {batch.total_edges} edges, width {args.width}, float32, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"  native (index_add)      {results['native']:8.3f} ms")
    print(f"  dgl (copy_e_sum)        {results['dgl']:8.3f} ms")
    print(f"  ratio dgl / native      {results['dgl'] / results['native']:8.2f}  (> 1: native faster)")


if __name__ == "__main__":
    main()
