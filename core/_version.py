"""Versions a plugin can check against."""

__version__ = "0.1.0"

#: Version of the plugin contract (hook specs, registry, backbone and representation
#: protocols). A plugin's hook module states the versions it was built for in
#: ``MATFORGE_PLUGIN_API`` (required); the core refuses plugins that do not list this one.
PLUGIN_API_VERSION = 1
