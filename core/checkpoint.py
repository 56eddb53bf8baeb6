"""Checkpoints: the one record that rebuilds a task, and the one way matforge loads a file.

A Lightning checkpoint written by a matforge task carries, under :data:`CHECKPOINT_KEY`, a
:class:`CheckpointRecord`: the task's registry name, the backbone's registry name and its
**bound** constructor arguments (defaults included), the plugin distribution and version that
provided the backbone, the representation and its settings, the core version and a fingerprint
of the training data. :func:`write_record` writes it (from ``on_save_checkpoint``),
:func:`read_record` reads it; nothing else looks inside.

Every checkpoint matforge opens goes through :func:`load_checkpoint` (``torch.load`` with
``weights_only=True``, plus the allow-list :data:`SAFE_GLOBALS`): :func:`load_task`,
``Task.load_from_checkpoint``, and Trainer resume through :class:`SafeCheckpointIO`. Loading a
task never imports a module named in the file: the task and the backbone come from the
registry, by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pickle
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from matforge.errors import MatforgeUserError

if TYPE_CHECKING:
    from matforge.tasks.base import AtomisticTask

PathLike = str | os.PathLike[str]

#: Key of matforge's record in a Lightning checkpoint.
CHECKPOINT_KEY = "matforge"

#: Version of the record's layout. 1: ``{"task": "module:Class", "version"}`` (read for the
#: task's registry name only, never imported); 2: :class:`CheckpointRecord`.
RECORD_FORMAT = 2

#: Classes a checkpoint may contain besides what ``torch.load(weights_only=True)`` allows:
#: paths, which ``AtomicDataModule(path=Path(...))`` leaves in the datamodule's saved
#: hyperparameters. Constructing one runs no code beyond joining strings.
SAFE_GLOBALS: tuple[type, ...] = (
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.PosixPath,
    pathlib.WindowsPath,
)


class CheckpointError(MatforgeUserError):
    """A checkpoint cannot be used as asked; the message names the file and what is wrong."""


class NotATaskCheckpointError(CheckpointError):
    """The file has no matforge record (not written by a matforge task)."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds objects outside the allowed set; nothing in it was executed."""


class UnregisteredTaskError(CheckpointError):
    """The record names a task that is not registered here; nothing was imported."""


class CheckpointMismatchError(CheckpointError):
    """The installed model no longer rebuilds what the checkpoint was trained with."""


class CheckpointVersionWarning(UserWarning):
    """The checkpoint was written by another version of matforge or of its plugin."""


# -- the record -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFingerprint:
    """Which training set a checkpoint saw.

    Attributes:
        path: the training set's resolved directory (``None`` for in-memory data).
        count: structures in the training set.
        statistics_sha256: SHA-256 of its statistics as canonical JSON.
    """

    path: str | None
    count: int
    statistics_sha256: str

    @classmethod
    def of(cls, datamodule: Any) -> DatasetFingerprint | None:
        """The fingerprint of ``datamodule``'s training set (``None`` without statistics)."""
        from matforge.tasks.normalisation import statistics_from

        statistics = statistics_from(datamodule)
        if statistics is None:
            return None
        path = None
        dataset = getattr(datamodule, "dataset", None)
        if callable(dataset):
            try:
                path = str(pathlib.Path(dataset("train").path).resolve())
            except (KeyError, AttributeError, TypeError):
                path = None
        return cls(path, int(statistics.num_structures), statistics_hash(statistics.to_dict()))


def statistics_hash(statistics: Mapping[str, Any]) -> str:
    """SHA-256 of dataset statistics (their ``to_dict()``) as canonical JSON."""
    text = json.dumps(statistics, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CheckpointRecord:
    """Everything that rebuilds the task in a checkpoint, as plain data.

    Attributes:
        task: registry name of the task (kind ``task``); ``None`` when its class was not
            registered when saved (then ``task_class`` is matched against the registry at
            load time, as a string: never imported).
        task_class: ``module:Class`` of the task, for messages and that match.
        backbone: registry name of the backbone (kind ``model``); ``None`` when the backbone
            was not built by :func:`matforge.models.build_backbone`.
        backbone_args: every constructor argument of the backbone, defaults included.
        plugin_distribution: distribution that registered the backbone (``None``: the core
            or a user registration).
        plugin_version: that distribution's version.
        representation: registry name of the representation the backbone consumes.
        representation_settings: its settings (``backbone.representation_config()``).
        core_version: ``matforge.__version__`` that wrote the checkpoint.
        dataset: fingerprint of the training set, when the task was trained on a datamodule
            with statistics.
    """

    task: str | None
    task_class: str
    backbone: str | None
    backbone_args: dict[str, Any] = field(default_factory=dict)
    plugin_distribution: str | None = None
    plugin_version: str | None = None
    representation: str = "atoms"
    representation_settings: dict[str, Any] = field(default_factory=dict)
    core_version: str = ""
    dataset: DatasetFingerprint | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "task": self.task,
            "task_class": self.task_class,
            "backbone": {
                "name": self.backbone,
                "args": dict(self.backbone_args),
                "distribution": self.plugin_distribution,
                "version": self.plugin_version,
            },
            "representation": {"name": self.representation, "settings": dict(self.representation_settings)},
            "core_version": self.core_version,
            "dataset": None if self.dataset is None else {
                "path": self.dataset.path,
                "count": self.dataset.count,
                "statistics_sha256": self.dataset.statistics_sha256,
            },
        }


def write_record(task: AtomisticTask, checkpoint: dict[str, Any]) -> CheckpointRecord:
    """Put ``task``'s :class:`CheckpointRecord` into ``checkpoint`` (a Lightning checkpoint dict)."""
    from matforge import __version__
    from matforge.registry import RegistryError, registry

    cls = type(task)
    target = f"{cls.__module__}:{cls.__qualname__}"
    spec = task.backbone_spec
    distribution = version = None
    if spec is not None:
        try:
            info = registry.info("model", spec.name)
            distribution, version = info.distribution, info.version
        except RegistryError:  # unregistered since it was built: the record says so on load
            pass
    backbone = task.backbone
    datamodule = _datamodule_of(task)
    record = CheckpointRecord(
        task=registered_task_name(target),
        task_class=target,
        backbone=spec.name if spec else None,
        backbone_args=dict(spec.args) if spec else {},
        plugin_distribution=distribution,
        plugin_version=version,
        representation=backbone.representation,
        representation_settings=dict(backbone.representation_config()),
        core_version=__version__,
        dataset=DatasetFingerprint.of(datamodule) if datamodule is not None else None,
    )
    checkpoint[CHECKPOINT_KEY] = record.to_dict()
    return record


def _datamodule_of(task: AtomisticTask) -> Any:
    """The datamodule of the run saving ``task``, if it is attached to a trainer."""
    try:
        trainer = task.trainer
    except RuntimeError:  # not attached to a Trainer
        return None
    return getattr(trainer, "datamodule", None) if trainer is not None else None


def read_record(checkpoint: Any, source: PathLike | str = "checkpoint") -> CheckpointRecord:
    """The :class:`CheckpointRecord` of a loaded checkpoint dict (format 1 records too).

    Raises:
        NotATaskCheckpointError: no matforge record, or one of an unknown layout.
    """
    where = os.fspath(source)
    raw = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(raw, dict) or not isinstance(raw.get("task"), (str, type(None))):
        raise NotATaskCheckpointError(
            f"{where} is not a matforge task checkpoint (no {CHECKPOINT_KEY!r} record); "
            "checkpoints come from 'matforge fit' or a Trainer fitting a matforge task"
        )
    layout = raw.get("format", 1)
    if layout == 1 and isinstance(raw.get("task"), str):
        return _legacy_record(raw, checkpoint, where)
    if layout != RECORD_FORMAT:
        raise NotATaskCheckpointError(
            f"{where}: matforge record format {layout!r} is not one this matforge reads "
            f"(1 or {RECORD_FORMAT}); it was written by matforge {raw.get('core_version', '?')}"
        )
    try:
        backbone, representation = raw["backbone"], raw["representation"]
        dataset = raw.get("dataset")
        return CheckpointRecord(
            task=raw["task"],
            task_class=str(raw.get("task_class", "")),
            backbone=backbone["name"],
            backbone_args=dict(backbone["args"]),
            plugin_distribution=backbone.get("distribution"),
            plugin_version=backbone.get("version"),
            representation=str(representation["name"]),
            representation_settings=dict(representation["settings"]),
            core_version=str(raw.get("core_version", "")),
            dataset=None if dataset is None else DatasetFingerprint(
                dataset.get("path"), int(dataset["count"]), str(dataset["statistics_sha256"])
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotATaskCheckpointError(f"{where}: the matforge record is incomplete ({type(exc).__name__}: {exc})") from None


def _legacy_record(raw: dict[str, Any], checkpoint: dict[str, Any], where: str) -> CheckpointRecord:
    """A format-1 record: the task as ``module:Class`` (matched against the registry, never
    imported) and the backbone as saved in the hyperparameters (arguments as given)."""
    task = raw["task"]
    hparams = checkpoint.get("hyper_parameters") or {}
    backbone = hparams.get("backbone")
    return CheckpointRecord(
        task=None if ":" in task else task,
        task_class=task if ":" in task else "",
        backbone=backbone if isinstance(backbone, str) else None,
        backbone_args=dict(hparams.get("backbone_args") or {}),
        core_version=str(raw.get("version", "")),
        representation="",
    )


def registered_task_name(target: str) -> str | None:
    """Registry name of the task registered with ``"module:Class"`` target (no import)."""
    from matforge.registry import registry

    for info in registry.infos("task"):
        if info.target == target:
            return info.name
    return None


def _task_names() -> list[str]:
    from matforge.registry import registry

    return registry.names("task")


# -- loading files ----------------------------------------------------------------------------


def load_checkpoint(path: PathLike | Any, map_location: Any = None) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with :data:`SAFE_GLOBALS` allowed, on every
    supported torch (>= 2.0): the one way matforge reads a checkpoint file.

    Where torch cannot extend its allow-list (before 2.4) a restricted unpickler that accepts
    exactly torch's own weights-only globals plus :data:`SAFE_GLOBALS` is used instead.

    Raises:
        UnsafeCheckpointError: the file names any other global (nothing was executed).
        FileNotFoundError: no such file.
    """
    where = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "checkpoint"
    try:
        if hasattr(torch.serialization, "safe_globals"):
            with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
                checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        else:
            checkpoint = _load_restricted(path, map_location)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next((line for line in reason if "GLOBAL" in line or "global" in line), reason[0] if reason else "")
        raise UnsafeCheckpointError(
            f"{where}: refused to load: it holds objects matforge does not allow in a checkpoint "
            f"(nothing was executed): {detail.strip()}"
        ) from None
    if not isinstance(checkpoint, dict):
        raise NotATaskCheckpointError(f"{where} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    return checkpoint


def _allowed_fallback_globals() -> dict[tuple[str, str], Any]:
    from torch import _weights_only_unpickler

    allowed: dict[tuple[str, str], Any] = {}
    for dotted, obj in _weights_only_unpickler._get_allowed_globals().items():
        module, _, name = dotted.rpartition(".")
        allowed[(module, name)] = obj
    for obj in SAFE_GLOBALS:
        allowed[(obj.__module__, obj.__qualname__)] = obj
    return allowed


def _restricted_pickle_module() -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose unpickler resolves only allowed globals."""
    allowed = _allowed_fallback_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            try:
                return allowed[(module, name)]
            except KeyError:
                raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}") from None

    module = types.ModuleType("matforge_restricted_pickle")
    module.Unpickler = Unpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kwargs: Unpickler(file, **kwargs).load()  # type: ignore[attr-defined]
    module.__dict__["UnpicklingError"] = pickle.UnpicklingError
    return module


def _load_restricted(path: PathLike | Any, map_location: Any) -> Any:
    # torch's own wrapper resolves storages before asking find_class, so only tensors'
    # rebuild functions and the allowed classes can be reached through a GLOBAL opcode.
    return torch.load(path, map_location=map_location, weights_only=False, pickle_module=_restricted_pickle_module())


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, reading through :func:`load_checkpoint` (Trainer resume
    with ``ckpt_path`` then runs no code from the file). The CLI's trainers use it."""

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        if weights_only is False:
            raise UnsafeCheckpointError(f"{os.fspath(path)}: matforge loads checkpoints with weights_only=True only")
        if not os.path.exists(path):
            raise FileNotFoundError(f"checkpoint file at {os.fspath(path)} not found")
        return load_checkpoint(path, map_location=map_location if map_location is not None else _keep_on_host)


def _keep_on_host(storage: Any, location: str) -> Any:
    return storage


# -- loading tasks ----------------------------------------------------------------------------


def load_task(
    path: PathLike,
    map_location: Any = "cpu",
    *,
    expected: type | None = None,
    strict: bool = True,
    **overrides: Any,
) -> AtomisticTask:
    """The task saved in a checkpoint, rebuilt through the registry.

    The task class is the registered task the record names; the backbone is built again by
    registry name from the recorded arguments (defaults included, so a plugin that changed a
    default since still rebuilds the trained model). Lightning's instantiator in CLI
    checkpoints is ignored: no class path from the file is ever imported.

    Args:
        path: the checkpoint file.
        map_location: as for ``torch.load``.
        expected: the task class asked for (``EnergyTask.load_from_checkpoint``): the
            checkpoint's task must be it or a subclass.
        strict: require the state dict to match the task's parameters exactly.
        overrides: task arguments replacing the saved ones (``backbone=<Backbone>`` for a
            checkpoint of a backbone that was not built by name).

    Raises:
        NotATaskCheckpointError, UnsafeCheckpointError, UnregisteredTaskError: the file.
        matforge.registry.PluginNotInstalledError: the backbone's plugin is not installed
            (the message names the distribution and version that wrote the checkpoint).
        CheckpointMismatchError: the installed backbone does not rebuild the recorded one.
    """
    from matforge.tasks.base import AtomisticTask

    checkpoint = load_checkpoint(path, map_location=map_location)
    record = read_record(checkpoint, path)
    cls = task_class(record, path)
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointMismatchError(
            f"{os.fspath(path)} holds a {task_name(record, path)!r} task ({cls.__name__}), not a {expected.__name__}; "
            "load it with matforge.tasks.load_task"
        )
    _warn_on_core_version(record, path)
    arguments = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    if "backbone" not in overrides:
        overrides["backbone"] = rebuild_backbone(record, path)
    arguments.pop("backbone_args", None)
    arguments.update(overrides)
    try:
        task = cls(**arguments)
    except TypeError as exc:
        raise CheckpointMismatchError(
            f"{os.fspath(path)}: task {cls.__name__} cannot be built from the saved arguments: {exc}"
        ) from None
    assert isinstance(task, AtomisticTask)
    task.on_load_checkpoint(checkpoint)
    state = checkpoint.get("state_dict") or {}
    task.load_state_dict(state, strict=strict)
    device = next((t.device for t in state.values() if isinstance(t, torch.Tensor)), None)
    return task.to(device) if device is not None else task


def task_name(record: CheckpointRecord, path: PathLike | str = "checkpoint") -> str:
    """Registry name of the task ``record`` names (its class matched as a string when it was
    not registered at save time; nothing is imported).

    Raises:
        UnregisteredTaskError: no registered task has that name or class.
    """
    from matforge.registry import registry

    name = record.task if record.task is not None else registered_task_name(record.task_class)
    if name is None or ("task", name) not in registry:
        told = repr(record.task) if record.task is not None else f"class {record.task_class!r}"
        raise UnregisteredTaskError(
            f"{os.fspath(path)} names task {told}, which is not a registered task (nothing was "
            f"imported); registered tasks: {', '.join(_task_names())}. A task class of your own "
            "must be registered (registry.register('task', NAME, cls)) to load its checkpoints"
        )
    return name


def task_class(record: CheckpointRecord, path: PathLike | str = "checkpoint") -> type:
    """The registered task class ``record`` names.

    Raises:
        UnregisteredTaskError: the name is not a registered task, or the registered object is
            not an :class:`~matforge.tasks.base.AtomisticTask`.
    """
    from matforge.registry import RegistryError, registry
    from matforge.tasks.base import AtomisticTask

    name = task_name(record, path)
    try:
        cls = registry.get("task", name)
    except RegistryError as exc:
        raise UnregisteredTaskError(f"{os.fspath(path)}: task {name!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, AtomisticTask)):
        raise UnregisteredTaskError(f"{os.fspath(path)}: registered task {name!r} is not a matforge task class")
    return cls


def rebuild_backbone(record: CheckpointRecord, path: PathLike | str = "checkpoint") -> Any:
    """The backbone ``record`` describes, built through the registry.

    Raises:
        matforge.registry.PluginNotInstalledError: no model of that name is installed and the
            record names the distribution that provided it.
        CheckpointMismatchError: the recorded arguments no longer fit the model, or it now
            asks for another representation or other settings.
    """
    from matforge.models import build_backbone
    from matforge.registry import PluginNotInstalledError, UnknownNameError, registry

    where = os.fspath(path)
    if record.backbone is None:
        raise CheckpointMismatchError(
            f"{where}: the backbone was not built by name (matforge.models.build_backbone), so the "
            "checkpoint cannot rebuild it; pass backbone=<the same Backbone> when loading"
        )
    try:
        info = registry.info("model", record.backbone)
    except UnknownNameError as exc:
        if record.plugin_distribution is None:
            raise
        # Whether to install it, or why the installed one did not load: from the installed
        # distributions (matforge.registry.Registry.missing_plugin_error).
        missing = registry.missing_plugin_error("model", record.backbone, record.plugin_distribution, record.plugin_version)
        raise PluginNotInstalledError(f"{where} needs {missing} ({exc})") from None
    if record.plugin_distribution is not None and (info.distribution, info.version) != (
        record.plugin_distribution, record.plugin_version
    ):
        warnings.warn(
            f"{where} was written with model {record.backbone!r} from {record.plugin_distribution} "
            f"{record.plugin_version}; this environment has it from {info.distribution} {info.version}. "
            "Predictions may differ if the model's code changed.",
            CheckpointVersionWarning,
            stacklevel=3,
        )
    try:
        backbone = build_backbone(record.backbone, **record.backbone_args)
    except TypeError as exc:
        raise CheckpointMismatchError(
            f"{where}: model {record.backbone!r} no longer accepts the recorded arguments "
            f"{record.backbone_args}: {exc}"
        ) from None
    if record.representation:  # format-1 records did not store it
        settings = dict(backbone.representation_config())
        if (backbone.representation, settings) != (record.representation, record.representation_settings):
            raise CheckpointMismatchError(
                f"{where} was trained on representation {record.representation!r} "
                f"{record.representation_settings}, but model {record.backbone!r} as installed "
                f"builds {backbone.representation!r} {settings} from the same arguments"
            )
    return backbone


def _warn_on_core_version(record: CheckpointRecord, path: PathLike | str) -> None:
    from matforge import __version__

    if record.core_version and record.core_version != __version__:
        warnings.warn(
            f"{os.fspath(path)} was written by matforge {record.core_version}; this is matforge {__version__}",
            CheckpointVersionWarning,
            stacklevel=3,
        )
