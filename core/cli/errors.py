"""How the CLI reports expected failures: one clear line, no traceback unless ``--debug``."""

from __future__ import annotations

import sys
import traceback

from matforge.errors import MatforgeUserError
from matforge.registry import RegistryError


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [MatforgeUserError, RegistryError, FileNotFoundError, ValueError, KeyError]
    return tuple(errors)


def report_error(exc: BaseException, debug: bool = False) -> int:
    if debug or not isinstance(exc, _expected_errors()):
        traceback.print_exc()
    else:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"matforge: error: {message}", file=sys.stderr)
    return 1
