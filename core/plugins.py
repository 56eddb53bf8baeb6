"""Runtime plugin discovery through the ``matforge.plugins`` entry-point group.

We do discovery ourselves rather than with pluggy's ``load_setuptools_entrypoints``: that
imports every plugin eagerly, stops at the first one that raises and silently drops a second
plugin of the same name. Here each plugin is imported, checked and registered on its own, and
every hook is called through pluggy one plugin at a time (a subset hook caller holding that
plugin only), so one broken plugin is reported and the others still work. Anything a plugin
raises during discovery counts, ``SystemExit`` included; only ``KeyboardInterrupt`` stops it.

Environment variables:

``MATFORGE_DISABLE_PLUGINS=a,b``
    entry-point names of plugins to skip (their modules are not imported).
``MATFORGE_STRICT_PLUGINS=1``
    raise :class:`PluginError` instead of warning when a plugin is broken or incompatible.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import importlib_metadata
import pluggy

from matforge._version import PLUGIN_API_VERSION
from matforge.errors import MatforgeUserError
from matforge.hooks import ENTRY_POINT_GROUP, PROJECT_NAME, MatforgeSpecs

if TYPE_CHECKING:
    from matforge.registry import Registry

DISABLE_ENV = "MATFORGE_DISABLE_PLUGINS"
STRICT_ENV = "MATFORGE_STRICT_PLUGINS"
API_ATTRIBUTE = "MATFORGE_PLUGIN_API"

#: Hook options matforge refuses: a wrapper around one plugin's own implementation has
#: nothing to wrap, and silently running it as a plain hook would be wrong.
REFUSED_HOOK_OPTIONS = ("wrapper", "hookwrapper")


class PluginError(MatforgeUserError, RuntimeError):
    """A plugin could not be loaded, is incompatible, or clashes with another."""


class PluginWarning(UserWarning):
    """A plugin was skipped; the message says why."""


class PluginAPIError(ValueError):
    """A hook module's ``MATFORGE_PLUGIN_API`` is missing or malformed."""


@dataclass(frozen=True)
class PluginSpec:
    """An installed plugin as its metadata describes it (nothing imported)."""

    name: str
    module: str
    distribution: str | None
    version: str | None


@dataclass
class PluginStatus:
    """What happened when a plugin was loaded.

    ``status`` is ``ok``, ``broken`` (import, registration or a hook raised), ``conflict`` (it
    registered a name another plugin has), ``incompatible`` (built for another plugin API, or
    no valid ``MATFORGE_PLUGIN_API``), or ``disabled`` (blocked by ``MATFORGE_DISABLE_PLUGINS``).
    A plugin whose ``matforge_add_cli_commands`` raised keeps its components (they work) and
    becomes ``broken`` with the hook's error.
    """

    spec: PluginSpec
    status: str
    components: list[str] = field(default_factory=list)
    error: str | None = None
    #: the imported hook module (``None`` unless it was imported)
    module: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name


def installed_plugins(entry_points: Iterable[Any] | None = None) -> list[PluginSpec]:
    """Installed plugins from entry-point metadata alone: imports none of them.

    The core comes first, the others sorted by name. Two distributions declaring the same
    entry-point name both appear (loading reports the clash).
    """
    eps = list(entry_points) if entry_points is not None else list(
        importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    specs: dict[tuple[str, str | None], PluginSpec] = {}
    for ep in eps:
        dist = getattr(ep, "dist", None)
        spec = PluginSpec(
            name=ep.name,
            module=ep.value,
            distribution=getattr(dist, "name", None),
            version=getattr(dist, "version", None),
        )
        # The same distribution can be visible twice (e.g. an editable install plus a build
        # directory on sys.path); keep one.
        specs.setdefault((spec.name, spec.distribution), spec)
    return sorted(specs.values(), key=lambda s: (s.name != "core", s.name, s.distribution or ""))


def disabled_plugin_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def supported_api(module: Any) -> tuple[int, ...]:
    """The plugin API versions a hook module declares in ``MATFORGE_PLUGIN_API``: required,
    a positive int or a non-empty tuple/list of them.

    Raises:
        PluginAPIError: the attribute is missing or malformed (the message shows the fix).
    """
    fix = f"declare e.g. {API_ATTRIBUTE} = ({PLUGIN_API_VERSION},) in the hook module"
    if not hasattr(module, API_ATTRIBUTE):
        raise PluginAPIError(f"its hook module declares no {API_ATTRIBUTE} (required): {fix}")
    declared = getattr(module, API_ATTRIBUTE)
    versions = (declared,) if isinstance(declared, int) else declared
    if (
        not isinstance(versions, (tuple, list))
        or not versions
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in versions)
    ):
        raise PluginAPIError(
            f"{API_ATTRIBUTE} = {declared!r} is not a positive int or a non-empty tuple of them: {fix}"
        )
    return tuple(versions)


def _import_hook_module(spec: PluginSpec) -> Any:
    module_name, _, attr = spec.module.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) (the plugin called sys.exit)"
    return f"{type(exc).__name__}: {exc}"


def _check_hook_options(manager: pluggy.PluginManager, module: Any) -> None:
    """Refuse wrappers and implementations of hooks matforge does not define."""
    for hook_name in dir(module):
        options = manager.parse_hookimpl_opts(module, hook_name)
        if options is None:
            continue
        if not hasattr(MatforgeSpecs, hook_name):
            known = ", ".join(n for n in dir(MatforgeSpecs) if n.startswith("matforge_"))
            raise PluginError(f"implements {hook_name!r}, which is not a matforge hook (hooks: {known})")
        refused = [o for o in REFUSED_HOOK_OPTIONS if options.get(o)]
        if refused:
            raise PluginError(
                f"hook {hook_name!r} is declared with {refused[0]}=True, which matforge does not "
                "support (each plugin's hooks are called on their own): remove the option"
            )


def _call_order(manager: pluggy.PluginManager, hook_name: str, statuses: list[PluginStatus]) -> list[PluginStatus]:
    """``statuses`` holding an implementation of ``hook_name``: discovery order, moved by
    ``tryfirst`` (to the front) and ``trylast`` (to the back)."""
    impls = {id(i.plugin): i for i in getattr(manager.hook, hook_name).get_hookimpls()}
    with_impl = [s for s in statuses if s.module is not None and id(s.module) in impls]
    return sorted(with_impl, key=lambda s: 0 if impls[id(s.module)].tryfirst else 2 if impls[id(s.module)].trylast else 1)


def plugin_callers(
    manager: pluggy.PluginManager, statuses: list[PluginStatus], hook_name: str
) -> Iterator[tuple[PluginStatus, Callable[..., Any]]]:
    """``(status, caller)`` for each ``ok`` plugin implementing ``hook_name``, in call order:
    ``caller(**kwargs)`` calls that plugin's implementation alone, through pluggy (a subset
    hook caller without the other plugins). Callers catch what a plugin raises themselves."""
    for status in _call_order(manager, hook_name, [s for s in statuses if s.status == "ok"]):
        others = [p for p in manager.get_plugins() if p is not status.module]
        yield status, manager.subset_hook_caller(hook_name, remove_plugins=others)


def load_plugins(
    registry: Registry, entry_points: Iterable[Any] | None = None
) -> tuple[list[PluginStatus], pluggy.PluginManager]:
    """Import each plugin's hook module, check its API version and hooks, then call its
    ``matforge_register`` with a staging :class:`~matforge.hooks.Registrar`.

    Returns the status of every plugin and the plugin manager holding the good ones.
    """
    from matforge.registry import _PluginRegistrar

    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(MatforgeSpecs)
    disabled = disabled_plugin_names()
    statuses: list[PluginStatus] = []
    for spec in installed_plugins(entry_points):
        if spec.name in disabled:
            statuses.append(PluginStatus(spec, "disabled", error=f"blocked by {DISABLE_ENV}"))
            continue
        statuses.append(_import_and_check(manager, spec))

    # Registrations are staged per plugin, then committed in discovery order (so that
    # ``override=True`` of a later plugin replaces an earlier one's name, whatever the order
    # the hooks ran in).
    registrars: dict[int, _PluginRegistrar] = {}
    for status, caller in plugin_callers(manager, statuses, "matforge_register"):
        registrar = _PluginRegistrar(registry, status.spec.name, status.spec.distribution, status.spec.version)
        try:
            caller(registry=registrar)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            _mark_failed(status, "broken", f"registration failed: {_describe(exc)}", exc)
        else:
            registrars[id(status)] = registrar
    for status in statuses:
        registrar = registrars.get(id(status))
        if registrar is None:
            continue
        components, conflicts = registrar.commit()
        status.components = components
        if conflicts:
            _mark_failed(status, "conflict", " ".join(map(str, conflicts)), conflicts[0])
    for status in statuses:
        if status.status != "ok" and status.module is not None and manager.is_registered(status.module):
            manager.unregister(status.module)
    return statuses, manager


def _import_and_check(manager: pluggy.PluginManager, spec: PluginSpec) -> PluginStatus:
    status = PluginStatus(spec, "ok")
    try:
        module = _import_hook_module(spec)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return _mark_failed(status, "broken", f"import failed: {_describe(exc)}", exc)
    status.module = module
    try:
        supported = supported_api(module)
    except PluginAPIError as exc:
        return _mark_failed(status, "incompatible", str(exc), exc)
    if PLUGIN_API_VERSION not in supported:
        message = (
            f"built for matforge plugin API version(s) {', '.join(map(str, supported))}; this "
            f"matforge provides version {PLUGIN_API_VERSION}. Install a release of "
            f"{spec.distribution or spec.name} that supports API {PLUGIN_API_VERSION}, or a "
            "matforge that supports the plugin's."
        )
        return _mark_failed(status, "incompatible", message, None)
    try:
        _check_hook_options(manager, module)
        name = spec.name if manager.get_plugin(spec.name) is None else f"{spec.name}@{spec.distribution}"
        manager.register(module, name=name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return _mark_failed(status, "broken", f"invalid hooks: {_describe(exc)}", exc)
    return status


def _mark_failed(status: PluginStatus, kind: str, message: str, exc: BaseException | None) -> PluginStatus:
    """Set ``status`` to ``kind`` with ``message``; warn, or raise :class:`PluginError` when
    ``MATFORGE_STRICT_PLUGINS`` is set."""
    spec = status.spec
    who = f"{spec.name} ({spec.distribution} {spec.version})" if spec.distribution else spec.name
    text = f"matforge plugin {who} is {kind}: {message}"
    status.status, status.error = kind, message
    if _strict():
        raise PluginError(text) from exc
    warnings.warn(text + f" (set {STRICT_ENV}=1 to make this an error)", PluginWarning, stacklevel=4)
    return status


def hook_failed(status: PluginStatus, hook_name: str, exc: BaseException) -> None:
    """Record that ``hook_name`` of an otherwise working plugin raised: the plugin becomes
    ``broken`` with the error, its registered components stay usable."""
    _mark_failed(status, "broken", f"{hook_name} failed: {_describe(exc)}", exc)
