"""Heads: from what a backbone outputs per atom to per-atom contributions, then per structure.

Heads are built eagerly from the backbone's :class:`~matforge.interfaces.OutputSpec` (never at
the first batch: lazily created parameters break DDP and checkpoint loading).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.errors import InvalidValueError
from matforge.interfaces import Backbone, OutputSpec
from matforge.nn import structure_sum

#: How per-atom contributions become one value per structure: ``sum`` for extensive targets
#: (energies), ``mean`` for intensive ones (band gaps, energies per atom).
Readout = Literal["sum", "mean"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


class AtomwiseHead(nn.Module):
    """Per-atom backbone outputs [N, width] → per-atom contributions [N, out_dim] (or
    per-structure outputs [G, width] → [G, out_dim] for kind ``structure``).

    A backbone of kind ``energy`` already returns one energy per atom: the head is the identity
    (only ``out_dim=1`` makes sense then). A backbone of kind ``embedding`` gets an MLP with
    hidden layers ``hidden`` and activation ``activation``.
    """

    def __init__(
        self, output: OutputSpec, out_dim: int, hidden: Sequence[int] = (64, 64), activation: str = "silu"
    ) -> None:
        super().__init__()
        if output.kind == "energy":
            if out_dim != 1:
                raise InvalidValueError(
                    f"the backbone outputs per-atom energies (width 1) but the task needs {out_dim} "
                    "values per atom; use a backbone with output kind 'embedding'"
                )
            self.mlp: nn.Module = nn.Identity()
            return
        if activation not in ACTIVATIONS:
            raise InvalidValueError(f"unknown head activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        width = output.width
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        layers.append(nn.Linear(width, out_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.mlp(features)


class AtomisticModel(nn.Module):
    """Backbone and head as one module (the unit that weight averaging copies).

    ``forward(batch)`` returns per-atom contributions [N, out_dim] in normalised units, or
    per-structure values [G, out_dim] for a backbone of kind ``structure``.
    """

    def __init__(self, backbone: Backbone, head: AtomwiseHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, batch: AtomsBatch) -> Tensor:
        features = self.backbone(batch)
        expected = self.backbone.output.width
        rows, what = (batch.num_graphs, "G") if self.per_structure else (batch.num_nodes, "N")
        if features.ndim != 2 or features.shape != (rows, expected):
            raise ValueError(
                f"backbone {type(self.backbone).__name__} returned shape {list(features.shape)}; "
                f"its OutputSpec promises [{what}, width] = [{rows}, {expected}]"
            )
        return self.head(features)

    @property
    def per_structure(self) -> bool:
        """The backbone reads out per structure (``OutputSpec`` kind ``structure``): outputs
        are [G, out_dim] and are not pooled."""
        return self.backbone.output.kind == "structure"


def pool(values: Tensor, batch: AtomsBatch, readout: Readout) -> Tensor:
    """Per-atom values [N, D] → per-structure values [G, D] by ``readout`` (sum or mean)."""
    total = structure_sum(values, batch.batch, batch.num_graphs)
    if readout == "sum":
        return total
    if readout == "mean":
        counts = batch.num_atoms.to(values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
        return total / counts
    raise InvalidValueError(f"readout must be 'sum' or 'mean', got {readout!r}")
