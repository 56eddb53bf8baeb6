"""Runtime plugin discovery through the ``matforge.plugins`` entry-point group.

We do discovery ourselves rather than with pluggy's ``load_setuptools_entrypoints``: that
imports every plugin eagerly, stops at the first one that raises and silently drops a second
plugin of the same name. Here each plugin is loaded and registered on its own, inside
``try/except``, so one broken plugin is reported and the others still work.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import importlib_metadata
import pluggy

from matforge._version import PLUGIN_API_VERSION
from matforge.hooks import ENTRY_POINT_GROUP, PROJECT_NAME, MatforgeSpecs

if TYPE_CHECKING:
    from matforge.registry import Registry

DISABLE_ENV = "MATFORGE_DISABLE_PLUGINS"
STRICT_ENV = "MATFORGE_STRICT_PLUGINS"


class PluginError(RuntimeError):
    """A plugin could not be loaded, is incompatible, or clashes with another."""


class PluginWarning(UserWarning):
    """A plugin was skipped; the message says why."""


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

    ``status`` is ``ok``, ``broken`` (import or registration raised), ``conflict`` (it
    registered a name another plugin has), ``incompatible`` (built for another plugin API),
    or ``disabled`` (blocked by ``MATFORGE_DISABLE_PLUGINS``).
    """

    spec: PluginSpec
    status: str
    components: list[str] = field(default_factory=list)
    error: str | None = None

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


def _supported_api(module: Any) -> tuple[int, ...]:
    declared = getattr(module, "MATFORGE_PLUGIN_API", (1,))
    if isinstance(declared, int):
        declared = (declared,)
    return tuple(int(v) for v in declared)


def _import_hook_module(spec: PluginSpec) -> Any:
    module_name, _, attr = spec.module.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def load_plugins(
    registry: Registry, entry_points: Iterable[Any] | None = None
) -> tuple[list[PluginStatus], pluggy.PluginManager]:
    """Import each plugin's hook module, check its API version and let it register.

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
        try:
            module = _import_hook_module(spec)
        except Exception as exc:
            statuses.append(_failed(spec, "broken", f"import failed: {type(exc).__name__}: {exc}", exc))
            continue
        supported = _supported_api(module)
        if PLUGIN_API_VERSION not in supported:
            message = (
                f"built for matforge plugin API version(s) {', '.join(map(str, supported))}; this "
                f"matforge provides version {PLUGIN_API_VERSION}. Install a release of "
                f"{spec.distribution or spec.name} that supports API {PLUGIN_API_VERSION}, or a "
                "matforge that supports the plugin's."
            )
            statuses.append(_failed(spec, "incompatible", message, None))
            continue
        registrar = _PluginRegistrar(registry, spec.name, spec.distribution, spec.version)
        try:
            plugin_name = spec.name if manager.get_plugin(spec.name) is None else f"{spec.name}@{spec.distribution}"
            manager.register(module, name=plugin_name)
            for impl in manager.hook.matforge_register.get_hookimpls():
                if impl.plugin is module:
                    impl.function(**{a: registrar for a in impl.argnames if a == "registry"})
        except Exception as exc:
            if manager.is_registered(module):
                manager.unregister(module)
            statuses.append(
                _failed(spec, "broken", f"registration failed: {type(exc).__name__}: {exc}", exc)
            )
            continue
        components, conflicts = registrar.commit()
        if conflicts:
            status = _failed(spec, "conflict", " ".join(map(str, conflicts)), conflicts[0])
            status.components = components
            statuses.append(status)
            continue
        statuses.append(PluginStatus(spec, "ok", components=components))
    return statuses, manager


def _failed(spec: PluginSpec, status: str, message: str, exc: BaseException | None) -> PluginStatus:
    who = f"{spec.name} ({spec.distribution} {spec.version})" if spec.distribution else spec.name
    text = f"matforge plugin {who} is {status}: {message}"
    if _strict():
        raise PluginError(text) from exc
    warnings.warn(text + f" (set {STRICT_ENV}=1 to make this an error)", PluginWarning, stacklevel=4)
    return PluginStatus(spec, status, error=message)
