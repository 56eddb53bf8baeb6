"""Which representation a datamodule uses: the one the backbone consumes, with its settings.

The backbone is the single owner of its representation (``Backbone.representation``) and of
that representation's settings (``Backbone.representation_config()``: cutoff, neighbours, …).
A datamodule never decides them for a task: the task hands its backbone over
(:func:`attach_representation`), and whatever the datamodule was told on its own
(``representation=``, ``representation_args=``, or a representation object) must agree with
the backbone, name and settings, or it is a :class:`RepresentationMismatchError` naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matforge.errors import MatforgeUserError
from matforge.interfaces import Backbone, build_representation


class RepresentationMismatchError(MatforgeUserError, ValueError):
    """A datamodule is set up for another representation, or other settings, than the
    backbone consumes."""


@dataclass(frozen=True)
class RepresentationSpec:
    """A representation's registry name and settings (constructor arguments but ``dtype``)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, backbone: Backbone) -> RepresentationSpec:
        """What ``backbone`` consumes: its representation and its settings."""
        return cls(backbone.representation, dict(backbone.representation_config()))

    def __str__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in sorted(self.settings.items()))
        return f"{self.name!r} ({settings or 'no settings'})"


def _backbone_label(backbone: Backbone) -> str:
    from matforge.models import backbone_spec

    spec = backbone_spec(backbone)
    return f"backbone {spec.name!r}" if spec is not None else f"backbone {type(backbone).__name__}"


def check_matches(given: str | None, given_settings: Mapping[str, Any] | None, backbone: Backbone, *, source: str) -> None:
    """Raise unless representation ``given`` with ``given_settings`` is what ``backbone``
    consumes: the same name, and every given setting equal to the backbone's.

    Args:
        given: the representation's name as the datamodule was told (``None``: not given).
        given_settings: settings the datamodule was told (``None``/empty: none).
        backbone: the owner of the representation.
        source: how the datamodule was told, for the message (``--data.init_args...``).
    """
    wanted = RepresentationSpec.of(backbone)
    settings = dict(given_settings or {})
    wrong_name = given is not None and given != wanted.name
    wrong_settings = {k: v for k, v in settings.items() if k not in wanted.settings or wanted.settings[k] != v}
    if not (wrong_name or wrong_settings):
        return
    told = RepresentationSpec(given if given is not None else wanted.name, settings)
    raise RepresentationMismatchError(
        f"the data module is set up for representation {told} ({source}) but "
        f"{_backbone_label(backbone)} ({type(backbone).__name__}) consumes {wanted}; the backbone "
        "owns these settings: leave the data module's representation and representation_args "
        "unset and set them on the backbone (e.g. --model.init_args.backbone_args.cutoff)"
    )


def representation_settings(representation: Any, keys: Any) -> dict[str, Any]:
    """The settings among ``keys`` that a built representation exposes as attributes."""
    return {k: getattr(representation, k) for k in keys if hasattr(representation, k)}


def check_datamodule(datamodule: Any, backbone: Backbone) -> None:
    """Raise unless what ``datamodule`` was told about its representation agrees with
    ``backbone`` (a datamodule told nothing agrees with every backbone)."""
    told = getattr(datamodule, "representation_request", None)
    if told is not None:
        name, settings = told
        check_matches(name, settings, backbone, source="--data.init_args.representation / representation_args")
    current = getattr(datamodule, "representation", None)
    if current is None or getattr(datamodule, "representation_from_backbone", False):
        return  # nothing set, or set by an earlier attach: the new backbone decides
    name = getattr(current, "name", type(current).__name__)
    wanted = RepresentationSpec.of(backbone)
    check_matches(name, representation_settings(current, wanted.settings), backbone, source="set_representation")


def attach_representation(datamodule: Any, backbone: Backbone) -> None:
    """Give ``datamodule`` the representation ``backbone`` consumes, built from the backbone's
    own settings, after checking that the datamodule was told nothing else.

    Datamodules with an ``attach_representation(backbone)`` method do this themselves;
    others need ``set_representation`` (one that already holds a matching representation
    keeps it).
    """
    if hasattr(datamodule, "attach_representation"):
        datamodule.attach_representation(backbone)
        return
    check_datamodule(datamodule, backbone)
    if getattr(datamodule, "representation", None) is None and hasattr(datamodule, "set_representation"):
        datamodule.set_representation(build_representation(backbone))
