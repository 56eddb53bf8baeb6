"""MEGNet gives the same outputs, forces, stress derivatives and force-training gradients on
the native and the DGL graph backends (runs in ``nox -s tests-dgl``; skipped without DGL)."""

import pytest
import torch

from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.testing import contract_structures
from matforge_graph.testing import assert_backends_agree


@pytest.mark.parametrize(
    ("name", "args"),
    [("megnet", {}), ("megnet-paper", {}), ("megnet-paper", {"bond_readout": False}), ("megnet", {"output": "structure"})],
    ids=["megnet", "megnet-paper", "megnet-paper-is2re", "megnet-structure"],
)
def test_native_and_dgl_backends_agree(name, args):
    torch.manual_seed(0)
    model = registry.get("model", name)(**args).double().eval()
    rep = build_representation(model, dtype=torch.float64)
    batch = rep.collate([rep(s) for s in contract_structures(seed=3).values()])
    assert_backends_agree(model, batch)
