"""The component registry: backbones, representations, tasks and datasets by name.

Components come from plugins (found at runtime through entry points, see
:mod:`matforge.plugins`) or from a user's own ``registry.register`` call. Targets given as
``"module:attr"`` strings are imported on first use, so listing what exists imports no model
code.

>>> from matforge import registry
>>> registry.names("task")            # doctest: +SKIP
['is2re', 'property', 's2ef']
>>> EGNN = registry.get("backbone", "egnn")   # doctest: +SKIP

Kind ``model`` is an alias of ``backbone`` (the neural network a task is built around), kept
so that ``registry.get("model", ...)`` and ``matforge list model`` go on working.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from matforge.errors import MatforgeUserError

#: Kinds every core knows. Plugins may add more with :meth:`Registry.add_kind`.
DEFAULT_KINDS: tuple[str, ...] = ("backbone", "representation", "task", "dataset")

#: Other words for a kind: ``model`` is what earlier releases called a backbone.
KIND_ALIASES: dict[str, str] = {"model": "backbone"}

USER = "<user>"


class RegistryError(MatforgeUserError, LookupError):
    """Base class of registry errors (a name or kind the user gave that does not resolve)."""


class UnknownKindError(RegistryError):
    """The kind is not one the registry knows."""


class UnknownNameError(RegistryError):
    """No component of that kind has that name."""


class PluginNotInstalledError(UnknownNameError):
    """The name belongs to a plugin distribution (e.g. recorded in a checkpoint) that is not
    installed, or is installed but did not load."""


class DuplicateNameError(RegistryError):
    """Two providers registered the same kind and name."""


class RegistryVersionWarning(UserWarning):
    """A component is provided by another version of its distribution than was recorded."""


class ComponentLoadError(RegistryError):
    """A lazily registered ``"module:attr"`` target could not be imported."""


@dataclass(frozen=True)
class ComponentInfo:
    """What the registry knows about one component, without loading it."""

    kind: str
    name: str
    summary: str
    plugin: str
    distribution: str | None
    version: str | None
    target: str
    aliases: tuple[str, ...] = ()


@dataclass
class _Entry:
    kind: str
    name: str
    target: Any
    summary: str
    plugin: str
    distribution: str | None
    version: str | None
    aliases: tuple[str, ...] = ()
    _loaded: Any = field(default=None, repr=False)
    _is_loaded: bool = field(default=False, repr=False)

    def target_repr(self) -> str:
        if isinstance(self.target, str):
            return self.target
        module = getattr(self.target, "__module__", "?")
        qualname = getattr(self.target, "__qualname__", type(self.target).__name__)
        return f"{module}:{qualname}"

    def provider(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return f"plugin {self.plugin!r}" if self.plugin != USER else "a user registration"

    def load(self) -> Any:
        if self._is_loaded:
            return self._loaded
        if isinstance(self.target, str):
            self._loaded = _import_target(self.target, self)
        else:
            self._loaded = self.target
        self._is_loaded = True
        return self._loaded

    def info(self) -> ComponentInfo:
        return ComponentInfo(
            kind=self.kind,
            name=self.name,
            summary=self.summary,
            plugin=self.plugin,
            distribution=self.distribution,
            version=self.version,
            target=self.target_repr(),
            aliases=self.aliases,
        )


def _import_target(spec: str, entry: _Entry) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ComponentLoadError(
            f"{entry.kind} {entry.name!r} from {entry.provider()}: target {spec!r} is not of the "
            "form 'package.module:attribute'"
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ComponentLoadError(
            f"{entry.kind} {entry.name!r} from {entry.provider()} could not be loaded from "
            f"{spec!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return obj


def _looks_like_target_string(target: Any) -> bool:
    return isinstance(target, str) and ":" in target


class Registry:
    """Components by kind and name, filled by plugins on first use.

    Args:
        discover: run plugin discovery (entry points of group ``matforge.plugins``) the first
            time the registry is queried. Tests pass ``False`` to get an empty registry.
        entry_points: the entry points to load instead of the installed ones (for tests).
    """

    def __init__(self, *, discover: bool = True, entry_points: Iterable[Any] | None = None):
        self._kinds: dict[str, dict[str, _Entry]] = {k: {} for k in DEFAULT_KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in DEFAULT_KINDS}
        self._conflicts: dict[tuple[str, str], list[_Entry]] = {}
        self._discover = discover
        self._entry_points = list(entry_points) if entry_points is not None else None
        self._discovered = False
        self._lock = threading.RLock()
        self._plugins: list[Any] = []  # PluginStatus, filled by discovery
        self._plugin_manager: Any = None

    # -- discovery ---------------------------------------------------------------------------

    def _ensure_discovered(self) -> None:
        if self._discovered or not self._discover:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            from matforge.plugins import load_plugins

            self._plugins, self._plugin_manager = load_plugins(self, self._entry_points)

    def plugins(self) -> list[Any]:
        """Status of every installed plugin (loads their hook modules, not their models)."""
        self._ensure_discovered()
        return list(self._plugins)

    @property
    def plugin_manager(self) -> Any:
        """The :class:`pluggy.PluginManager` holding the loaded hook modules."""
        self._ensure_discovered()
        return self._plugin_manager

    # -- registering -------------------------------------------------------------------------

    def kinds(self) -> list[str]:
        """Known kinds, sorted (aliases such as ``model`` not included)."""
        self._ensure_discovered()
        return sorted(self._kinds)

    def canonical_kind(self, kind: str) -> str:
        """``kind`` with aliases resolved (``model`` → ``backbone``); raises
        :class:`UnknownKindError` for a kind nobody registered."""
        canonical = KIND_ALIASES.get(kind, kind)
        self._check_kind(canonical, kind)
        return canonical

    def add_kind(self, kind: str) -> None:
        """Make a new kind of component available (idempotent)."""
        _check_identifier("kind", kind)
        if kind in KIND_ALIASES:
            return
        with self._lock:
            self._kinds.setdefault(kind, {})
            self._aliases.setdefault(kind, {})

    def register(
        self,
        kind: str,
        name: str,
        target: Any,
        *,
        override: bool = False,
        summary: str | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        """Register ``target`` as ``kind``/``name``.

        Args:
            kind: one of :meth:`kinds` (``backbone`` or its alias ``model``, ``representation``,
                ``task``, ``dataset``, …).
            name: the name users type; lower case, digits, ``-``, ``_`` and ``.``.
            target: the object itself, or ``"module:attr"`` imported when first used.
            override: replace an existing registration instead of raising
                :class:`DuplicateNameError`.
            summary: one line shown by ``matforge list``; defaults to the first line of the
                target's docstring when the target is an object.
            aliases: further names resolving to the same component.
        """
        self._add(
            _Entry(
                kind=KIND_ALIASES.get(kind, kind),
                name=name,
                target=target,
                summary=summary if summary is not None else _summary_of(target),
                plugin=USER,
                distribution=None,
                version=None,
                aliases=tuple(aliases),
            ),
            override=override,
            during_discovery=False,
        )

    def _add(self, entry: _Entry, *, override: bool, during_discovery: bool) -> None:
        entry.kind = KIND_ALIASES.get(entry.kind, entry.kind)
        self._check_kind(entry.kind)
        _check_identifier("name", entry.name)
        for alias in entry.aliases:
            _check_identifier("alias", alias)
        if not (_looks_like_target_string(entry.target) or not isinstance(entry.target, str)):
            raise ValueError(
                f"cannot register {entry.kind} {entry.name!r}: string target {entry.target!r} "
                "must be of the form 'package.module:attribute'"
            )
        with self._lock:
            table = self._kinds[entry.kind]
            for key in (entry.name, *entry.aliases):
                conflict = self._conflicts.get((entry.kind, key))
                if override:
                    self._conflicts.pop((entry.kind, key), None)
                    continue
                if conflict:
                    conflict.append(entry)
                    raise DuplicateNameError(_duplicate_message(entry.kind, key, conflict[0], entry))
                existing_name = self._aliases[entry.kind].get(key, key)
                existing = table.get(existing_name)
                if existing is None:
                    continue
                if during_discovery:
                    # Two plugins claim one name: neither wins silently. The name stays
                    # unusable until one is removed, disabled or registers with override.
                    self._conflicts[(entry.kind, key)] = [existing, entry]
                    if key in self._aliases[entry.kind]:
                        del self._aliases[entry.kind][key]
                    else:
                        del table[existing_name]
                        self._drop_aliases_of(entry.kind, existing_name)
                    raise DuplicateNameError(_duplicate_message(entry.kind, key, existing, entry))
                raise DuplicateNameError(
                    _duplicate_message(entry.kind, key, existing, entry)
                    + " Pass override=True to replace it."
                )
            if override:
                self._drop_aliases_of(entry.kind, entry.name)
            table[entry.name] = entry
            for alias in entry.aliases:
                self._aliases[entry.kind][alias] = entry.name

    def _drop_aliases_of(self, kind: str, name: str) -> None:
        for alias, target in list(self._aliases[kind].items()):
            if target == name:
                del self._aliases[kind][alias]

    def unregister(self, kind: str, name: str) -> None:
        """Remove a registration (mainly for tests and interactive use)."""
        self._ensure_discovered()
        word, kind = kind, self.canonical_kind(kind)
        with self._lock:
            resolved = self._resolve(kind, name, word)
            del self._kinds[kind][resolved]
            self._drop_aliases_of(kind, resolved)

    # -- looking up --------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Names registered for ``kind``, sorted (aliases not included)."""
        self._ensure_discovered()
        return sorted(self._kinds[self.canonical_kind(kind)])

    def get(self, kind: str, name: str, *, distribution: str | None = None, version: str | None = None) -> Any:
        """The component ``kind``/``name``, importing it if it was registered lazily.

        ``distribution`` and ``version``: who provided it when it was recorded (a checkpoint).
        A name nobody registers then raises :class:`PluginNotInstalledError` saying whether to
        install ``distribution==version`` or why the installed one did not load; a component
        now provided by another version of the distribution warns.
        """
        try:
            entry = self._entry(kind, name)
        except UnknownNameError:
            if distribution is None:
                raise
            raise self.missing_plugin_error(kind, name, distribution, version) from None
        if distribution is not None and version is not None and entry.distribution == distribution and entry.version != version:
            import warnings

            warnings.warn(
                f"{kind} {name!r} was recorded with {distribution} {version}; {distribution} "
                f"{entry.version} is installed, and its defaults or behaviour may differ",
                RegistryVersionWarning,
                stacklevel=2,
            )
        return entry.load()

    def info(self, kind: str, name: str) -> ComponentInfo:
        """Provider, version and summary of ``kind``/``name`` without importing it."""
        return self._entry(kind, name).info()

    def infos(self, kind: str | None = None) -> list[ComponentInfo]:
        """Infos of every component of ``kind`` (or of all kinds), sorted by kind and name."""
        kinds = [kind] if kind is not None else self.kinds()
        return [self.info(k, n) for k in kinds for n in self.names(k)]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        self._ensure_discovered()
        kind = KIND_ALIASES.get(kind, kind)
        return kind in self._kinds and self._resolve_or_none(kind, name) is not None

    def _entry(self, kind: str, name: str) -> _Entry:
        self._ensure_discovered()
        word, kind = kind, self.canonical_kind(kind)
        return self._kinds[kind][self._resolve(kind, name, word)]

    def _resolve_or_none(self, kind: str, name: str) -> str | None:
        resolved = self._aliases[kind].get(name, name)
        return resolved if resolved in self._kinds[kind] else None

    def _resolve(self, kind: str, name: str, word: str | None = None) -> str:
        resolved = self._resolve_or_none(kind, name)
        if resolved is not None:
            return resolved
        conflict = self._conflicts.get((kind, name))
        if conflict:
            first, *others = conflict
            raise DuplicateNameError(_duplicate_message(kind, name, first, others[0]))
        raise self._unknown_name_error(kind, name, word or kind)

    def _unknown_name_error(self, kind: str, name: str, word: str) -> UnknownNameError:
        available = sorted([*self._kinds[kind], *self._aliases[kind]])
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return UnknownNameError(
            f"unknown {word} {name!r}.{hint} Available {word}s: {_listing(available)}"
            f"{self._unloaded_plugins_hint()}"
        )

    def _unloaded_plugins_hint(self) -> str:
        """Installed plugins that registered nothing (broken, incompatible, disabled, in
        conflict): the name asked for may be one of theirs."""
        unloaded = [p for p in self._plugins if p.status != "ok"]
        if not unloaded:
            return ""
        listed = "; ".join(
            f"{p.spec.distribution or p.name} ({p.status}{': ' + p.error if p.error else ''})" for p in unloaded
        )
        return f". Installed plugins that did not load: {listed} (see 'matforge plugins')"

    def missing_plugin_error(
        self, kind: str, name: str, distribution: str, version: str | None = None
    ) -> PluginNotInstalledError:
        """The error for ``kind``/``name`` known (e.g. from a checkpoint) to come from
        ``distribution``: whether that distribution is installed (then it failed to load, or
        no longer provides the name) or not is read from the installed distributions."""
        import importlib_metadata

        wanted = f"{distribution}=={version}" if version else distribution
        try:
            installed = importlib_metadata.distribution(distribution).version
        except importlib_metadata.PackageNotFoundError:
            installed = None
        provider = f"{distribution} {version}" if version else distribution
        if installed is None:
            what = f"which is not installed here: pip install '{wanted}'"
        else:
            status = next((p for p in self.plugins() if p.spec.distribution == distribution), None)
            state = f"is {status.status}: {status.error}" if status is not None and status.status != "ok" else (
                "does not register it (any more)"
            )
            what = f"which is installed ({distribution} {installed}) but {state} (see 'matforge plugins')"
            if version and version != installed:
                what += f"; the name was provided by version {version}: pip install '{wanted}'"
        return PluginNotInstalledError(f"{kind} {name!r} from {provider}, {what}")

    def _check_kind(self, kind: str, word: str | None = None) -> None:
        if kind not in self._kinds:
            known = [*self._kinds, *KIND_ALIASES]
            close = difflib.get_close_matches(word or kind, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownKindError(
                f"unknown component kind {word or kind!r}.{hint} Known kinds: {', '.join(sorted(self._kinds))} "
                f"({', '.join(f'{a} = {k}' for a, k in KIND_ALIASES.items())})"
            )


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "(none registered)"


def _duplicate_message(kind: str, name: str, first: _Entry, second: _Entry) -> str:
    return (
        f"{kind} {name!r} is registered twice: by {first.provider()} and by {second.provider()}. "
        "Uninstall one, block one with MATFORGE_DISABLE_PLUGINS=<plugin>, or have one register "
        "with override=True."
    )


def _check_identifier(what: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"registry {what} must be a non-empty string, got {value!r}")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
    if not set(value) <= allowed:
        raise ValueError(
            f"registry {what} {value!r} may contain only lower-case letters, digits, '-', '_' and '.'"
        )


def _summary_of(target: Any) -> str:
    if isinstance(target, str):
        return ""
    doc = getattr(target, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class _PluginRegistrar:
    """The :class:`matforge.hooks.Registrar` a plugin's ``matforge_register`` hook receives.

    Records which plugin registered what, and stages registrations so that a plugin that
    fails half-way adds nothing.
    """

    def __init__(self, registry: Registry, plugin: str, distribution: str | None, version: str | None):
        self._registry = registry
        self._plugin = plugin
        self._distribution = distribution
        self._version = version
        self.staged: list[tuple[_Entry, bool]] = []
        self.new_kinds: list[str] = []

    def add_kind(self, kind: str) -> None:
        _check_identifier("kind", kind)
        self.new_kinds.append(kind)

    def kinds(self) -> list[str]:
        return sorted({*self._registry._kinds, *self.new_kinds})

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes that do not exist: say what a hook may use.
        raise AttributeError(
            f"the registrar given to matforge_register has no {attribute!r}: it offers register, "
            "add_kind and kinds (matforge.hooks.Registrar); query matforge.registry after discovery"
        )

    def register(
        self,
        kind: str,
        name: str,
        target: Any,
        *,
        override: bool = False,
        summary: str | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        kind = KIND_ALIASES.get(kind, kind)
        if kind not in self._registry._kinds and kind not in self.new_kinds:
            self._registry._check_kind(kind)
        entry = _Entry(
            kind=kind,
            name=name,
            target=target,
            summary=summary if summary is not None else _summary_of(target),
            plugin=self._plugin,
            distribution=self._distribution,
            version=self._version,
            aliases=tuple(aliases),
        )
        _check_identifier("name", name)
        self.staged.append((entry, override))

    def commit(self) -> tuple[list[str], list[DuplicateNameError]]:
        """Add the staged entries; names another provider holds are returned as errors."""
        for kind in self.new_kinds:
            self._registry.add_kind(kind)
        added: list[str] = []
        errors: list[DuplicateNameError] = []
        for entry, override in self.staged:
            try:
                self._registry._add(entry, override=override, during_discovery=True)
            except DuplicateNameError as exc:
                errors.append(exc)
            else:
                added.append(f"{entry.kind}:{entry.name}")
        return added, errors


registry = Registry()
"""The process-wide registry, filled from installed plugins on first use."""


def register(kind: str, name: str, target: Any, **kwargs: Any) -> None:
    """Shorthand for ``matforge.registry.register`` on the global registry."""
    registry.register(kind, name, target, **kwargs)


def get(kind: str, name: str) -> Any:
    """Shorthand for ``matforge.registry.get`` on the global registry."""
    return registry.get(kind, name)


def names(kind: str) -> list[str]:
    """Shorthand for ``matforge.registry.names`` on the global registry."""
    return registry.names(kind)


def info(kind: str, name: str) -> ComponentInfo:
    """Shorthand for ``matforge.registry.info`` on the global registry."""
    return registry.info(kind, name)

