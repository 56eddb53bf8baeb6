"""The contract kit, unchanged, on a pointcloud backbone (the reference ``cloud-pair`` of
conftest.py): what a third-party local-environment model's own test file looks like."""

from typing import ClassVar

from matforge.testing import BackboneContract


class TestCloudPairEnergy(BackboneContract):
    backbone = "cloud-pair"


class TestCloudPairEmbedding(BackboneContract):
    backbone = "cloud-pair"
    backbone_args: ClassVar[dict] = {"width": 4}
