"""MEGNet on the native vs the DGL graph backend, in the bench-dgl stack (python 3.11,
torch 2.2.1, dgl 2.1.0: the stack the public matsciml MEGNet was timed on).

Same model (``megnet-paper``), same weights, same batches as ``bench_megnet.py``; only the
message-passing ops differ (``matforge_graph.backend.use_backend``). The public matsciml
package cannot be installed from PyPI, so its 545 ms forward+forces on the synthetic batch
is printed as a reference, not as a measurement of this run.

    OMP_NUM_THREADS=1 python benchmarks/dgl_megnet.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

from bench_megnet import bench_forward_forces, bench_training_step, record_against_peer, setup
from dgl_egnn import on_backend


def main() -> None:
    args, model = setup(__doc__.splitlines()[0])
    backends = {"native backend": on_backend("native"), "DGL backend": on_backend("dgl")}
    record_against_peer("megnet-paper forward+forces, 32x30 atoms, native vs DGL ops", bench_forward_forces(model, backends, args.repeats))
    training = bench_training_step(model, backends, args.repeats)
    if training is not None:
        record_against_peer("megnet-paper training step, native vs DGL ops", training)


if __name__ == "__main__":
    main()
