"""matforge: machine learning on atomistic materials data.

Importing this package is cheap: it loads the registry and the plugin hooks only. Torch,
Lightning and every model stay unimported until they are used.

>>> import matforge
>>> "is2re" in matforge.registry.names("task")
True
"""

from __future__ import annotations

from matforge._version import PLUGIN_API_VERSION, __version__
from matforge.hooks import hookimpl, hookspec
from matforge.registry import registry

__all__ = ["PLUGIN_API_VERSION", "__version__", "hookimpl", "hookspec", "registry"]
