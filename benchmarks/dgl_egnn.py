"""EGNN on the native vs the DGL graph backend, in the bench-dgl stack (python 3.11,
torch 2.2.1, dgl 2.1.0: the stack the public matsciml EGNN was timed on).

Same model, same weights, same batches (synthetic and emt-s2ef devset, as in
``bench_egnn.py``); only the message-passing ops differ (``matforge_graph.backend.use_backend``).
The backends run in turns (A B A B …) and every ratio is between figures of this run. The
matsciml PLEGNN figures quoted in ``bench_egnn.py`` are printed as context only.

    OMP_NUM_THREADS=1 python benchmarks/dgl_egnn.py [--threads 1] [--rounds 20]
"""

from __future__ import annotations

from collections.abc import Callable

from bench_egnn import bench_batch, devset_batch, setup, synthetic_batch

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
    if args.only != "devset":
        bench_batch("synthetic batch", model, synthetic_batch(model), backends, args.rounds, context=False)
    if args.only != "synthetic":
        batch = devset_batch(model)
        if batch is not None:
            bench_batch("emt-s2ef devset batch", model, batch, backends, args.rounds, context=True)


if __name__ == "__main__":
    main()
