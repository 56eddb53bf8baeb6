"""matforge hook implementations of matforge-egnn.

Imported to list components: keep it free of torch and model imports.
"""

from __future__ import annotations

import matforge

MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry) -> None:
    """Components arrive with the plugin's implementation; none are registered yet."""
