"""`MatforgeCalculator`: a trained matforge task as an ASE calculator (relaxations, MD).

>>> from matforge.ase import MatforgeCalculator            # doctest: +SKIP
>>> atoms.calc = MatforgeCalculator("runs/s2ef/checkpoints/best.ckpt")
>>> ase.optimize.BFGS(atoms).run(fmax=0.05)
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from matforge.install import require
from matforge.tasks.base import AtomisticTask
from matforge.tasks.energy import EnergyTask
from matforge.tasks.prediction import load_task

# Without ase, importing this module is a user's missing extra (one line naming the install
# command), not an internal ModuleNotFoundError.
_PURPOSE = "matforge.ase (the ASE calculator)"
_calculator = require("ase.calculators.calculator", "matforge[ase]", _PURPOSE)
Calculator = _calculator.Calculator
PropertyNotImplementedError = _calculator.PropertyNotImplementedError
all_changes = _calculator.all_changes
full_3x3_to_voigt_6_stress = require("ase.stress", "matforge[ase]", _PURPOSE).full_3x3_to_voigt_6_stress


class MatforgeCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and, for periodic cells, stress (eV/Å³, Voigt) from a task.

    Args:
        model: a checkpoint path, or a task (:class:`EnergyTask` or a subclass such as
            :class:`EnergyForceTask`). Forces are −∂E/∂x of the task's energy.
        device: where to run (``"cpu"``, ``"cuda"``); default: the task's device, or CPU for a
            checkpoint.
        **kwargs: passed to :class:`ase.calculators.calculator.Calculator`.
    """

    implemented_properties: ClassVar[list[str]] = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: str | os.PathLike | AtomisticTask, *, device: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        task = model if isinstance(model, AtomisticTask) else load_task(model, map_location=device or "cpu")
        if not isinstance(task, EnergyTask):
            raise TypeError(
                f"MatforgeCalculator needs an energy task (is2re or s2ef), got {type(task).__name__}"
            )
        if device is not None:
            task = task.to(device)
        self.task = task.eval()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in properties
        if want_stress and not self.atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
        result = self.task.predict([self.atoms], forces=True, stress=want_stress)
        energy = float(result["energy"][0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = result["forces"]  # [N, 3]: the one structure's atoms
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(result["stress"][0])
