"""`BackboneContract`: the contract kit as a pytest mixin, one test per check.

::

    # tests/test_my_backbone.py
    from matforge.testing import BackboneContract

    class TestMyBackbone(BackboneContract):
        backbone = "my-backbone"             # registry name (kind "backbone")
        backbone_args = {"hidden": 16}       # small sizes keep the checks fast
        reflections = False                  # only for SO(3)-invariant backbones
        periodic = True                      # False skips the wrap and basis checks
        smooth = True                        # False (hard cutoff) skips the continuity checks
        local = True                         # False (global terms) skips the locality check

pytest then collects ``test_forces_finite_differences``, ``test_euclidean_symmetry``, …
(see :data:`matforge.testing.checks.CHECKS`). Class attributes named like the fields of
:class:`~matforge.testing.checks.Contract` (tolerances, ``representation_args``, ``seed``)
override the defaults. The backbone is built once per class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from matforge.testing.checks import CHECKS, CheckSkipped, Contract, run_check

#: Contract fields a test class sets under another name (``backbone_args`` reads better
#: next to ``backbone`` than ``args``).
_RENAMED = {"args": "backbone_args"}


class BackboneContract:
    """Mixin giving a pytest test class one test per contract check.

    ``test_<name>`` exists for every entry of :data:`matforge.testing.checks.CHECKS`; the
    methods are generated from that list, so a check added to the kit runs in every plugin's
    contract tests without their editing anything. Settings are the fields of
    :class:`~matforge.testing.checks.Contract` (``backbone_args`` for ``args``); a class
    attribute of the same name overrides the field's default.
    """

    backbone: ClassVar[str]
    backbone_args: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def contract(cls) -> Contract:
        """The class's :class:`Contract`, built on first use and kept on the class."""
        cached = cls.__dict__.get("_matforge_contract")
        if cached is None:
            settings = {}
            for f in dataclasses.fields(Contract):
                attribute = _RENAMED.get(f.name, f.name)
                if hasattr(cls, attribute):
                    value = getattr(cls, attribute)
                    settings[f.name] = dict(value) if isinstance(value, Mapping) else value
            cached = Contract(**settings)
            cls._matforge_contract = cached
        return cached

    def run_contract_check(self, name: str) -> None:
        """Run one check; a check that does not apply becomes a pytest skip."""
        import pytest

        try:
            run_check(self.contract(), name)
        except CheckSkipped as exc:
            pytest.skip(str(exc))


def _test_method(name: str, check: Callable[[Contract], None]) -> Callable[[BackboneContract], None]:
    def test(self: BackboneContract) -> None:
        self.run_contract_check(name)

    test.__name__ = test.__qualname__ = f"test_{name}"
    test.__doc__ = check.__doc__
    return test


for _name, _check in CHECKS.items():
    setattr(BackboneContract, f"test_{_name}", _test_method(_name, _check))
