"""matforge.testing: the contract kit, checks any registered backbone can be run through.

For pytest, subclass :class:`BackboneContract` (one test per check); elsewhere call
:func:`check_backbone`, which runs every check and returns (or raises) a report::

    from matforge.testing import check_backbone
    print(check_backbone("egnn", {"hidden": 16}))

Checks (see :mod:`matforge.testing.checks`; the mixin's test methods are generated from
:data:`CHECKS`): the representation is registered; eager, DDP-safe construction; output shape
vs ``OutputSpec``; batched = one by one; checkpoint round trip; energy invariant and forces
equivariant under rotations, reflections and translations (float64, 1e-9; e3nn when
installed, else the kit's own sampling); atom permutations; forces vs finite differences;
periodic wrapping and equivalent cell bases; a force loss differentiable (double backward);
energy and forces continuous as a neighbour crosses the cutoff; the representation's cutoff
covers the model's; tensors created on the batch's device and dtype (checked on CPU with a
``meta`` default device); locality; finite isolated-atom energies; float32 = float64 to
float32 precision.
"""

from matforge.testing.checks import (
    CHECKS,
    CheckResult,
    CheckSkipped,
    Contract,
    ContractError,
    ContractReport,
    check_backbone,
    run_check,
)
from matforge.testing.contract import BackboneContract
from matforge.testing.harness import BackboneHarness
from matforge.testing.structures import (
    contract_structures,
    random_crystal,
    random_molecule,
    random_slab,
)

__all__ = [
    "CHECKS",
    "BackboneContract",
    "BackboneHarness",
    "CheckResult",
    "CheckSkipped",
    "Contract",
    "ContractError",
    "ContractReport",
    "check_backbone",
    "contract_structures",
    "random_crystal",
    "random_molecule",
    "random_slab",
    "run_check",
]
