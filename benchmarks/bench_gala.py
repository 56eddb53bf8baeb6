"""GALA training steps (S2EF: energy + forces by autograd, L1 losses, AdamW) for
``gala-paper`` on emt-s2ef train structures: our point clouds vs the same layers on the dense
layout of the public implementation, measured in the same run.

* ours: the preset's ``pointcloud`` representation (OC20 centres: adsorbate, surface and 4
  sampled subsurface atoms; neighbours within 4 Å, periodic images included, at most 8);
* dense: every atom a centre, every other atom of its structure a neighbour, no cutoff, no
  periodic images, padded to the largest structure (the public implementation's N×N clouds,
  which grow as N³ per structure). Same weights, same layers (the cutoff set beyond any
  distance, so no slot is masked and the envelope is ~1).

Each measurement runs in a fresh child process on one thread: CPU time per training step
(``time.process_time``; median of ``--steps`` after one warm-up step) and peak memory (the
rise of the process's peak RSS over its RSS before the first step: torch's CPU allocations
are invisible to tracemalloc). Layouts are interleaved ours / dense / ours / dense.

The dense layout of 8 structures needs tens of GB for a training step of this model, beyond a
shared machine; it is measured on ``--dense-structures`` structures (the batch's first ones)
(the smallest of the batch) and ours is measured on the same ones too, for a like-for-like ratio; the dense figure for the
whole batch is then scaled by its number of tuples (memory and time are linear in the
tuple count C·K², K the padded cloud size) and printed as an estimate.

Peer figures for context (not ratios; ../shared/reference/FACTS.md §2, Dec 2026, torch 2.2.1,
one thread): the public matsciml GALA at the paper's settings took 2.7 s for a forward pass on
one 30-atom structure, 16.9 s on 4, 1.5 GB peak RSS for 4, and returned NaN.

    OMP_NUM_THREADS=1 python benchmarks/bench_gala.py [--batch 8] [--steps 3] [--dense-structures 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from _report import record


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def dense_batch(structures, dtype):
    """Every atom a centre; every other atom of its structure a neighbour (image 0)."""
    import torch

    from matforge_pointcloud.batch import PointCloudBatch

    base = PointCloudBatch.base_fields(structures, dtype)
    k = max(s.num_atoms for s in structures) - 1
    centres, neighbours, mask, offset = [], [], [], 0
    for s in structures:
        n = s.num_atoms
        others = torch.tensor([[j for j in range(n) if j != i] for i in range(n)], dtype=torch.int64).reshape(n, n - 1)
        rows = torch.arange(n)[:, None].expand(n, k).clone()
        rows[:, : n - 1] = others
        centres.append(torch.arange(n) + offset)
        neighbours.append(rows + offset)
        mask.append(torch.arange(k)[None, :].expand(n, k) < n - 1)
        offset += n
    counts = torch.tensor([s.num_atoms for s in structures])
    c = int(counts.sum())
    return PointCloudBatch(
        **base,
        centres=torch.cat(centres),
        neighbours=torch.cat(neighbours),
        shifts=torch.zeros((c, k, 3), dtype=torch.int8),
        mask=torch.cat(mask),
        centre_batch=torch.repeat_interleave(torch.arange(len(structures)), counts),
        num_centres=counts,
    )


def smallest(data, batch_size: int, count: int) -> list:
    """The ``count`` smallest structures of the batch (the dense layout grows as N³)."""
    batch = [data[k] for k in range(batch_size)]
    return sorted(batch, key=lambda s: s.num_atoms)[:count]


def child(layout: str, count: int, steps: int, batch_size: int) -> None:
    """One measurement; prints a JSON line."""
    import torch

    from matforge.data import open_dataset
    from matforge.interfaces import build_representation
    from matforge.registry import registry

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = open_dataset("devset:emt-s2ef/train")
    structures = [data[k] for k in range(count)] if count == batch_size else smallest(data, batch_size, count)
    args = {} if layout == "ours" else {"cutoff": 1e6}
    model = registry.get("model", "gala-paper")(**args).train()
    if layout == "ours":
        rep = build_representation(model)
        batch = rep.collate([rep(s) for s in structures])
    else:
        batch = dense_batch(structures, torch.float32)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    energy_target = torch.tensor([float(s.targets["energy"]) for s in structures])
    force_target = torch.cat([torch.as_tensor(s.targets["forces"], dtype=torch.float32) for s in structures])

    def step() -> float:
        positions = batch.positions.requires_grad_(True)
        per_atom = model(batch)[:, 0]
        energies = per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom)
        (gradient,) = torch.autograd.grad(energies.sum(), positions, create_graph=True)
        loss = (energies - energy_target).abs().mean() + (-gradient - force_target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    before = rss_bytes()
    times, losses = [], []
    for _ in range(steps + 1):
        start = time.process_time()
        losses.append(step())
        times.append(time.process_time() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    finite = all(map(lambda x: x == x and abs(x) < float("inf"), losses)) and all(
        bool(torch.isfinite(p).all()) for p in model.parameters()
    )
    c, k = batch.mask.shape
    print(json.dumps({"times": times[1:], "peak": peak, "finite": finite, "tuples": c * k * k, "centres": c, "k": k,
                      "atoms": sum(s.num_atoms for s in structures)}))  # fmt: skip


def run(layout: str, count: int, steps: int, batch_size: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", layout, str(count), str(steps), str(batch_size)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dense-structures", type=int, default=1)
    parser.add_argument("--child", nargs=4)
    args, _ = parser.parse_known_args()  # nox -s bench passes its arguments to every script
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), int(args.child[3]))
        return
    few = args.dense_structures
    results = {("ours", args.batch): [], ("ours", few): [], ("dense", few): []}
    for _ in range(2):  # interleaved rounds
        for layout, count in results:
            results[(layout, count)].append(run(layout, count, args.steps, args.batch))

    def summary(key):
        rounds = results[key]
        times = [t for r in rounds for t in r["times"]]
        return {**rounds[0], "time": statistics.median(times), "lo": min(times), "hi": max(times),
                "peak": max(r["peak"] for r in rounds), "finite": all(r["finite"] for r in rounds)}  # fmt: skip

    ours, ours_few, dense_few = summary(("ours", args.batch)), summary(("ours", few)), summary(("dense", few))
    print(f"gala-paper training step (S2EF, forces by autograd), emt-s2ef train, one thread, {args.steps} steps x 2 rounds")
    print(f"  {'layout':44s} {'structures':>10s} {'centres x K':>12s} {'tuples':>8s} {'CPU s/step (min-max)':>22s} {'peak MB':>9s} finite")
    for name, r, count in (("ours (OC20 centres, 4 Å, K <= 8)", ours, args.batch), ("ours", ours_few, few), ("dense (all atoms x all atoms)", dense_few, few)):
        print(f"  {name:44s} {count:10d} {r['centres']:5d} x {r['k']:4d} {r['tuples']:8d} "
              f"{r['time']:8.2f} ({r['lo']:5.2f}-{r['hi']:5.2f}) {r['peak'] / 2**20:9.1f} {r['finite']}")  # fmt: skip
    memory_ratio, time_ratio = dense_few["peak"] / ours_few["peak"], dense_few["time"] / ours_few["time"]
    print(f"  measured, {few} structure(s): dense / ours peak memory {memory_ratio:.1f}x, step time {time_ratio:.1f}x")
    record(f"training step peak memory, {few} structure(s)", ours_few["peak"] / 2**20, "MB",
           peer="dense layout, same layers", peer_value=dense_few["peak"] / 2**20, higher_is_better=False)  # fmt: skip
    record(f"training step CPU time, {few} structure(s)", ours_few["time"], "s",
           peer="dense layout, same layers", peer_value=dense_few["time"], higher_is_better=False)  # fmt: skip
    from matforge.data import open_dataset

    sizes = [open_dataset("devset:emt-s2ef/train")[k].num_atoms for k in range(args.batch)]
    dense_tuples = sum(sizes) * (max(sizes) - 1) ** 2  # padded to the largest structure
    scale = dense_tuples / dense_few["tuples"]
    print(f"  estimated dense, {args.batch} structures ({dense_tuples} tuples, {scale:.1f}x the measured): "
          f"peak {dense_few['peak'] * scale / 2**30:.1f} GB, step {dense_few['time'] * scale:.0f} s CPU "
          f"(an estimate, not measured: no ratio is taken to it)")  # fmt: skip
    record(f"training step CPU time, batch {args.batch}", ours["time"], "s", higher_is_better=False,
           context=f"goal < 2 s on one thread; {args.batch / ours['time']:.1f} structures/s")  # fmt: skip
    record(f"training step structures/s, batch {args.batch}", args.batch / ours["time"], "structures/s")
    record(f"training step peak memory, batch {args.batch}", ours["peak"] / 2**20, "MB", higher_is_better=False,
           context=f"dense layout estimated {dense_few['peak'] * scale / 2**20:.0f} MB by tuple count (not measured at this size)")  # fmt: skip
    print(f"  goals: finite ({ours['finite'] and dense_few['finite']}); >= 10x less peak memory than dense at batch {args.batch}; "
          f"step < 2 s on one thread (ours {ours['time']:.2f} s, {args.batch / ours['time']:.1f} structures/s)")  # fmt: skip


if __name__ == "__main__":
    main()
