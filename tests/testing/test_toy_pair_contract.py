"""The core's test backbone ``toy-pair`` through the contract kit (non-periodic by design:
it ignores periodic images, so the wrap and basis checks are skipped)."""

from typing import ClassVar

from matforge.testing import BackboneContract


class TestToyPairEnergy(BackboneContract):
    backbone = "toy-pair"
    backbone_args: ClassVar[dict] = {"hidden": 8}
    periodic = False


class TestToyPairEmbedding(BackboneContract):
    backbone = "toy-pair"
    backbone_args: ClassVar[dict] = {"hidden": 8, "output": "embedding", "width": 4}
    periodic = False
