"""The one base class for failures the user can fix (bad input, a missing file or plugin).

The CLI prints a :class:`MatforgeUserError` as one ``matforge: error:`` line; any other
exception is a bug and prints its traceback. Raise a subclass (or this) for every expected
failure, with a message that names the file, key or field and what was expected.
"""

from __future__ import annotations

__all__ = ["InvalidValueError", "MatforgeUserError", "MissingDependencyError"]


class MatforgeUserError(Exception):
    """An expected failure caused by input the user controls; its message says how to fix it."""


class InvalidValueError(MatforgeUserError, ValueError):
    """A value the user gave (an option, a constructor argument, a config key, a file's
    content) is not one matforge can use; the message names it and what is allowed."""


class MissingDependencyError(MatforgeUserError, ImportError):
    """An optional package a feature needs is not installed; the message ends with the
    ``pip install`` command for this installation (:func:`matforge.install.install_hint`).

    Also an :class:`ImportError`, so code that falls back on a missing import still does.

    Attributes:
        package: the module that could not be imported (``"ase"``).
        requirement: what provides it (``"matforge[ase]"``).
        hint: the command that installs it here.
    """

    def __init__(
        self, message: str, *, package: str = "", requirement: str = "", hint: str = ""
    ) -> None:
        super().__init__(message)
        self.package = package
        self.requirement = requirement
        self.hint = hint
