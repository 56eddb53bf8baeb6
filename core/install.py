"""What to type to install an optional dependency, in the form that works where matforge runs.

matforge and its plugins are usually installed from a clone (``pip install -e ./``), where
``pip install 'matforge[plot]'`` fails: the name is looked up on the package index, not in the
clone. :func:`install_hint` reads how a distribution was installed (PEP 610's
``direct_url.json``) and names the clone's folder when there is one:

>>> install_hint("matforge[plot]")                     # doctest: +SKIP
"pip install -e '/home/me/matforge[plot]'"             # an editable install of a clone
>>> install_hint("matforge-graph[dgl]")                # doctest: +SKIP
"pip install -e '/home/me/matforge/plugins/graph[dgl]'"
>>> install_hint("qm9pack")
'pip install qm9pack'

:func:`require` imports an optional module or raises :class:`MissingDependencyError` (a
:class:`~matforge.errors.MatforgeUserError`, so the CLI prints it as one line) with that hint.
Every message that tells the user to install something is built here.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from importlib import metadata
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlparse

from matforge.errors import MissingDependencyError

__all__ = ["MissingDependencyError", "install_hint", "local_source", "missing_dependency", "require"]

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*$")

#: The core distribution; plugins of this repository live in ``<clone>/plugins/<short name>``.
CORE = "matforge"


def _split(requirement: str) -> tuple[str, list[str]]:
    """``"matforge-graph[dgl]"`` → ``("matforge-graph", ["dgl"])``; a bare extra of matforge
    (``"plot"``) → ``("matforge", ["plot"])``."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r} (expected NAME or NAME[EXTRA,...])")
    name, extras = match.group(1), match.group(2)
    extras_list = [e.strip() for e in extras.split(",") if e.strip()] if extras else []
    if not extras and name in _core_extras():
        return CORE, [name]
    return name, extras_list


def _core_extras() -> frozenset[str]:
    try:
        return frozenset(metadata.metadata(CORE).get_all("Provides-Extra") or ())
    except metadata.PackageNotFoundError:
        return frozenset()


def _direct_url(distribution: str) -> dict | None:
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _file_url_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    from urllib.request import url2pathname  # only here: urllib.request imports http, email, ...

    return Path(url2pathname(unquote(parsed.path)))


def local_source(distribution: str) -> tuple[Path, bool] | None:
    """Where ``distribution`` can be installed from locally, and whether as editable.

    The folder (or file) it was installed from when that still exists; for a plugin of this
    repository that is not installed, ``<clone>/plugins/<name without "matforge-">`` of the
    clone the core came from. ``None`` when the package index is the place to get it.
    """
    record = _direct_url(distribution)
    if record is not None:
        path = _file_url_path(str(record.get("url", "")))
        if path is not None and path.exists():
            return path, bool(record.get("dir_info", {}).get("editable", False))
        return None
    if distribution != CORE and distribution.startswith(CORE + "-"):
        core = local_source(CORE)
        if core is not None and core[0].is_dir():
            folder = core[0] / "plugins" / distribution[len(CORE) + 1 :]
            if (folder / "pyproject.toml").is_file():
                return folder, core[1]
    return None


def install_hint(requirement: str) -> str:
    """The ``pip install ...`` command that provides ``requirement`` here.

    Args:
        requirement: a distribution with optional extras (``"matforge[plot]"``,
            ``"matforge-graph[dgl]"``, ``"matforge-egnn"``, ``"qm9pack"``) or a bare extra of
            matforge (``"plot"`` means ``"matforge[plot]"``).

    Returns:
        ``pip install -e '<clone>[plot]'`` for an editable install of a clone,
        ``pip install '<folder>[plot]'`` for one installed from a local folder or file that
        still exists, else the package index form ``pip install 'matforge[plot]'``.
    """
    name, extras = _split(requirement)
    suffix = f"[{','.join(extras)}]" if extras else ""
    source = local_source(name)
    if source is None:
        target = f"{name}{suffix}"
        return f"pip install {shlex.quote(target) if suffix else target}"
    path, editable = source
    return f"pip install {'-e ' if editable else ''}{shlex.quote(f'{path}{suffix}')}"


def require(module: str, requirement: str, purpose: str) -> ModuleType:
    """``import module``, or raise :class:`MissingDependencyError` saying what to install.

    Args:
        module: the module to import (``"ase.io"``).
        requirement: what provides it, as :func:`install_hint` takes it (``"matforge[ase]"``).
        purpose: what needs it, the message's subject (``"importing with --format ase"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if exc.name is not None and exc.name != top and not exc.name.startswith(top + "."):
            raise  # the module is there but one of its own imports is broken: a real traceback
        raise missing_dependency(top, requirement, purpose) from None


def missing_dependency(
    package: str, requirement: str, purpose: str, detail: str = ""
) -> MissingDependencyError:
    """The :class:`MissingDependencyError` for ``package`` (not importable), with the hint."""
    hint = install_hint(requirement)
    extra = f" ({detail})" if detail else ""
    return MissingDependencyError(
        f"{purpose} needs {package}, which is not installed{extra}: {hint}",
        package=package,
        requirement=requirement,
        hint=hint,
    )
