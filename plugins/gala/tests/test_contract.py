"""GALA through the contract kit, per attention mode, with the reflection setting each mode
has: multivector-valued and tied attention carry trivectors (pseudo-scalars) into the
invariants, so they are SO(3)-invariant only (``reflections = False``); invariant-only
attention on relative vectors is O(3)-invariant. ``gala-paper`` runs at full size with every
atom a centre (in its OC20 mode the subsurface sample follows atom indices, so renumbering
atoms changes the centres and the permutation check cannot hold)."""

from typing import ClassVar

from matforge.testing import BackboneContract


class TestGALA(BackboneContract):
    backbone = "gala"
    reflections = False  # multivector-valued attention: SO(3)


class TestGALAInvariantAttention(BackboneContract):
    backbone = "gala"
    backbone_args: ClassVar[dict] = {"width": 16, "equivariant": False, "output": "embedding"}


class TestGALATiedAttention(BackboneContract):
    backbone = "gala"
    backbone_args: ClassVar[dict] = {"width": 16, "tied": True, "merge": "concat", "join": "concat"}
    reflections = False


class TestGALAPaper(BackboneContract):
    backbone = "gala-paper"
    backbone_args: ClassVar[dict] = {"centres": "all"}
    reflections = False
