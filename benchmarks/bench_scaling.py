"""DDP overhead on this machine: epoch time of 1 vs 2 CPU processes (``matforge bench scaling``).

The same job (egnn on the emt-is2re devset, 8 structures per process and step, 3 epochs, the
first untimed) on 1 and 2 processes; the ratio is the speed-up of 2 processes, and the fitted
β of t = α·n^(−β) is printed. Two points on a 2-core machine measure DDP's overhead, not
scaling: on a GPU node run ``matforge bench scaling --accelerator gpu`` instead.

    python benchmarks/bench_scaling.py [--epochs 3] [--max-batches 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _report import record

from matforge.bench.scaling import ScalingJob, run_scaling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-batches", type=int, default=20)
    args, _ = parser.parse_known_args()
    job = ScalingJob(model="egnn", task="is2re", data="devset:emt-is2re", epochs=args.epochs, max_batches=args.max_batches)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_scaling(job, [1, 2], Path(tmp))
    one, two = (p["epoch_seconds"] for p in report["points"])
    print(f"epoch ({args.max_batches} batches of 8 per process): 1 process {one:.2f} s, 2 processes {two:.2f} s "
          f"(2 processes do twice the structures); β = {report['fit']['beta']:.2f}; {report['note']}")  # fmt: skip
    # per structure: 2 processes train 2× the structures in an epoch of the same batch count
    record("DDP epoch, structures/s, 2 processes", 2 * 8 * args.max_batches / two, "structures/s",
           peer="1 process", peer_value=8 * args.max_batches / one)  # fmt: skip
    record("scaling exponent beta (1→2 CPU processes)", report["fit"]["beta"], "", context=report["note"])


if __name__ == "__main__":
    main()
