"""Registry names as shorthands on the training command line.

``matforge fit --task s2ef --backbone egnn --data devset:emt-s2ef`` is rewritten, before
LightningCLI parses it, into::

    matforge fit --model.class_path matforge.tasks.energy_force.EnergyForceTask \\
                 --model.init_args.backbone egnn \\
                 --data.class_path matforge.data.datamodule.AtomicDataModule \\
                 --data.init_args.path devset:emt-s2ef

* ``--task NAME``: a registered task; becomes the LightningModule class (``--model.class_path``),
  placed before any other ``--model.*`` option so that init-args overrides apply to it.
* ``--backbone NAME`` (or ``--model NAME``, its older spelling): a registered backbone (a
  lower-case registry name, not a class path or a config file); becomes
  ``--model.init_args.backbone NAME``. (In Lightning's options ``--model`` is the task, the
  LightningModule; the backbone is the network the task is built around.)
* ``--data devset:NAME`` or ``--data PATH`` (a dataset directory; anything that looks like a
  path, so that a missing one is reported as missing): the matforge DataModule reading that
  dataset.
* ``--model.init_args.backbone_args.KEY V`` (and a ``--model.init_args.backbone_args`` JSON
  dict) are checked against the backbone's constructor: an unknown key is an error listing
  the valid ones.
* No ``--task`` (and no config or class path for the model): with ``--ckpt_path FILE``, the
  checkpoint's task and backbone; otherwise the task the devset is meant for.
* ``--seed N``: ``--seed_everything N``; ``--deterministic``: ``--trainer.deterministic true``.

Anything else passes through to LightningCLI unchanged, so ``--model.init_args.*``,
``--trainer.*``, ``--config`` and ``--print_config`` behave as Lightning documents them.
Unknown names raise the registry's error, with suggestions.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from matforge.errors import MatforgeUserError

#: The DataModule built from ``--data devset:NAME`` / ``--data PATH`` and its dataset argument.
DATAMODULE_CLASS = "matforge.data.datamodule.AtomicDataModule"
DATAMODULE_PATH_ARG = "path"
DEVSET_PREFIX = "devset:"
#: ``--ckpt_path`` values Lightning resolves itself (``last`` is the newest run's, see train.py).
LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")

_REGISTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class ShorthandError(MatforgeUserError, ValueError):
    """A shorthand option is incomplete or cannot be resolved."""


class MissingPathError(MatforgeUserError, FileNotFoundError):
    """A dataset or checkpoint path given on the command line does not exist."""


#: Options naming a registered backbone.
BACKBONE_OPTIONS = ("--backbone", "--model")
BACKBONE_ARGS = "--model.init_args.backbone_args"


@dataclass
class Expanded:
    """The rewritten argument list and the registry names it used."""

    args: list[str]
    task: str | None = None
    model: str | None = None
    data: str | None = None
    notes: list[str] = field(default_factory=list)


def task_class_path(name: str) -> str:
    """``package.module.Class`` of the registered task ``name`` (the registry's error if unknown)."""
    from matforge.registry import registry

    return registry.info("task", name).target.replace(":", ".")


def check_model(name: str, kind: str = "backbone") -> None:
    """Raise the registry's error (with suggestions) unless ``name`` is a registered backbone
    (``kind``: the word the error uses, ``model`` for ``--model NAME``)."""
    from matforge.registry import registry

    registry.info(kind, name)


def check_backbone_keys(name: str, args: dict) -> None:
    """Raise :class:`~matforge.interfaces.BackboneArgumentError` unless backbone ``name``
    takes every key of ``args`` (imports the backbone's module)."""
    from matforge.interfaces import check_backbone_args
    from matforge.registry import registry

    check_backbone_args(name, registry.get("backbone", name), args)


def check_data(value: str) -> None:
    """Raise unless ``value`` is ``devset:NAME`` of a registered dataset or an existing path."""
    from matforge.registry import registry

    if value.startswith(DEVSET_PREFIX):
        registry.info("dataset", value[len(DEVSET_PREFIX):].partition("/")[0])
    elif not os.path.exists(value):
        raise MissingPathError(
            f"--data {value}: no such dataset path (use devset:NAME for a shipped devset: "
            f"{', '.join(DEVSET_PREFIX + n for n in registry.names('dataset'))})"
        )


def devset_task(value: str) -> str | None:
    """The task a ``devset:NAME`` is meant for (``None`` for paths or devsets without one)."""
    from matforge.registry import registry

    if not value.startswith(DEVSET_PREFIX):
        return None
    devset = registry.get("dataset", value[len(DEVSET_PREFIX):].partition("/")[0])
    return getattr(devset, "task", None)


def devset_properties(value: str) -> tuple[str, ...]:
    """What a ``property`` task predicts on ``devset:NAME`` by default (``()`` for paths)."""
    from matforge.registry import registry

    if not value.startswith(DEVSET_PREFIX):
        return ()
    devset = registry.get("dataset", value[len(DEVSET_PREFIX):].partition("/")[0])
    return tuple(getattr(devset, "default_properties", ()))


def checkpoint_model_args(path: str, task: str, backbone: str | None) -> list[str]:
    """``--model.class_path`` and ``--model.init_args.backbone`` of a checkpoint's task and
    backbone (from :func:`checked_checkpoint`), so that ``matforge validate --ckpt_path X
    --data ...`` needs no model options (LightningCLI then restores the task's other settings
    from the checkpoint)."""
    from matforge.checkpoint import CheckpointError

    if backbone is None:
        raise CheckpointError(f"{path}: the checkpoint's backbone has no registry name: give --task and --model")
    return ["--model.class_path", task_class_path(task), "--model.init_args.backbone", backbone]


def checked_checkpoint(path: str) -> tuple[str, str | None]:
    """Registry names of the task and backbone of the checkpoint ``path``, after checking
    that LightningCLI may read it: loadable with ``weights_only=True``, a registered task, and
    no class path in its hyperparameters other than that task's (LightningCLI would import
    it)."""
    from matforge.checkpoint import UnregisteredTaskError, load_checkpoint, read_record, task_name

    checkpoint = load_checkpoint(path, map_location="cpu")
    record = read_record(checkpoint, path)
    task = task_name(record, path)
    class_path = (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    expected = task_class_path(task)
    if class_path is not None and class_path != expected:
        raise UnregisteredTaskError(
            f"{path}: its hyperparameters name class {class_path!r}, not {expected!r} of its "
            f"registered task {task!r}; refusing to read it"
        )
    return task, record.backbone


def expand(argv: Sequence[str]) -> Expanded:
    """Rewrite the shorthands in ``argv`` (the sub-command first) into LightningCLI options."""
    tokens = _split_equals(argv)
    out = Expanded(args=[])
    task_position: int | None = None
    has_config = has_class_path = False
    checkpoint: str | None = None
    backbone_name: str | None = None
    backbone_keys: dict = {}
    names: tuple[str, str | None] = ("", None)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if token == "--task":
            out.task = _require(token, value)
            if task_position is None:
                task_position = len(out.args)
            i += 2
            continue
        if token in BACKBONE_OPTIONS and value is not None and (token == "--backbone" or _is_registry_name(value)):
            check_model(value, token.removeprefix("--"))
            out.model = value
            if task_position is None:
                task_position = len(out.args)
            out.args += ["--model.init_args.backbone", value]
            i += 2
            continue
        if token == "--data" and value is not None and (value.startswith(DEVSET_PREFIX) or _is_dataset_path(value)):
            check_data(value)
            out.data = value
            out.args += ["--data.class_path", DATAMODULE_CLASS, f"--data.init_args.{DATAMODULE_PATH_ARG}", value]
            i += 2
            continue
        if token == "--seed":
            out.args += ["--seed_everything", _require(token, value)]
            i += 2
            continue
        if token == "--deterministic":
            out.args += ["--trainer.deterministic", "true"]
            i += 1
            continue
        if token == "--ckpt_path" and value is not None and value not in LIGHTNING_CKPT_NAMES:
            if not os.path.isfile(value):
                raise MissingPathError(f"--ckpt_path {value}: no such checkpoint file")
            checkpoint = value
            names = checked_checkpoint(value)  # before LightningCLI reads its hyperparameters
        if token in ("-c", "--config"):
            has_config = True
        if token == "--model.init_args.backbone" and value is not None:
            backbone_name = value
        if token.startswith(BACKBONE_ARGS) and value is not None:
            backbone_keys.update(_backbone_keys(token, value))
        if token == "--model.class_path" or (token == "--model" and value is not None and "." in value):
            has_class_path = True
        if (token.startswith("--model.") or token == "--model") and task_position is None:
            task_position = len(out.args)
        out.args.append(token)
        i += 1
    backbone_name = out.model or backbone_name
    if backbone_keys and backbone_name is not None and _is_registry_name(backbone_name):
        check_backbone_keys(backbone_name, backbone_keys)
    if out.task is None and out.model is None and not (has_config or has_class_path) and checkpoint:
        out.args[1:1] = checkpoint_model_args(checkpoint, *names)
        return out
    if out.task is None and not (has_config or has_class_path) and out.data is not None:
        out.task = devset_task(out.data)
        if out.task is not None:
            out.notes.append(f"task {out.task} (the task of {out.data}; choose another with --task)")
    if out.task is not None:
        position = len(out.args) if task_position is None else task_position
        task_args = ["--model.class_path", task_class_path(out.task)]
        properties = devset_properties(out.data) if out.task == "property" and out.data else ()
        if properties and not any(t.startswith("--model.init_args.properties") for t in out.args):
            task_args += ["--model.init_args.properties", json.dumps(list(properties))]
            out.notes.append(
                f"properties {list(properties)} (the default of {out.data}; choose with "
                "--model.init_args.properties '[NAME, ...]')"
            )
        out.args[position:position] = task_args
    elif out.model is not None and not (has_config or has_class_path):
        from matforge.registry import registry

        raise ShorthandError(
            f"--backbone {out.model} needs a task: add --task NAME ({', '.join(registry.names('task'))}) "
            "or a --config that sets model.class_path"
        )
    return out


def _split_equals(argv: Sequence[str]) -> list[str]:
    """``--opt=value`` → ``--opt value`` for the shorthand options only."""
    tokens: list[str] = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name in ("--task", "--backbone", "--model", "--data", "--seed"):
            tokens += [name, value]
        else:
            tokens.append(arg)
    return tokens


def _require(option: str, value: str | None) -> str:
    if value is None or value.startswith("--"):
        raise ShorthandError(f"{option} expects a value")
    return value


def _is_registry_name(value: str) -> bool:
    return bool(_REGISTRY_NAME.match(value)) and not value.endswith(_CONFIG_SUFFIXES)


def _is_dataset_path(value: str) -> bool:
    """A directory, or a value written like a path (``./x``, ``~/x``, ``a/b``) even when it
    does not exist, so that it reaches the "no such dataset path" message. Class paths
    (``pkg.Module``) and config files pass through to LightningCLI."""
    if os.path.isdir(value):
        return True
    if value.endswith(_CONFIG_SUFFIXES) and os.path.isfile(value):
        return False
    return value.startswith((".", "~")) or "/" in value or os.sep in value


def _backbone_keys(token: str, value: str) -> dict:
    """Backbone argument names set by ``--model.init_args.backbone_args[.KEY] VALUE``."""
    if token != BACKBONE_ARGS:
        return {token[len(BACKBONE_ARGS) + 1:].split(".")[0]: value}
    try:
        import yaml

        parsed = yaml.safe_load(value)
    except Exception:  # jsonargparse reports what it cannot parse
        return {}
    return dict(parsed) if isinstance(parsed, dict) else {}
