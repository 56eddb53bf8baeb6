"""DataLoader throughput of `AtomicDataModule`: 2 worker processes vs none, interleaved.

For the ``atoms`` and the ``graph`` representation (6 Å, what EGNN reads), the training
loader (batch 32, shuffled) of the first ``--structures`` emt-s2ef devset training frames
(an index file) is iterated for whole epochs, alternating the loaders (0 workers, 2 workers,
0, 2, …) so that a busy minute of the shared machine hits both. Workers are persistent, so
after the first (untimed) epoch an epoch costs what a steady one costs. Throughput is structures/s of wall time, the median of
``--rounds`` passes; the ratio is the 2-worker figure over the single-process one in the
same run (> 1: the workers help).

The main process's CPU time per batch is printed too: with workers it is what receiving a
batch costs, a figure that the machine's load does not move.

Issue 17 (2026-12, before batches were pickled by value) measured, on the project's 2-core
machine: atoms 851 (2 workers) vs 15,435 (none) structures/s, graph 740 vs 1,807; context
only.

    OMP_NUM_THREADS=1 python benchmarks/bench_dataloader.py [--rounds 7] [--structures 640]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _report import record

from matforge.data import AtomicDataModule
from matforge.data.split import INDEX_FORMAT
from matforge.devsets.catalog import resolve_dataset_path


def index_file(folder: str, count: int) -> str:
    """An index file naming the first ``count`` emt-s2ef training frames."""
    path = Path(folder) / "subset.json"
    dataset = resolve_dataset_path("devset:emt-s2ef/train")
    path.write_text(json.dumps({"format": INDEX_FORMAT, "dataset": str(dataset), "indices": list(range(count))}))
    return str(path)


def loader(representation: str, workers: int, train: str, args: argparse.Namespace):
    extra = {"representation_args": {"cutoff": 6.0}} if representation == "graph" else {}
    module = AtomicDataModule(
        train=train,
        batch_size=args.batch_size,
        num_workers=workers,
        representation=representation,
        **extra,
    )
    module.setup("fit")
    return module.train_dataloader()


def one_pass(load) -> tuple[float, float, int, int]:
    """Wall and main-process CPU seconds of one epoch, the structures and batches it yielded."""
    start, cpu = time.perf_counter(), time.process_time()
    structures = batches = 0
    for batch in load:
        structures += batch.num_graphs
        batches += 1
    return time.perf_counter() - start, time.process_time() - cpu, structures, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--structures", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--representations", nargs="*", default=["atoms", "graph"])
    args = parser.parse_args()
    print(f"emt-s2ef devset train loader, {args.structures} structures, batch {args.batch_size}, "
          f"{args.rounds} interleaved epochs, 0 vs {args.workers} persistent workers")  # fmt: skip
    folder = tempfile.TemporaryDirectory()
    train = index_file(folder.name, args.structures)
    for representation in args.representations:
        loaders = {k: loader(representation, k, train, args) for k in (0, args.workers)}
        rates: dict[int, list[float]] = {k: [] for k in loaders}
        main_cpu: dict[int, list[float]] = {k: [] for k in loaders}
        for load in loaders.values():
            one_pass(load)  # warm-up: starts the workers, opens the shards
        for k in range(args.rounds):
            order = list(loaders) if k % 2 == 0 else list(loaders)[::-1]
            for workers in order:
                seconds, cpu, structures, batches = one_pass(loaders[workers])
                rates[workers].append(structures / seconds)
                main_cpu[workers].append(1e3 * cpu / batches)
        single, multi = (statistics.median(rates[k]) for k in loaders)
        spread = {k: (max(v) - min(v)) / 2 for k, v in rates.items()}
        print(f"  {representation:6s} 0 workers {single:9.1f} structures/s (± {spread[0]:.0f})   "
              f"{args.workers} workers {multi:9.1f} (± {spread[args.workers]:.0f})   "
              f"ratio {multi / single:.2f}x")  # fmt: skip
        cpu_single, cpu_multi = (statistics.median(main_cpu[k]) for k in loaders)
        print(f"         main-process CPU per batch: {cpu_single:.2f} ms with 0 workers, {cpu_multi:.2f} ms "
              f"with {args.workers} (what the training loop waits for when the workers keep up)")  # fmt: skip
        record(f"DataLoader {representation}, main-process CPU per batch, {args.workers} workers vs 0", cpu_multi,
               "ms", peer="0 workers", peer_value=cpu_single, higher_is_better=False)  # fmt: skip
        record(f"DataLoader {representation}, {args.workers} workers vs 0 (wall)", multi, "structures/s",
               peer="0 workers", peer_value=single, spread=spread[args.workers],
               context="issue 17 before: atoms 851 vs 15,435, graph 740 vs 1,807 structures/s")  # fmt: skip


if __name__ == "__main__":
    main()
