"""Errors raised by the data layer; each names the file, key or field at fault.

They derive from :class:`DatasetError` (a :class:`~matforge.errors.MatforgeUserError` and a ``ValueError``), so the CLI reports them as one
``matforge: error:`` line; re-parenting that one base re-parents them all.
"""

from __future__ import annotations

from matforge.errors import MatforgeUserError


class DatasetError(MatforgeUserError, ValueError):
    """A dataset cannot be read or written as asked."""


class DatasetFormatError(DatasetError):
    """A path is not a matforge dataset of a schema version this matforge reads."""


class MissingShardError(DatasetFormatError):
    """A shard listed in a dataset's metadata is absent, truncated or holds another count."""


class CorruptRecordError(DatasetError):
    """A stored value could not be decoded, or decodes to values no structure may have.

    Attributes:
        field: the field at fault, when one is (``"positions"``, ``"targets.energy"``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RecordTooLargeError(CorruptRecordError):
    """A legacy record would decode to more memory than the per-record budget allows."""


class UnsafePickleError(DatasetError):
    """A legacy pickle names a global outside the allowed set, or tries to build or modify an
    array through pickle opcodes; nothing was executed."""


class TooManyRejectsError(DatasetError):
    """An import rejected more records than ``max_rejects`` allows; nothing was written."""


class DestinationExistsError(MatforgeUserError, FileExistsError):
    """A write would replace something: ``path`` exists and ``overwrite`` was not given, or it
    is not a matforge dataset (then it is never replaced)."""

    def __init__(self, message: str, *, path: str, replaceable: bool) -> None:
        super().__init__(message)
        self.path = path
        self.replaceable = replaceable


class UnknownDevsetError(DatasetError, LookupError):
    """No shipped devset has that name."""


class UnknownSplitError(DatasetError, KeyError):
    """A datamodule has no split of that name; the message lists the splits it has.

    Also a :class:`KeyError`, so code that looks a split up and falls back still does.
    """

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""
