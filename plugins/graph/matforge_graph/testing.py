"""Helpers for model plugins: run a model on both graph backends and compare.

In a model plugin's tests::

    from matforge_graph.testing import assert_backends_agree, graph_backend  # noqa: F401

    def test_same_on_native_and_dgl(model, graph_batch):   # graph_batch: float64 GraphBatch
        assert_backends_agree(model, graph_batch)

    def test_forward(model, graph_batch, graph_backend):  # runs once per backend
        ...

Without DGL the DGL half is skipped, except under ``MATFORGE_TEST_DGL=1`` (the ``tests-dgl``
nox session), where a missing DGL fails the test instead of hiding it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor, nn

from matforge_graph.backend import use_backend
from matforge_graph.batch import GraphBatch

REQUIRE_DGL_ENV = "MATFORGE_TEST_DGL"

#: Largest allowed |native - dgl| (also relative) per dtype: sums run in another order.
TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-5}


def dgl_available() -> bool:
    try:
        from matforge_graph.dgl_backend import import_dgl

        import_dgl()
    except ImportError:
        return False
    return True


def require_dgl() -> None:
    """Skip the calling test when DGL cannot be imported; fail under ``MATFORGE_TEST_DGL=1``."""
    if dgl_available():
        return
    message = "DGL is not importable here (it needs torch<=2.2.1): see docs/dgl.md"
    if os.environ.get(REQUIRE_DGL_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_DGL_ENV} is set but {message}")
    pytest.skip(message)


@pytest.fixture(params=["native", "dgl"])
def graph_backend(request) -> Iterator[str]:
    """Run the test once per graph backend, inside ``use_backend``."""
    if request.param == "dgl":
        require_dgl()
    with use_backend(request.param) as name:
        yield name


@dataclasses.dataclass
class BackendRun:
    """Outputs and derivatives of one run: output, ∂(w·out)/∂positions, ∂/∂strain, and the
    parameter gradients of a force-training loss (needs second derivatives)."""

    output: Tensor
    d_positions: Tensor
    d_strain: Tensor
    d_parameters: dict[str, Tensor]


def run_on_backend(fn: Callable[[GraphBatch], Tensor], batch: GraphBatch, backend: str, seed: int = 0) -> BackendRun:
    """``fn(batch)`` on ``backend`` with its derivatives (see :class:`BackendRun`)."""
    positions = batch.positions.detach().clone().requires_grad_(True)
    strain = torch.zeros(batch.num_graphs, 3, 3, dtype=positions.dtype, requires_grad=True)
    deformed = dataclasses.replace(batch, positions=positions).deformed(strain)
    with use_backend(backend):
        output = fn(deformed)
        weights = torch.randn(output.shape, dtype=output.dtype, generator=torch.Generator().manual_seed(seed))
        d_positions, d_strain = _grad((weights * output).sum(), (positions, strain))
        d_parameters: dict[str, Tensor] = {}
        params = [(k, p) for k, p in fn.named_parameters() if p.requires_grad] if isinstance(fn, nn.Module) else []
        if params:
            # Force training: the loss holds -dE/dx, so its gradient needs second derivatives.
            loss = (d_positions**2).sum() + (weights * output).sum()
            grads = _grad(loss, [p for _, p in params])
            d_parameters = {k: g for (k, _), g in zip(params, grads)}
    return BackendRun(output.detach(), d_positions.detach(), d_strain.detach(), d_parameters)


def _grad(y: Tensor, xs) -> tuple[Tensor, ...]:
    """∂y/∂xs with the graph kept; zeros for inputs ``y`` does not depend on."""
    if not y.requires_grad:
        return tuple(torch.zeros_like(x) for x in xs)
    grads = torch.autograd.grad(y, xs, create_graph=True, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads))


def assert_backends_agree(
    fn: Callable[[GraphBatch], Tensor], batch: GraphBatch, *, tolerance: float | None = None
) -> None:
    """Assert ``fn(batch)`` gives the same outputs, forces, stress derivatives and (for an
    ``nn.Module``) force-training parameter gradients on the native and the DGL backend.

    ``tolerance`` defaults to 1e-10 for float64 batches and 1e-5 for float32. Use inputs
    without exact ties if ``fn`` takes a maximum: DGL sends a tied maximum's gradient to one
    edge, torch splits it.
    """
    require_dgl()
    tol = TOLERANCES.get(batch.dtype, 1e-5) if tolerance is None else tolerance
    native = run_on_backend(fn, batch, "native")
    dgl = run_on_backend(fn, batch, "dgl")
    for name in ("output", "d_positions", "d_strain"):
        torch.testing.assert_close(getattr(dgl, name), getattr(native, name), atol=tol, rtol=tol, msg=lambda m, n=name: f"{n}: {m}")
    for key, value in native.d_parameters.items():
        torch.testing.assert_close(dgl.d_parameters[key], value, atol=tol, rtol=tol, msg=lambda m, k=key: f"gradient of {k}: {m}")
