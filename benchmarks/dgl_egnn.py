"""EGNN on the native vs the DGL graph backend, in the bench-dgl stack (python 3.11,
torch 2.2.1, dgl 2.1.0: the stack the public matsciml EGNN was timed on).

Same model, same weights, same batches; only the message-passing ops differ
(``matforge_graph.backend.use_backend``). The public matsciml package itself cannot be
installed from PyPI (no such project there: https://pypi.org/simple/matsciml/ answers 404),
so its ~270 ms forward+forces is printed as a reference, not as a measurement of this run.

    OMP_NUM_THREADS=1 python benchmarks/dgl_egnn.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

from collections.abc import Callable

from bench_egnn import bench_forward_forces, bench_training_step, print_matsciml_reference, setup

from matforge_graph.backend import use_backend


def on_backend(name: str) -> Callable:
    """``forward(model, batch)`` with the ops on backend ``name`` (autograd records each
    op's backward, so derivatives run on the same backend)."""

    def forward(model, batch):
        with use_backend(name):
            return model(batch)

    return forward


def main() -> None:
    args, model = setup(__doc__.splitlines()[0])
    backends = {"native backend": on_backend("native"), "DGL backend": on_backend("dgl")}
    native = bench_forward_forces(model, backends, args.repeats)
    print("  matsciml EGNN: not installable from PyPI (404), not measured")
    print_matsciml_reference(native)
    bench_training_step(model, backends, args.repeats)


if __name__ == "__main__":
    main()
