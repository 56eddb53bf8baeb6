"""Backbones by registry name, built so that a checkpoint can build them again.

A task stores the backbone's registry name and constructor arguments in its hyperparameters
instead of pickling the module; :func:`build_backbone` records both on the instance so that
Python users can hand a ready backbone to a task and still get restorable checkpoints::

    from matforge.models import build_backbone
    backbone = build_backbone("egnn", hidden_dim=32)
    task = EnergyTask(backbone=backbone)        # checkpoint records ("egnn", {"hidden_dim": 32, ...})

The recorded arguments are the *bound* ones, defaults included: a checkpoint keeps the backbone
it was trained with even after a plugin release changes a default.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from matforge.interfaces import Backbone, BackboneArgumentError, check_backbone_args

#: Attribute of a built backbone holding its :class:`BackboneSpec`.
SPEC_ATTRIBUTE = "matforge_spec"


@dataclass(frozen=True)
class BackboneSpec:
    """How a backbone was built: registry name (kind ``backbone``) and every constructor argument,
    defaults included (see :func:`bound_arguments`)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


def build_backbone(name: str, **args: Any) -> Backbone:
    """Build the registered backbone ``name`` with ``args`` and record both on the instance.

    Raises:
        matforge.registry.PluginNotInstalledError: ``name`` belongs to a plugin that is not
            installed (the message says which package to install).
        matforge.registry.UnknownNameError: no backbone of that name.
        matforge.interfaces.BackboneArgumentError: an argument the backbone does not take, a
            required one missing, or one that is not JSON-like (checkpoints store the
            arguments as plain data).
        TypeError: the registered object does not build a :class:`Backbone` (a plugin's bug).
    """
    from matforge.registry import registry

    _check_json_like(name, args)
    factory = registry.get("model", name)
    check_backbone_args(name, factory, args)  # an unknown argument: named, with the valid ones
    bound = bound_arguments(name, factory, args)
    backbone = factory(**args)
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"backbone {name!r} built a {type(backbone).__name__}, not a matforge.interfaces.Backbone"
        )
    setattr(backbone, SPEC_ATTRIBUTE, BackboneSpec(name, bound))
    return backbone


def bound_arguments(name: str, factory: Any, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` bound to ``factory``'s signature with the defaults applied: every argument the
    backbone was built with. Keyword-only and ``**kwargs`` arguments are flattened into one dict.

    Raises:
        BackboneArgumentError: ``args`` do not fit the signature (an unknown or missing
            argument), or a value is not JSON-like.
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: keep what was given
        return copy.deepcopy(args)
    try:
        bound = signature.bind(**args)
    except TypeError as exc:
        valid = [p.name for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise BackboneArgumentError(f"backbone {name!r}: {exc}; its arguments are: {', '.join(valid) or 'none'}") from None
    bound.apply_defaults()
    resolved: dict[str, Any] = {}
    for parameter, value in bound.arguments.items():
        kind = signature.parameters[parameter].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            resolved.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            resolved[parameter] = value
    _check_json_like(name, resolved)
    # as plain JSON data (tuples become lists), exactly what a checkpoint and a config hold
    return json.loads(json.dumps(resolved))


def backbone_spec(backbone: Backbone) -> BackboneSpec | None:
    """The spec :func:`build_backbone` recorded on ``backbone``, or ``None``."""
    spec = getattr(backbone, SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, BackboneSpec) else None


def _check_json_like(name: str, args: dict[str, Any]) -> None:
    try:
        json.dumps(args)
    except (TypeError, ValueError) as exc:
        raise BackboneArgumentError(
            f"arguments of backbone {name!r} must be JSON-like (numbers, strings, lists, dicts) so "
            f"checkpoints can rebuild the backbone: {exc}"
        ) from exc
