"""Errors raised by the data layer; each names the file, key or field at fault."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset cannot be read or written as asked."""


class DatasetFormatError(DatasetError):
    """A path is not a matforge dataset of a schema version this matforge reads."""


class MissingShardError(DatasetFormatError):
    """A shard listed in a dataset's metadata is absent or holds another count."""


class CorruptRecordError(DatasetError):
    """A stored value could not be decoded (truncated, corrupt or foreign)."""


class UnsafePickleError(DatasetError):
    """A legacy pickle names a global outside the allowed set; nothing was executed."""


class UnknownDevsetError(DatasetError, LookupError):
    """No shipped devset has that name."""
