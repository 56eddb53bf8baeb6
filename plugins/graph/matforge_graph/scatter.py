"""Index-level reductions over segments of rows, in plain torch.

``index`` [E] int64 assigns each row of ``src`` [E, ...] to one of ``dim_size`` segments
(nodes or graphs); the result has shape [dim_size, ...]. Segments that receive no row are 0.
All functions work under autograd (second derivatives included, for force training) and
``torch.compile``, on any device, and need not have ``index`` sorted.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _expand(index: Tensor, like: Tensor) -> Tensor:
    """``index`` [E] broadcast to ``like``'s shape [E, ...] (for scatter_reduce)."""
    return index.view(-1, *([1] * (like.dim() - 1))).expand_as(like)


def _check(src: Tensor, index: Tensor) -> None:
    if index.dim() != 1 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"index must have shape [E] = [{src.shape[0]}] (one segment per row of src), "
            f"got {list(index.shape)}"
        )


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum of the rows of ``src`` [E, ...] in each segment → [dim_size, ...]."""
    _check(src, index)
    return src.new_zeros((dim_size, *src.shape[1:])).index_add(0, index, src)


def segment_counts(index: Tensor, dim_size: int, dtype: torch.dtype) -> Tensor:
    """Rows per segment [dim_size] as ``dtype``."""
    # Not torch.bincount: its output size depends on the data, which torch.compile rejects.
    ones = torch.ones(index.shape[0], dtype=dtype, device=index.device)
    return torch.zeros(dim_size, dtype=dtype, device=index.device).index_add(0, index, ones)


def scatter_mean(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Mean of the rows of ``src`` [E, ...] in each segment → [dim_size, ...] (0 when empty)."""
    total = scatter_sum(src, index, dim_size)
    counts = segment_counts(index, dim_size, src.dtype).clamp(min=1)
    return total / counts.view(-1, *([1] * (src.dim() - 1)))


def scatter_max(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Elementwise maximum of the rows of ``src`` [E, ...] in each segment → [dim_size, ...].

    Empty segments are 0. Under autograd, tied maxima share the gradient equally.
    """
    _check(src, index)
    out = src.new_zeros((dim_size, *src.shape[1:]))
    # include_self=False: the zeros only fill segments that no row reaches.
    return out.scatter_reduce(0, _expand(index, src), src, reduce="amax", include_self=False)


def segment_softmax(scores: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Softmax of ``scores`` [E, ...] within each segment (per trailing element) → [E, ...]."""
    _check(scores, index)
    # Subtracting the segment maximum avoids overflow and leaves the softmax unchanged, so it
    # is detached: gradients flow through the exponentials alone.
    detached = scores.detach()
    peak = detached.new_full((dim_size, *scores.shape[1:]), float("-inf"))
    peak = peak.scatter_reduce(0, _expand(index, detached), detached, reduce="amax", include_self=True)
    weights = torch.exp(scores - peak.index_select(0, index))
    return weights / scatter_sum(weights, index, dim_size).index_select(0, index)
