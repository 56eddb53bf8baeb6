"""The example plugin passes matforge's backbone contract (the same checks as matforge's own
models: symmetry, finite differences, batching, checkpoints)."""

from matforge.testing import BackboneContract


class TestMorsePair(BackboneContract):
    backbone = "morse-pair"
    periodic = False  # the model ignores periodic images, so the periodic checks do not apply
