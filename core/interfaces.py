"""The contracts between data, representations, backbones and tasks.

::

    AtomicStructure ──Representation.__call__──► sample ──Representation.collate──► batch
    batch ──Backbone.forward──► per-atom tensor [N, width] ──Task (head, sum/mean)──► targets

* A **representation** (kind ``representation`` in the registry) turns one
  :class:`~matforge.structure.AtomicStructure` into a picklable sample inside DataLoader
  workers, and many samples into a batch that extends :class:`~matforge.batch.AtomsBatch`.
* A **backbone** (kind ``backbone``, alias ``model``) is a ``torch.nn.Module`` that names the representation it
  consumes, the representation's settings (cutoff, …) and what it outputs per atom. Geometry
  must be computed from ``batch.positions`` (and cells) inside ``forward`` so that forces and
  stress come from autograd.
* A **task** (kind ``task``) is a LightningModule built around a backbone: see
  :mod:`matforge.tasks`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.errors import MatforgeUserError
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


# -- a backbone's constructor arguments ----------------------------------------------------------


class BackboneArgumentError(MatforgeUserError, TypeError):
    """Backbone arguments the backbone's constructor does not take (the message lists the
    ones it does)."""


#: ``Argument.default`` of an argument without a default.
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Argument:
    """One constructor argument of a backbone, as ``matforge list model NAME`` shows it.

    ``default`` is :data:`REQUIRED` for an argument without one; ``annotation`` is the type
    as written; ``doc`` comes from the ``Args:`` section of the class (or ``__init__``)
    docstring.
    """

    name: str
    default: Any
    annotation: str
    doc: str


def backbone_arguments(factory: Any) -> list[Argument] | None:
    """The keyword arguments ``factory`` (a backbone class or function) takes, in order, with
    defaults and docs; ``None`` when it accepts any (``**kwargs``) or has no signature."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    parameters = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL,)]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    docs = {**_documented_args(getattr(factory, "__init__", None)), **_documented_args(factory)}
    return [
        Argument(
            name=p.name,
            default=p.default,
            annotation="" if p.annotation is p.empty else (p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)),
            doc=docs.get(p.name, ""),
        )
        for p in parameters
    ]


def check_backbone_args(name: str, factory: Any, args: Mapping[str, Any]) -> None:
    """Raise :class:`BackboneArgumentError` naming every key of ``args`` that backbone
    ``name``'s constructor does not take, with close matches and the valid names."""
    known = backbone_arguments(factory)
    if known is None:
        return
    valid = [a.name for a in known]
    unknown = [k for k in args if k not in valid]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise BackboneArgumentError(
        f"backbone {name!r} has no argument {', '.join(hints)}. Its arguments: {', '.join(valid) or '(none)'} "
        f"(defaults and docs: matforge list model {name})"
    )


def resolved_backbone_args(name: str, factory: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with every omitted argument of backbone ``name`` set to its default (after
    :func:`check_backbone_args`); defaults that are not JSON-like (or required arguments) are
    left out, tuples become lists."""
    check_backbone_args(name, factory, args)
    resolved: dict[str, Any] = {}
    for argument in backbone_arguments(factory) or []:
        if argument.name in args:
            resolved[argument.name] = args[argument.name]
            continue
        if argument.default is REQUIRED:
            continue
        value = _json_like(argument.default)
        if value is not _NOT_JSON:
            resolved[argument.name] = value
    return {**resolved, **{k: v for k, v in args.items() if k not in resolved}}


_NOT_JSON = object()


def _json_like(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_json_like(v) for v in value]
        return _NOT_JSON if any(v is _NOT_JSON for v in items) else items
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        items = {k: _json_like(v) for k, v in value.items()}
        return _NOT_JSON if any(v is _NOT_JSON for v in items.values()) else items
    return _NOT_JSON


def _documented_args(obj: Any) -> dict[str, str]:
    """``{name: text}`` from the ``Args:`` section of ``obj``'s Google-style docstring."""
    doc = inspect.getdoc(obj) if obj is not None else None
    if not doc:
        return {}
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:", "Parameters:"))
    except StopIteration:
        return {}
    indent: int | None = None
    current: str | None = None
    for line in lines[start + 1:]:
        if not line.strip():
            current = None if indent is None else current
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent or (width == 0 and line.rstrip().endswith(":")):
            break
        head, sep, text = line.strip().partition(":")
        if width == indent and sep and head.replace("_", "").replace(" ", "").isalnum():
            current = head.split(" ")[0]
            out[current] = text.strip()
        elif current is not None:
            out[current] = f"{out[current]} {line.strip()}".strip()
    return out
