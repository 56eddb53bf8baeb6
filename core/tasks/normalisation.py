"""Target normalisation kept inside the model, so a checkpoint predicts in eV on its own.

Every number lives in a registered buffer of fixed shape (element references are a [119]
buffer indexed by atomic number), so a state dict loads into a freshly built task and the
loaded task predicts in physical units with no side files. Buffers are filled once, from the
training set's :class:`~matforge.data.statistics.DatasetStatistics`, in the task's ``setup()``;
``ready`` records that this happened so that a loaded checkpoint is never refitted.

Energy (tasks ``is2re`` and ``s2ef``), for per-atom network outputs o_i (dimensionless)::

    e_i = scale · o_i + shift + ref[Z_i]          (eV)
    E   = Σ_i e_i   (readout "sum")   or   mean_i e_i   (readout "mean", ref = 0)

Forces are −∂E/∂x of that E, so they stay the exact gradient of the de-normalised energy.
Losses are computed on errors divided by ``energy_scale`` (eV) and ``force_scale`` (eV/Å).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from matforge.batch import MissingTargetError
from matforge.data.statistics import DatasetStatistics
from matforge.elements import MAX_ATOMIC_NUMBER


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
    ) -> None:
        """Set the buffers from ``statistics`` of the training set.

        Readout "sum": element references from the least-squares fit of ``target``; shift and
        scale from the per-atom residual (scale = force RMS when the task trains on forces, as
        the per-atom energy scale forces see). Readout "mean": no references, the target's mean
        and std. ``stress_target``: its RMS becomes the stress loss scale. Raises :class:`StatisticsError` naming the target when it has no statistics.
        """
        stats = _target_statistics(statistics, target)
        reference = statistics.linear_references.get(target)
        refs = torch.zeros_like(self.element_energies)
        if readout == "sum" and reference is not None:
            for z, energy in reference.element_energies.items():
                refs[z] = energy
            shift = reference.residual_per_atom_mean
            scale = _positive(reference.residual_per_atom_std)
            energy_scale = _positive(reference.residual_std)
        elif readout == "sum":
            # An energy-like target without a reference fit: spread it evenly over the atoms.
            atoms = statistics.num_atoms / max(statistics.num_structures, 1)
            shift = stats.mean / atoms
            scale = _positive(stats.std / math.sqrt(atoms))
            energy_scale = _positive(stats.std)
        else:
            shift, scale, energy_scale = stats.mean, _positive(stats.std), _positive(stats.std)
        force_scale = _positive(statistics.force_rms) if with_forces else 1.0
        if with_forces and statistics.force_rms is not None:
            scale = force_scale
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
