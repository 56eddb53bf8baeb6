"""The contracts between data, representations, backbones and tasks.

::

    AtomicStructure ──Representation.__call__──► sample ──Representation.collate──► batch
    batch ──Backbone.forward──► per-atom tensor [N, width] ──Task (head, sum/mean)──► targets

* A **representation** (kind ``representation`` in the registry) turns one
  :class:`~matforge.structure.AtomicStructure` into a picklable sample inside DataLoader
  workers, and many samples into a batch that extends :class:`~matforge.batch.AtomsBatch`.
* A **backbone** (kind ``model``) is a ``torch.nn.Module`` that names the representation it
  consumes, the representation's settings (cutoff, …) and what it outputs per atom. Geometry
  must be computed from ``batch.positions`` (and cells) inside ``forward`` so that forces and
  stress come from autograd.
* A **task** (kind ``task``) is a LightningModule built around a backbone: see
  :mod:`matforge.tasks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.structure import AtomicStructure

OutputKind = Literal["energy", "embedding", "structure"]


@dataclass(frozen=True)
class OutputSpec:
    """What a backbone returns for each atom (or structure).

    ``kind="energy"``: per-atom energy contributions [N, 1] in eV (the task sums them).
    ``kind="embedding"``: per-atom features [N, width]; the task adds an MLP head.
    ``kind="structure"``: per-structure features [G, width] (a readout such as Set2Set); the
    task adds an MLP head and does not pool. Only per-structure property tasks accept it:
    energies for forces must be sums over atoms.
    """

    kind: OutputKind
    width: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("energy", "embedding", "structure"):
            raise ValueError(f"OutputSpec.kind must be 'energy', 'embedding' or 'structure', got {self.kind!r}")
        if self.width < 1:
            raise ValueError(f"OutputSpec.width must be >= 1, got {self.width}")
        if self.kind == "energy" and self.width != 1:
            raise ValueError("OutputSpec(kind='energy') has width 1")


@runtime_checkable
class Representation(Protocol):
    """Structure → sample (in DataLoader workers) and samples → batch.

    Implementations are registered under kind ``representation`` and constructed with the
    backbone's :meth:`Backbone.representation_config` plus ``dtype``.
    """

    name: ClassVar[str]

    def __call__(self, structure: AtomicStructure) -> Any:
        """One picklable sample (numpy arrays or CPU tensors)."""

    def collate(self, samples: Sequence[Any]) -> AtomsBatch:
        """Batch of samples; a subclass of :class:`AtomsBatch`."""


class Backbone(nn.Module):
    """Base class of every model backbone.

    Subclasses set ``representation`` (registry name of the representation they consume),
    implement :attr:`output` and :meth:`forward`, and accept only JSON-like constructor
    arguments (numbers, strings, lists, dicts) so checkpoints can rebuild them by registry
    name. Override :meth:`representation_config` to pass e.g. ``cutoff`` to the
    representation.
    """

    representation: ClassVar[str] = "atoms"

    @property
    def output(self) -> OutputSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def representation_config(self) -> dict[str, Any]:
        """Keyword arguments for the representation's constructor (e.g. ``cutoff``)."""
        return {}

    def forward(self, batch: AtomsBatch) -> Tensor:  # pragma: no cover - abstract
        """Per-atom outputs [N, output.width] for the batch."""
        raise NotImplementedError


def build_representation(backbone: Backbone, **overrides: Any) -> Representation:
    """The representation ``backbone`` consumes, configured for it, from the registry."""
    from matforge.registry import registry

    factory = registry.get("representation", backbone.representation)
    return factory(**{**backbone.representation_config(), **overrides})
