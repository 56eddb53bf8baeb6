"""MEGNet's graph-state input: the 9 graph variables of OC20-style systems, from the batch.

Computed inside ``forward`` from positions, cells, atomic numbers and tags, so they are
differentiable (forces see them) and invariant under rotations, translations, permutations
and periodic images. Shapes: N atoms, E edges, G structures, P adsorbate–surface pairs.

Variables, per structure (Z scaled by :data:`Z_SCALE`, distances in Å):

0-1. mean and std of Z over the adsorbate atoms (tag 2);
2-3. mean and std of Z over the surface atoms (tag 1);
4-5. mean and std of the edge lengths;
6-7. mean and std of the edges' reduced "masses" Z_s Z_r / (Z_s + Z_r);
8.   distance between the adsorbate's and the surface's centres of mass.

A structure without adsorbate or surface atoms (molecules, bulk crystals, untagged data) gets
0 for the variables of the missing subsets. Edge statistics are weighted by the cutoff
envelope when one is given, so they change continuously as neighbours cross the cutoff.

The centre-of-mass distance under periodic boundaries: a centre of mass of atoms that each
stand for all of their periodic images is not defined by their positions alone (moving one
atom by a lattice vector moves the plain mean by a fraction of it). The difference of the two
centres is therefore taken as the mean, over all adsorbate–surface pairs, of the pair's
minimum-image vector (the shortest of x_a − x_s + n·cell over integer n along the periodic
directions). Without periodic directions this is exactly com_ads − com_surf; for an adsorbate
and a surface patch each smaller than half the cell it is the minimum image of the COM
difference; and it is unchanged by moving any atom by lattice vectors or by describing the
lattice by another basis. Centres of mass weigh atoms equally (atomic masses are not in the
batch; the paper's variable uses the same positions either way for one-element subsets).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from matforge_graph import ops
from matforge_graph.batch import GraphBatch
from matforge_graph.scatter import scatter_mean, scatter_sum

#: Atomic numbers (and reduced masses) enter the state multiplied by this, to order 1.
Z_SCALE = 0.1

#: Adsorbate and surface tags (OC20: 0 subsurface, 1 surface, 2 adsorbate).
ADSORBATE, SURFACE = 2, 1

NUM_GRAPH_VARIABLES = 9

#: Added under square roots: std of identical values and |0| stay differentiable.
_EPSILON = 1e-12


def reduced_masses(batch: GraphBatch) -> Tensor:
    """``Z_s Z_r / (Z_s + Z_r) · Z_SCALE`` per edge [E, 1]."""
    z = batch.atomic_numbers.to(batch.positions.dtype).unsqueeze(-1)
    zs, zr = ops.gather_src(batch, z), ops.gather_dst(batch, z)
    return zs * zr / (zs + zr) * Z_SCALE


def _subset_stats(values: Tensor, mask: Tensor, index: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Mean and std [size] of ``values`` [N] over the rows where ``mask``, per segment (0 if empty)."""
    weights = mask.to(values.dtype)
    count = scatter_sum(weights, index, size)
    mean = scatter_sum(weights * values, index, size) / count.clamp(min=1)
    variance = scatter_sum(weights * (values - mean[index]) ** 2, index, size) / count.clamp(min=1)
    return mean, torch.sqrt(variance + _EPSILON) * (count > 0)


def _edge_stats(batch: GraphBatch, values: Tensor, weights: Tensor, divisor: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted mean and std [G] of edge values [E, 1] per structure; ``divisor`` [G, 1] is
    the model's (soft) edge count per structure."""

    def per_graph(x: Tensor) -> Tensor:
        return ops.readout(batch, ops.aggregate(batch, x, "sum"), "sum") / divisor

    mean = per_graph(weights * values)
    per_edge_mean = ops.gather_dst(batch, mean.index_select(0, batch.batch))
    variance = per_graph(weights * (values - per_edge_mean) ** 2)
    return mean[:, 0], torch.sqrt(variance[:, 0] + _EPSILON)


def _image_offsets(periodic: Tensor) -> Tensor:
    """Integer image offsets [27, 3] in {-1, 0, 1}³."""
    return torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), dtype=periodic.dtype, device=periodic.device)


def minimum_image(vectors: Tensor, cells: Tensor, pbc: Tensor) -> Tensor:
    """The shortest ``vectors + n @ cell`` [P, 3] over integers n along the periodic
    directions (``pbc`` [P, 3]); ``cells`` [P, 3, 3] rows are lattice vectors.

    The image is chosen without gradients (integers) and the returned vector is
    differentiable in ``vectors`` and ``cells``: rounding in fractional coordinates, then
    the shortest of the 27 neighbouring images, which is the minimum image for any cell
    whose basis is not more skewed than that neighbourhood reaches.
    """
    with torch.no_grad():
        lattice = cells * pbc.unsqueeze(-1)
        fractional = torch.bmm(vectors.unsqueeze(1), torch.linalg.pinv(lattice)).squeeze(1)
        base = -torch.round(fractional) * pbc
        candidates = base.unsqueeze(1) + _image_offsets(base) * pbc.unsqueeze(1)  # [P, 27, 3]
        moved = vectors.unsqueeze(1) + torch.bmm(candidates, lattice)
        best = (moved * moved).sum(-1).argmin(dim=1)
        shift = candidates[torch.arange(len(best), device=best.device), best]
    return vectors + torch.bmm(shift.unsqueeze(1), cells * pbc.unsqueeze(-1)).squeeze(1)


def centre_of_mass_distance(batch: GraphBatch) -> Tensor:
    """Adsorbate–surface centre-of-mass distance [G] (Å), periodic as the module docstring
    says; 0 for structures without adsorbate or surface atoms."""
    positions = batch.positions
    adsorbate = torch.nonzero(batch.tags == ADSORBATE).squeeze(-1)
    surface = torch.nonzero(batch.tags == SURFACE).squeeze(-1)
    same = batch.batch[adsorbate].unsqueeze(1) == batch.batch[surface].unsqueeze(0)
    a, s = torch.nonzero(same, as_tuple=True)
    a, s = adsorbate[a], surface[s]
    graph = batch.batch[a]
    vectors = minimum_image(positions[a] - positions[s], batch.cell[graph], batch.pbc[graph].to(positions.dtype))
    difference = scatter_mean(vectors, graph, batch.num_graphs)
    has_pairs = scatter_sum(torch.ones_like(graph, dtype=positions.dtype), graph, batch.num_graphs) > 0
    return torch.sqrt((difference * difference).sum(-1) + _EPSILON) * has_pairs


def graph_variables(batch: GraphBatch, lengths: Tensor, weights: Tensor, divisor: Tensor) -> Tensor:
    """The 9 graph variables [G, 9] of the module docstring.

    Args:
        batch: the graphs (tags select adsorbate and surface atoms).
        lengths: edge lengths [E, 1] (Å).
        weights: per-edge weights [E, 1] (the cutoff envelope, or ones).
        divisor: soft edge count per structure [G, 1] (see :class:`~matforge_megnet.model.MEGNet`).
    """
    z = batch.atomic_numbers.to(lengths.dtype) * Z_SCALE
    g = batch.num_graphs
    columns = [
        *_subset_stats(z, batch.tags == ADSORBATE, batch.batch, g),
        *_subset_stats(z, batch.tags == SURFACE, batch.batch, g),
        *_edge_stats(batch, lengths, weights, divisor),
        *_edge_stats(batch, reduced_masses(batch), weights, divisor),
        centre_of_mass_distance(batch),
    ]
    return torch.stack(columns, dim=1)
