"""Hook implementations. Imported whenever matforge lists components: no torch here."""

import matforge

# The matforge plugin API versions this plugin was written for.
MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry):
    # A "module:attr" string: the model module is imported only when someone uses it.
    registry.register(
        "model",
        "morse-pair",
        "acme_pairpot.model:MorsePair",
        summary="learnable Morse pair potential (example plugin)",
    )
