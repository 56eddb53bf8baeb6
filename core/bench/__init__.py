"""Measurements a user runs on their own hardware (``matforge bench ...``)."""
