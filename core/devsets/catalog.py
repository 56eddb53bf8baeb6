"""The devsets shipped with matforge, registered under kind ``dataset``."""

from __future__ import annotations


def register_devsets(registry) -> None:
    """Register every shipped devset (filled in by the data layer)."""
