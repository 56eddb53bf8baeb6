"""Target normalisation kept inside the model, so a checkpoint predicts in eV on its own.

Every number lives in a registered buffer of fixed shape (element references are a [119]
buffer indexed by atomic number), so a state dict loads into a freshly built task and the
loaded task predicts in physical units with no side files. Buffers are filled once, from the
training set's :class:`~matforge.data.statistics.DatasetStatistics`, in the task's ``setup()``;
``ready`` records that this happened so that a loaded checkpoint is never refitted.

Energy (tasks ``is2re`` and ``s2ef``), for per-atom network outputs o_i (dimensionless)::

    e_i = scale · o_i + shift + ref[Z_i]          (eV)
    E   = Σ_i e_i   (readout "sum")   or   mean_i e_i   (readout "mean", ref = 0)

Two choices set the buffers (task arguments, defaults per task from the study in
``docs/training.md``):

* ``composition_reference``: ref[Z] is the per-element least-squares fit of the training
  energies and the network learns the residual; otherwise ref = 0 and the network learns the
  whole energy (shift: the training mean spread over the mean number of atoms).
* ``output_scale``: what one unit of network output is worth. ``per_atom``: the per-atom
  residual std (the force RMS for tasks that train forces); ``per_structure``: the
  per-structure std (of the residual with a composition reference, of the energy without),
  right for adsorption energies that live on a few atoms; ``none``: 1 eV.

Forces are −∂E/∂x of that E, so they stay the exact gradient of the de-normalised energy.
Losses are computed on errors divided by ``energy_scale`` (eV) and ``force_scale`` (eV/Å).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from matforge.batch import MissingTargetError
from matforge.data.statistics import DatasetStatistics
from matforge.elements import MAX_ATOMIC_NUMBER

OutputScale = Literal["per_atom", "per_structure", "none"]
OUTPUT_SCALES: tuple[str, ...] = ("per_atom", "per_structure", "none")


def check_output_scale(name: str) -> str:
    """``name`` if it is a known output scale, else a ValueError listing them."""
    if name not in OUTPUT_SCALES:
        raise ValueError(f"output_scale must be one of {', '.join(map(repr, OUTPUT_SCALES))}, got {name!r}")
    return name


class StatisticsError(MissingTargetError):
    """The dataset statistics lack a target the task's normalisation needs."""


def _positive(value: float | None) -> float:
    """A usable scale: degenerate spreads (one structure, constant target) fall back to 1."""
    if value is None or not math.isfinite(value) or value <= 1e-12:
        return 1.0
    return float(value)


def _target_statistics(statistics: DatasetStatistics, target: str):
    if target not in statistics.targets:
        raise StatisticsError(
            f"the dataset statistics have no target {target!r} (they have "
            f"{sorted(statistics.targets) or 'no targets'}); choose a target the dataset carries"
        )
    return statistics.targets[target]


class EnergyNormalizer(nn.Module):
    """Per-atom outputs [N, 1] → energies per structure [G] in eV (see the module docstring).

    Buffers: ``element_energies`` [119] eV, ``shift`` eV (per atom for readout "sum"),
    ``scale`` eV per output unit, ``energy_scale`` eV, ``force_scale`` eV/Å and
    ``stress_scale`` eV/Å³ (loss units), ``ready`` bool. Until filled, the map is the identity and both loss scales are 1.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("element_energies", torch.zeros(MAX_ATOMIC_NUMBER + 1))
        self.register_buffer("shift", torch.tensor(0.0))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("energy_scale", torch.tensor(1.0))
        self.register_buffer("force_scale", torch.tensor(1.0))
        self.register_buffer("stress_scale", torch.tensor(1.0))
        self.register_buffer("ready", torch.tensor(False))

    def per_atom_energies(self, outputs: Tensor, atomic_numbers: Tensor) -> Tensor:
        """[N, 1] network outputs → [N] per-atom energies in eV."""
        return self.scale * outputs[:, 0] + self.shift + self.element_energies[atomic_numbers]

    def fill(
        self,
        statistics: DatasetStatistics,
        target: str,
        *,
        readout: str,
        with_forces: bool,
        stress_target: str | None = None,
        output_scale: OutputScale = "per_atom",
        composition_reference: bool = True,
    ) -> None:
        """Set the buffers from ``statistics`` of the training set.

        Readout "sum": element references from the least-squares fit of ``target`` when
        ``composition_reference`` (and the statistics have the fit), and the output scale
        chosen by ``output_scale`` (see the module docstring). Readout "mean": no references,
        the target's mean and std. The energy loss scale is the per-structure std of what the
        network learns (1 eV for ``output_scale="none"``); ``stress_target``: its RMS becomes
        the stress loss scale. Raises :class:`StatisticsError` naming the target when it has
        no statistics.
        """
        check_output_scale(output_scale)
        stats = _target_statistics(statistics, target)
        reference = statistics.linear_references.get(target) if composition_reference else None
        refs = torch.zeros_like(self.element_energies)
        atoms = statistics.num_atoms / max(statistics.num_structures, 1)
        if readout == "sum" and reference is not None:
            for z, energy in reference.element_energies.items():
                refs[z] = energy
            shift = reference.residual_per_atom_mean
            per_atom, per_structure = reference.residual_per_atom_std, reference.residual_std
        elif readout == "sum":
            # No reference fit: the mean spread evenly over the atoms, the network the rest.
            shift = stats.mean / atoms
            per_atom, per_structure = stats.std / math.sqrt(atoms), stats.std
        else:
            shift, per_atom, per_structure = stats.mean, stats.std, stats.std
        force_scale = _positive(statistics.force_rms) if with_forces else 1.0
        energy_scale = _positive(per_structure)
        if output_scale == "none":
            scale, energy_scale = 1.0, 1.0
        elif output_scale == "per_structure" or readout == "mean":
            scale = _positive(per_structure)
        elif with_forces and statistics.force_rms is not None:
            scale = force_scale  # the per-atom energy scale that forces see
        else:
            scale = _positive(per_atom)
        stress = statistics.targets.get(stress_target) if stress_target else None
        with torch.no_grad():
            self.stress_scale.fill_(_positive(stress.rms if stress is not None else None))
            self.element_energies.copy_(refs)
            self.shift.fill_(shift)
            self.scale.fill_(scale)
            self.energy_scale.fill_(energy_scale)
            self.force_scale.fill_(force_scale)
            self.ready.fill_(True)


class PropertyNormalizer(nn.Module):
    """Per-structure outputs [G, D] → properties [G, D] in their units: y = std · o + mean.

    Buffers ``mean`` [D] and ``std`` [D]; each target's block of columns gets that target's
    scalar mean and std (over all its components), ``ready`` bool.
    """

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        total = int(sum(dims))
        self.dims = tuple(int(d) for d in dims)
        self.register_buffer("mean", torch.zeros(total))
        self.register_buffer("std", torch.ones(total))
        self.register_buffer("ready", torch.tensor(False))

    def forward(self, outputs: Tensor) -> Tensor:
        return self.std * outputs + self.mean

    def fill(self, statistics: DatasetStatistics, targets: Sequence[str]) -> None:
        """Set ``mean``/``std`` from ``statistics``; raises :class:`StatisticsError` naming a
        target without statistics."""
        means: list[float] = []
        stds: list[float] = []
        for name, dim in zip(targets, self.dims):
            stats = _target_statistics(statistics, name)
            means += [stats.mean] * dim
            stds += [_positive(stats.std)] * dim
        with torch.no_grad():
            self.mean.copy_(torch.tensor(means))
            self.std.copy_(torch.tensor(stds))
            self.ready.fill_(True)


def statistics_from(source: object) -> DatasetStatistics | None:
    """The training statistics a datamodule (or anything with ``statistics``) offers, if any.

    Accepts a :class:`DatasetStatistics`, its ``to_dict()`` form, or an object whose
    ``statistics`` attribute is one of those (a callable attribute is called).
    """
    if source is None or isinstance(source, DatasetStatistics):
        return source
    if isinstance(source, Mapping):
        return DatasetStatistics.from_dict(source)
    value = getattr(source, "statistics", None)
    if callable(value):
        value = value()
    return statistics_from(value) if value is not None else None
