"""``matforge evaluate`` throughput against the model's own forward+forces at the same batch size.

Ours: one whole :func:`matforge.training.evaluation.evaluate` call on one split of the
``emt-s2ef`` devset (checkpoint load, dataset reads, graph construction in the loader, the
task's metrics and losses, the baselines, predictions written), in structures per second.
Peer, measured in the same run and interleaved with it: the same task's forward+forces
(``task(batch)``: energies and forces = −∂E/∂x, no training graph) over the same split's
structures, batched beforehand at the same batch size. Goal (issue 18, item 6): ≥ 0.7.

    OMP_NUM_THREADS=1 python benchmarks/bench_evaluate.py [--model egnn-paper] [--split val_id]
                                                          [--batch-size 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _report import record

GOAL = 0.7


def trained_checkpoint(model: str, folder: Path) -> Path:
    """An S2EF task on ``model`` after one training step on emt-s2ef, saved as a checkpoint."""
    import pytorch_lightning as pl

    from matforge.data import AtomicDataModule
    from matforge.tasks import EnergyForceTask

    torch.manual_seed(0)
    task = EnergyForceTask(model)
    data = AtomicDataModule(train="devset:emt-s2ef/train", batch_size=4)
    trainer = pl.Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(task, datamodule=data)
    data.dataset("train").close()
    path = folder / "bench.ckpt"
    trainer.save_checkpoint(path)
    return path


def forward_forces_seconds(task, batches) -> tuple[float, float]:
    """Wall and CPU seconds of the task's forward+forces over ``batches``."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():  # forces enable autograd for themselves
        for batch in batches:
            task(batch.to(task.device))
    if task.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def evaluate_seconds(checkpoint: Path, split: str, batch_size: int, out: Path, device: str) -> tuple[float, float, int]:
    """Wall and CPU seconds of one evaluate() call on ``split``, and the structures it scored."""
    from matforge.training.evaluation import evaluate

    start, cpu = time.perf_counter(), time.process_time()
    result = evaluate(checkpoint, data="devset:emt-s2ef", splits=[split], batch_size=batch_size, out=out,
                      accelerator=device, progress=False)  # fmt: skip
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, result.timings[split].structures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="egnn-paper")
    parser.add_argument("--split", default="val_id")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or gpu (both candidates run there)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from matforge.data import open_dataset
    from matforge.interfaces import build_representation
    from matforge.tasks import load_task

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = trained_checkpoint(args.model, Path(tmp))
        task = load_task(checkpoint).eval().to("cuda" if args.device == "gpu" else "cpu")
        dataset = open_dataset(f"devset:emt-s2ef/{args.split}")
        structures = list(dataset)
        dataset.close()
        representation = build_representation(task.backbone, dtype=task.dtype)
        batches = [representation.collate([representation(s) for s in structures[k : k + args.batch_size]])
                   for k in range(0, len(structures), args.batch_size)]  # fmt: skip
        forward_forces_seconds(task, batches[:2])  # warm-up
        ours, peer = [], []
        for _ in range(args.repeats):  # interleaved: A B A B …
            ours.append(evaluate_seconds(checkpoint, args.split, args.batch_size, Path(tmp) / "evaluation", args.device))
            peer.append(forward_forces_seconds(task, batches))
    count = ours[0][2]
    ours_rate = count / statistics.median(w for w, _, _ in ours)
    peer_rate = len(structures) / statistics.median(w for w, _ in peer)
    print(f"{args.model}, emt-s2ef/{args.split} ({count} structures), batch {args.batch_size}, "
          f"{args.device}, {args.threads} thread(s), {args.repeats} interleaved repeats (median)")  # fmt: skip
    print(f"  evaluate():        {ours_rate:7.1f} structures/s  (wall {statistics.median(w for w, _, _ in ours):.2f} s, "
          f"CPU {statistics.median(c for _, c, _ in ours):.2f} s)")  # fmt: skip
    print(f"  forward+forces:    {peer_rate:7.1f} structures/s  (wall {statistics.median(w for w, _ in peer):.2f} s, "
          f"CPU {statistics.median(c for _, c in peer):.2f} s)")  # fmt: skip
    ours_cpu_rate = count / statistics.median(c for _, c, _ in ours)
    peer_cpu_rate = len(structures) / statistics.median(c for _, c in peer)
    print(f"  ratio evaluate / forward+forces: {ours_rate / peer_rate:.2f} wall, "
          f"{ours_cpu_rate / peer_cpu_rate:.2f} CPU time (goal >= {GOAL})")  # fmt: skip
    spread = max(w for w, _, _ in ours) - min(w for w, _, _ in ours)
    record("evaluate throughput", ours_rate, "structures/s", peer="forward+forces, same batches", peer_value=peer_rate,
           spread=spread, context=f"{args.model}, emt-s2ef/{args.split}, batch {args.batch_size}, {args.device}")  # fmt: skip
    record("evaluate throughput per CPU second", ours_cpu_rate, "structures/CPU-s", peer="forward+forces, same batches",
           peer_value=peer_cpu_rate, context="process CPU time, less sensitive to a loaded machine")  # fmt: skip


if __name__ == "__main__":
    main()
