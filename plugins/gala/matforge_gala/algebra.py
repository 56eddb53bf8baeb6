"""Geometric algebra of 3D Euclidean space, in plain torch.

A multivector is a tensor [..., 8] on the blade basis ``(1, e1, e2, e3, e12, e13, e23, e123)``
(scalar, vector, bivector, trivector). The geometric product table is derived here from the
blades' bit masks (``e_i e_i = 1``; the sign counts the swaps that reorder the factors), not
written out by hand.

For GALA's rank-2 attention within one point cloud, the *tuple products* of neighbours j and k
are built from their multivectors ``m_j`` and ``m_k`` [..., K, 8]: ``single`` mode uses
``m_j m_k``, ``partial`` adds ``m_j``, ``full`` adds ``m_k`` too (Spellings 2021), each
broadcast to the tuple grid [..., K, K, 8] (axis -3 is j, axis -2 is k).

Rotation invariants of a multivector: its scalar, the norms of its vector and bivector parts,
and its trivector (a pseudo-scalar: it changes sign under reflections, so models using it are
SO(3)- but not O(3)-invariant).
"""

from __future__ import annotations

import functools
import itertools

import torch
from torch import Tensor

from matforge.errors import InvalidValueError

#: Bit mask of each basis blade: bit 0 = e1, bit 1 = e2, bit 2 = e3.
BLADES: tuple[int, ...] = (0b000, 0b001, 0b010, 0b100, 0b011, 0b101, 0b110, 0b111)
SCALAR, VECTOR, BIVECTOR, TRIVECTOR = slice(0, 1), slice(1, 4), slice(4, 7), slice(7, 8)
MODES = ("single", "partial", "full")


def _reorder_sign(a: int, b: int) -> int:
    """Sign of the blade product ``a b`` from the swaps that sort its factors."""
    swaps, a = 0, a >> 1
    while a:
        swaps += bin(a & b).count("1")
        a >>= 1
    return -1 if swaps % 2 else 1


@functools.cache
def _table() -> list[list[float]]:
    """[64, 8]: row ``8 i + j`` is the product of blades i and j on the basis."""
    index = {mask: k for k, mask in enumerate(BLADES)}
    rows = []
    for a, b in itertools.product(BLADES, repeat=2):
        row = [0.0] * 8
        row[index[a ^ b]] = float(_reorder_sign(a, b))
        rows.append(row)
    return rows


def product_table(like: Tensor) -> Tensor:
    """The geometric product table [64, 8] on ``like``'s device, in its dtype."""
    return torch.tensor(_table(), dtype=like.dtype, device=like.device)


def left_matrix(a: Tensor) -> Tensor:
    """[..., 8] → [..., 8, 8]: the matrix ``L`` with ``a b = b @ L`` for every ``b``."""
    return (a @ product_table(a).view(8, 64)).unflatten(-1, (8, 8))


def geometric_product(a: Tensor, b: Tensor) -> Tensor:
    """``a b`` of multivectors [..., 8] (broadcasting) → [..., 8]."""
    return (b.unsqueeze(-2) @ left_matrix(a)).squeeze(-2)


def pair_products(m: Tensor) -> Tensor:
    """``m_j m_k`` for all pairs of multivectors ``m`` [..., K, 8] → [..., K, K, 8], as one
    batched matrix product per j (no [..., K, K, 64] intermediate, which dominated training
    steps' memory traffic)."""
    return m.unsqueeze(-3) @ left_matrix(m)


def vector_to_multivector(vectors: Tensor) -> Tensor:
    """Vectors [..., 3] → multivectors [..., 8] with only the vector part set."""
    zeros = vectors.new_zeros(())
    scalar = zeros.expand(*vectors.shape[:-1], 1)
    return torch.cat([scalar, vectors, zeros.expand(*vectors.shape[:-1], 4)], dim=-1)


def safe_norm(x: Tensor) -> Tensor:
    """Euclidean norm over the last axis, keepdim, as ``sqrt(|x|² + δ²) − δ`` with δ the
    dtype's machine epsilon: exactly 0 at 0 with gradient 0 there, and a second derivative
    bounded by 1/δ, so double backward (force training) stays finite where a norm's argument
    vanishes (the bivector of ``m_j m_j``, the vector part of vector products). Differs from
    the norm by less than δ."""
    delta = torch.finfo(x.dtype).eps
    return torch.sqrt((x * x).sum(-1, keepdim=True) + delta**2) - delta


def invariants(m: Tensor) -> Tensor:
    """[..., 8] → [..., 4]: scalar, |vector|, |bivector|, trivector."""
    return torch.cat([m[..., SCALAR], safe_norm(m[..., VECTOR]), safe_norm(m[..., BIVECTOR]), m[..., TRIVECTOR]], dim=-1)


def tuple_products(m: Tensor, mode: str, normalized: bool = False) -> list[Tensor]:
    """Products of the rank-2 tuples (j, k) of multivectors ``m`` [..., K, 8], each
    [..., K, K, 8] or broadcastable to it, in the order ``m_j m_k``, then ``m_j``
    (``partial``, ``full``), then ``m_k`` (``full``). With ``normalized`` each product is
    followed by the list again divided by its norm (all 8 components, at least 1e-7)."""
    if mode not in MODES:
        raise InvalidValueError(f"product mode must be one of {MODES}, got {mode!r}")
    left, right = m.unsqueeze(-2), m.unsqueeze(-3)  # j on axis -3, k on axis -2
    products = [pair_products(m)]
    if mode in ("partial", "full"):
        products.append(left)
    if mode == "full":
        products.append(right)
    if normalized:
        products += [p / safe_norm(p).clamp(min=1e-7) for p in products]
    return products


def num_products(mode: str, normalized: bool = False) -> int:
    """How many products :func:`tuple_products` returns."""
    return {"single": 1, "partial": 2, "full": 3}[mode] * (2 if normalized else 1)


def tuple_invariants(m: Tensor, mode: str, normalized: bool = False) -> Tensor:
    """Invariants of the tuple products, concatenated: [..., K, K, 4 · num_products]."""
    products = tuple_products(m, mode, normalized)
    shape = products[0].shape[:-1]
    return torch.cat([invariants(p).expand(*shape, 4) for p in products], dim=-1)
