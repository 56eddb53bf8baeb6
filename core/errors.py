"""The one base class for failures the user can fix (bad input, a missing file or plugin).

The CLI prints a :class:`MatforgeUserError` as one ``matforge: error:`` line; any other
exception is a bug and prints its traceback. Raise a subclass (or this) for every expected
failure, with a message that names the file, key or field and what was expected.
"""

from __future__ import annotations

__all__ = ["InvalidValueError", "MatforgeUserError"]


class MatforgeUserError(Exception):
    """An expected failure caused by input the user controls; its message says how to fix it."""


class InvalidValueError(MatforgeUserError, ValueError):
    """A value the user gave (an option, a constructor argument, a config key, a file's
    content) is not one matforge can use; the message names it and what is allowed."""
