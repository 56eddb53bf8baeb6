"""How the CLI reports failures: a user's mistake gets one clear line, a bug its traceback.

Expected failures are :class:`~matforge.errors.MatforgeUserError` (registry, dataset,
structure, shorthand, representation-mismatch and missing-target errors all derive from it)
and ``FileNotFoundError`` (a path the user gave). They print as one ``matforge: error:``
line; ``--debug`` adds the traceback. Anything else (``ValueError``, ``KeyError`` from deep
inside a model, …) is a bug and prints its traceback.
"""

from __future__ import annotations

import sys
import traceback

from matforge.errors import MatforgeUserError

#: The exception types the CLI reports as a user's mistake.
USER_ERRORS: tuple[type[BaseException], ...] = (MatforgeUserError, FileNotFoundError)


def is_user_error(exc: BaseException) -> bool:
    """True for failures the user can fix from the message alone."""
    return isinstance(exc, USER_ERRORS)


def user_error_in(exc: BaseException) -> BaseException | None:
    """``exc``, or the user error a library wrapped it around (jsonargparse re-raises what a
    constructor raised inside its own ``ValueError``): the first user error of the chain of
    causes and contexts, else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if is_user_error(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def user_message(exc: BaseException) -> str:
    """The one-line text of a user error (a ``KeyError``'s message without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def report_error(exc: BaseException, debug: bool = False) -> int:
    """Print ``exc`` for the user and return the exit status (1)."""
    user_error = user_error_in(exc)
    if debug or user_error is None:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        if not debug:
            print(
                f"matforge: internal error: {type(exc).__name__}: {exc}. This is a bug (in matforge or "
                "a plugin), not a mistake in your input: please report it with the traceback above.",
                file=sys.stderr,
            )
    else:
        print(f"matforge: error: {user_message(user_error)}", file=sys.stderr)
    return 1
