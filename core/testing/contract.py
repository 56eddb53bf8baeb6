"""`BackboneContract`: the contract kit as a pytest mixin, one test per check.

::

    # tests/test_my_backbone.py
    from matforge.testing import BackboneContract

    class TestMyBackbone(BackboneContract):
        backbone = "my-backbone"             # registry name (kind "model")
        backbone_args = {"hidden": 16}       # small sizes keep the checks fast
        reflections = False                  # only for SO(3)-invariant backbones
        periodic = True                      # False skips the wrap and basis checks

pytest then collects ``test_forces_finite_differences``, ``test_euclidean_symmetry``, …
(see :data:`matforge.testing.checks.CHECKS`). Class attributes named like the fields of
:class:`~matforge.testing.checks.Contract` (tolerances, ``representation_args``, ``seed``)
override the defaults. The backbone is built once per class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from matforge.testing.checks import CheckSkipped, Contract, run_check


class BackboneContract:
    """Mixin giving a pytest test class one test per contract check."""

    backbone: ClassVar[str]
    backbone_args: ClassVar[Mapping[str, Any]] = {}
    reflections: ClassVar[bool] = True
    periodic: ClassVar[bool] = True
    representation_args: ClassVar[Mapping[str, Any]] = {}
    symmetry_atol: ClassVar[float] = 1e-9
    consistency_atol: ClassVar[float] = 1e-10
    fd_step: ClassVar[float] = 1e-5
    fd_atol: ClassVar[float] = 1e-6
    seed: ClassVar[int] = 0

    @classmethod
    def contract(cls) -> Contract:
        """The class's :class:`Contract`, built on first use and kept on the class."""
        cached = cls.__dict__.get("_matforge_contract")
        if cached is None:
            cached = Contract(
                backbone=cls.backbone,
                args=dict(cls.backbone_args),
                reflections=cls.reflections,
                periodic=cls.periodic,
                representation_args=dict(cls.representation_args),
                symmetry_atol=cls.symmetry_atol,
                consistency_atol=cls.consistency_atol,
                fd_step=cls.fd_step,
                fd_atol=cls.fd_atol,
                seed=cls.seed,
            )
            cls._matforge_contract = cached
        return cached

    def run_contract_check(self, name: str) -> None:
        """Run one check; a check that does not apply becomes a pytest skip."""
        import pytest

        try:
            run_check(self.contract(), name)
        except CheckSkipped as exc:
            pytest.skip(str(exc))

    def test_representation_registered(self) -> None:
        self.run_contract_check("representation_registered")

    def test_eager_construction(self) -> None:
        self.run_contract_check("eager_construction")

    def test_output_shape(self) -> None:
        self.run_contract_check("output_shape")

    def test_batch_consistency(self) -> None:
        self.run_contract_check("batch_consistency")

    def test_checkpoint_roundtrip(self) -> None:
        self.run_contract_check("checkpoint_roundtrip")

    def test_euclidean_symmetry(self) -> None:
        self.run_contract_check("euclidean_symmetry")

    def test_permutation(self) -> None:
        self.run_contract_check("permutation")

    def test_forces_finite_differences(self) -> None:
        self.run_contract_check("forces_finite_differences")

    def test_periodic_wrap(self) -> None:
        self.run_contract_check("periodic_wrap")

    def test_periodic_basis(self) -> None:
        self.run_contract_check("periodic_basis")
