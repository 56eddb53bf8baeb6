"""The core's own plugin: matforge registers its built-in components through the same hook
as every other plugin (as pytest does with its own plugins).

Targets are strings so that nothing here imports torch.
"""

from __future__ import annotations

from matforge.hooks import hookimpl

MATFORGE_PLUGIN_API = (1,)


@hookimpl
def matforge_register(registry) -> None:
    registry.register(
        "representation",
        "atoms",
        "matforge.atoms_representation:AtomsRepresentation",
        summary="structures as they are, no neighbour data (composition and test backbones)",
    )
    registry.register(
        "task",
        "is2re",
        "matforge.tasks.energy:EnergyTask",
        summary="per-structure energy (IS2RE: initial structure -> relaxed energy)",
        aliases=("energy",),
    )
    registry.register(
        "task",
        "s2ef",
        "matforge.tasks.energy_force:EnergyForceTask",
        summary="energy and forces = -dE/dpositions (S2EF), optional stress",
        aliases=("energy-forces",),
    )
    registry.register(
        "task",
        "property",
        "matforge.tasks.property:PropertyTask",
        summary="regression of named per-structure scalar or vector properties",
    )
    registry.register(
        "model",
        "toy-pair",
        "matforge.testing.toy:PairMLP",
        summary="tiny all-pairs MLP backbone for tests and examples (non-periodic, O(N^2))",
    )
    # Devsets (kind "dataset") are registered by matforge.devsets.
    from matforge.devsets.catalog import register_devsets

    register_devsets(registry)
