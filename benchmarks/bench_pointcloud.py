"""Point-cloud batches of EMT S2EF devset slabs: matforge's padded centres × K layout vs the
dense N×N×200 layout of the toolkit paper (built here, in the same run).

The paper's layout (Open MatSci ML Toolkit, §3.3; ../shared/reference/FACTS.md §1–2): every
structure is a full N×N grid of pairs, each with a 200-wide pair one-hot (100 for the
centre's element, 100 for the neighbour's), padded to the batch's largest structure, no
periodic images. Ours: the ``pointcloud`` representation (neighbours within the cutoff,
periodic images included, at most K, integer indices; models embed the species).

Measured per batch (the representation's per-structure work and the collate, as a
DataLoader worker does them), interleaved ours / dense / ours / dense …:

* build time: CPU time (``time.process_time``), median of ``--repeats`` with min–max;
* batch memory: bytes of every tensor in the batch (what is copied to the device);
* peak memory: the peak of ``tracemalloc`` during the build. It sees numpy buffers, where both
  builders allocate their arrays (torch tensors created by torch ops are invisible to it, so
  the paper's one-hot option of ours, built by torch, is quoted by batch memory only).

    OMP_NUM_THREADS=1 python benchmarks/bench_pointcloud.py [--cutoff 6] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np
import torch
from _report import record

from matforge.data import open_dataset
from matforge.structure import AtomicStructure
from matforge_pointcloud.representation import PointCloudRepresentation

ONE_HOT = 100  # elements per atom in the paper's pair one-hot (200 per pair)


def dense_paper_batch(structures: Sequence[AtomicStructure]) -> dict[str, torch.Tensor]:
    """The paper's layout: [B, N, N, 200] pair one-hot, [B, N, 3] positions, [B, N] mask,
    N the largest structure of the batch."""
    n = max(s.num_atoms for s in structures)
    features = np.zeros((len(structures), n, n, 2 * ONE_HOT), dtype=np.float32)
    positions = np.zeros((len(structures), n, 3), dtype=np.float32)
    mask = np.zeros((len(structures), n), dtype=bool)
    for b, s in enumerate(structures):
        m, z = s.num_atoms, s.atomic_numbers - 1
        features[b, :m, :m, z[:, None]] = 1.0  # centre i's element, for every pair (i, j)
        features[b, :m, :m, ONE_HOT + z[None, :]] = 1.0  # neighbour j's element
        positions[b, :m] = s.positions
        mask[b, :m] = True
    return {"pair_features": torch.from_numpy(features), "positions": torch.from_numpy(positions), "mask": torch.from_numpy(mask)}


def tensor_bytes(batch) -> int:
    """Bytes of every tensor of a batch (a dataclass or a dict of tensors)."""
    values = (
        [getattr(batch, f.name) for f in dataclasses.fields(batch)] if dataclasses.is_dataclass(batch) else list(batch.values())
    )
    total = 0
    for v in values:
        if isinstance(v, torch.Tensor):
            total += v.numel() * v.element_size()
        elif isinstance(v, dict):
            total += sum(t.numel() * t.element_size() for t in v.values() if isinstance(t, torch.Tensor))
    return total


def measure(build: Callable[[], object]) -> tuple[float, int, int]:
    """CPU seconds of one build, then the traced peak bytes and batch bytes of another (the
    tracer slows allocations down, so it is off while timing)."""
    start = time.process_time()
    build()
    seconds = time.process_time() - start
    tracemalloc.start()
    batch = build()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, tensor_bytes(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--max-neighbors", type=int, default=32, help="K of the bounded variants")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    args, _ = parser.parse_known_args()  # nox -s bench passes its arguments to every script

    data = open_dataset("devset:emt-s2ef/train")
    variants = {
        "ours, all atoms, all neighbours": PointCloudRepresentation(cutoff=args.cutoff),
        f"ours, all atoms, K={args.max_neighbors}": PointCloudRepresentation(cutoff=args.cutoff, max_neighbors=args.max_neighbors),
        f"ours, OC20 centres (4 subsurface), K={args.max_neighbors}": PointCloudRepresentation(
            cutoff=args.cutoff, max_neighbors=args.max_neighbors, centres="oc20", subsurface_centres=4
        ),
        f"ours + paper one-hot, all atoms, K={args.max_neighbors}": PointCloudRepresentation(
            cutoff=args.cutoff, max_neighbors=args.max_neighbors, one_hot=True
        ),
    }
    for size in args.batch_sizes:
        report(args, [data[k] for k in range(size)], variants)


def report(args: argparse.Namespace, structures: list[AtomicStructure], variants: dict[str, PointCloudRepresentation]) -> None:
    """Measure every layout on one batch of ``structures``, interleaved, and print the table."""
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in [*variants, "dense"]}
    builders: dict[str, Callable[[], object]] = {
        name: (lambda rep=rep: rep.collate([rep(s) for s in structures])) for name, rep in variants.items()
    }
    builders["dense"] = lambda: dense_paper_batch(structures)
    for _ in range(args.repeats):  # interleaved: every candidate once per round
        for name, build in builders.items():
            results[name].append(measure(build))

    def summary(name: str) -> tuple[float, float, float, int, int]:
        times = [r[0] for r in results[name]]
        return statistics.median(times), min(times), max(times), max(r[1] for r in results[name]), results[name][0][2]

    dense_time, _, _, dense_peak, dense_bytes = summary("dense")
    atoms, n_max = sum(s.num_atoms for s in structures), max(s.num_atoms for s in structures)
    print(
        f"point clouds, batch of {len(structures)} emt-s2ef train slabs ({atoms} atoms, largest {n_max}), "
        f"cutoff {args.cutoff} Å, {args.repeats} interleaved repeats"
    )
    print(f"  {'layout':52s} {'build CPU ms (min-max)':>24s} {'peak MB':>9s} {'batch MB':>9s} {'dense/ours peak':>16s} {'dense/ours batch':>17s}")
    for name in results:
        t, lo, hi, peak, nbytes = summary(name)
        label = f"dense N×N×{2 * ONE_HOT} (paper)" if name == "dense" else name
        traced = name == "dense" or not variants[name].one_hot  # torch-built one-hot is invisible
        peak_text = f"{peak / 2**20:9.3f}" if traced else f"{'n/a':>9s}"
        ratios = "" if name == "dense" else (f" {dense_peak / peak:15.1f}x" if traced else f" {'n/a':>15s} ") + f" {dense_bytes / nbytes:16.1f}x"
        print(f"  {label:52s} {1e3 * t:8.2f} ({1e3 * lo:6.2f}-{1e3 * hi:6.2f}) {peak_text} {nbytes / 2**20:9.3f}{ratios}")
        if name != "dense" and traced:
            record(f"peak build memory, batch {len(structures)}, {name}", peak / 2**20, "MB",
                   peer="dense N×N×200 (paper)", peer_value=dense_peak / 2**20, higher_is_better=False)  # fmt: skip
    print(
        f"  build time ours (all neighbours) / dense: {summary(next(iter(variants)))[0] / dense_time:.1f}x (ours "
        "searches periodic neighbours, the dense layout has none); goal: >= 10x less memory than dense at batch 8"
    )

if __name__ == "__main__":
    main()
