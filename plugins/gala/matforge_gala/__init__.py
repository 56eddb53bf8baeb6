"""matforge-gala: Geometric algebra attention backbone (Spellings 2021)."""

__version__ = "0.1.0"
