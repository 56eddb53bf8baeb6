"""Scatter-sum forward + backward on a 32-graph batch: native torch vs DGL's kernels.

The batch is 32 EMT-devset-like slabs (see bench_neighbors.py) as radius graphs at 6 Å, with
64 float32 features per edge; the op is ``matforge_graph.ops.aggregate(batch, e, "sum")``
(edges → destination atoms) and the backward of a weighted sum of its output. Both backends
run in the same process on the same batch, in turns (A B A B …, :mod:`timing`); DGL's graph
is built once (cached on the batch), as in training. Runs in ``nox -s bench-dgl`` (torch 2.2.1 + DGL 2.1.0, CPU).

    OMP_NUM_THREADS=1 python benchmarks/dgl_ops.py [--graphs 32] [--width 64] [--repeats 200]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _report import record
from bench_neighbors import make_slab, to_structure
from timing import interleaved, print_table

from matforge_graph import ops, use_backend
from matforge_graph.batch import GraphBatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--rounds", "--repeats", type=int, default=50)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    batch = GraphBatch.collate([to_structure(make_slab(rng)) for _ in range(args.graphs)], cutoff=6.0)
    edges = torch.randn(batch.total_edges, args.width, requires_grad=True)
    weights = torch.randn(batch.num_nodes, args.width)

    def step() -> None:
        out = ops.aggregate(batch, edges, "sum")
        (out * weights).sum().backward()
        edges.grad = None

    def on(backend: str):
        def run() -> None:
            with use_backend(backend):
                for _ in range(5):
                    step()

        return run

    with use_backend("dgl"):
        dgl_out = ops.aggregate(batch, edges, "sum")
    assert torch.allclose(dgl_out, ops.aggregate(batch, edges, "sum"), atol=1e-4)
    results = interleaved({"native (index_add)": on("native"), "dgl (copy_e_sum)": on("dgl")}, rounds=args.rounds, warmup=2)
    print_table(f"scatter-sum fwd+bwd x 5, {args.graphs} graphs, {batch.num_nodes} atoms, {batch.total_edges} edges, "
                f"width {args.width}, float32, torch {torch.__version__}, {torch.get_num_threads()} thread(s)", results)  # fmt: skip
    native, dgl = results.values()
    record("scatter-sum fwd+bwd x 5 (CPU)", native.cpu, "ms", peer="DGL copy_e_sum", peer_value=dgl.cpu,
           higher_is_better=False, spread=native.cpu_spread)  # fmt: skip


if __name__ == "__main__":
    main()
