"""Numerical parity with the public reference package ``geometric-algebra-attention`` (PyPI
0.5.1, pytorch backend; used here as a test oracle only): same inputs, same weights, same
outputs to 1e-10 in float64, for every product mode, merge and join, normalised products,
invariant, multivector-valued and tied attention, reduced or not, with padded slots."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from matforge_gala import algebra
from matforge_gala.attention import GeometricAttention

gaa = pytest.importorskip("geometric_algebra_attention.pytorch")
reference_algebra = pytest.importorskip("geometric_algebra_attention.pytorch.geometric_algebra")

ATOL = 1e-10


def random_multivectors(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_geometric_product_matches_the_reference():
    a, b = random_multivectors(50, seed=1), random_multivectors(50, seed=2)
    torch.testing.assert_close(algebra.geometric_product(a, b), reference_algebra.mvecmvec(a, b), rtol=0, atol=ATOL)


def test_product_is_associative_and_vectors_square_to_their_length():
    a, b, c = (random_multivectors(20, seed=s) for s in (3, 4, 5))
    gp = algebra.geometric_product
    torch.testing.assert_close(gp(gp(a, b), c), gp(a, gp(b, c)), rtol=0, atol=ATOL)
    v = algebra.vector_to_multivector(torch.randn(20, 3, dtype=torch.float64))
    square = gp(v, v)
    torch.testing.assert_close(square[:, 0], (v**2).sum(-1), rtol=0, atol=ATOL)
    assert float(square[:, 1:].abs().max()) < ATOL


def test_invariants_match_the_reference():
    m = random_multivectors(30, seed=6)
    torch.testing.assert_close(algebra.invariants(m), reference_algebra.mvecmvec_invariants(m), rtol=0, atol=ATOL)


class Wrapped(nn.Module):
    """One of our nets, callable the way the reference calls its score/value nets."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def reference_layer(ours: GeometricAttention) -> nn.Module:
    """The reference layer of the same kind and settings, with our nets and kernels."""
    settings = dict(
        reduce=ours.reduce, merge_fun=ours.merge, join_fun=ours.join, rank=2, invariant_mode=ours.invariant_mode,
        covariant_mode=ours.covariant_mode, include_normalized_products=ours.normalized_products,
    )
    score, value = Wrapped(ours.score_net), Wrapped(ours.value_net)
    if ours.kind == "invariant":
        layer = gaa.MultivectorAttention(ours.width, score, value, **settings)
    else:
        cls = gaa.Multivector2MultivectorAttention if ours.kind == "multivector" else gaa.TiedMultivectorAttention
        layer = cls(ours.width, score, value, Wrapped(ours.scale_net), **settings)
    layer = layer.double()
    with torch.no_grad():
        for name in ("merge_kernels", "join_kernels"):
            if hasattr(ours, name):
                for theirs, mine in zip(getattr(layer, name), getattr(ours, name)):
                    theirs.copy_(mine)
        if getattr(ours, "vector_kernels", None) is not None:
            layer.vector_kernels.copy_(ours.vector_kernels)
    return layer


CASES = [
    (kind, reduce, merge, join, inv, cov, normalized)
    for kind, reduce in (("invariant", False), ("invariant", True), ("multivector", False), ("tied", False))
    for merge, join in itertools.product(("mean", "concat"), repeat=2)
    for inv, cov, normalized in (("single", "single", False), ("partial", "partial", False), ("full", "full", False), ("full", "partial", True))
]


@pytest.mark.parametrize(("kind", "reduce", "merge", "join", "invariant_mode", "covariant_mode", "normalized"), CASES)
def test_attention_matches_the_reference(kind, reduce, merge, join, invariant_mode, covariant_mode, normalized):
    torch.manual_seed(0)
    width = 6
    ours = GeometricAttention(
        width, kind, reduce=reduce, merge=merge, join=join, invariant_mode=invariant_mode,
        covariant_mode=covariant_mode, normalized_products=normalized,
    ).double()
    if getattr(ours, "vector_kernels", None) is not None:
        with torch.no_grad():  # away from the 0.05 initial scale, so every term is exercised
            ours.vector_kernels.normal_()
    theirs = reference_layer(ours)
    m = random_multivectors(4, 5, seed=7)
    v = torch.randn(4, 5, width, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 1, 0]], dtype=torch.bool)
    m, v = torch.where(mask[..., None], m, 0.0), torch.where(mask[..., None], v, 0.0)
    with torch.no_grad():
        new_m, new_v = ours(m, v, mask)
        expected = theirs((m, v), mask=mask)
    if kind == "tied":
        expected_m, expected_v = expected
    elif kind == "multivector":
        expected_m, expected_v = expected, None
    else:
        expected_m, expected_v = None, expected
    rows = mask[..., None]  # the reference gives padded rows garbage; ours gives zeros
    if expected_v is not None:
        if reduce:
            torch.testing.assert_close(new_v, expected_v, rtol=0, atol=ATOL)
        else:
            torch.testing.assert_close(torch.where(rows, new_v, 0.0), torch.where(rows, expected_v, 0.0), rtol=0, atol=ATOL)
            assert float(new_v[~mask].abs().max()) == 0.0
    if expected_m is not None:
        torch.testing.assert_close(torch.where(rows, new_m, 0.0), torch.where(rows, expected_m, 0.0), rtol=0, atol=ATOL)
        assert float(new_m[~mask].abs().max()) == 0.0


def test_momentum_normalisations_match_the_reference():
    from matforge_gala.normalisation import MomentumLayerNorm, MomentumNorm

    x = torch.randn(3, 4, 5, dtype=torch.float64) * 3 + 1
    ours, theirs = MomentumNorm(5).double().train(), gaa.MomentumNormalization(5).double().train()
    theirs.momentum.fill_(0.99)  # its buffer was float32 0.99 before .double()
    for _ in range(3):
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=ATOL)
    m = random_multivectors(3, 4, seed=8) * 5
    ours_m, theirs_m = MomentumLayerNorm().double().train(), gaa.MomentumLayerNormalization().double().train()
    theirs_m.momentum.fill_(0.99)
    for _ in range(3):
        torch.testing.assert_close(ours_m(m), theirs_m(m), rtol=0, atol=ATOL)
    torch.testing.assert_close(ours_m.eval()(m), theirs_m.eval()(m), rtol=0, atol=ATOL)
