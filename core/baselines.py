"""Baselines a trained model must beat, from the training set's statistics alone.

For the same structures as a model's :class:`~matforge.predictions.Predictions`:

- ``energy``: the composition linear fit of the energy target, E ≈ Σ_Z n_Z c_Z, with the
  least-squares element references of
  :attr:`DatasetStatistics.linear_references <matforge.data.statistics.DatasetStatistics>`
  (the target's training mean where there is no fit);
- per-atom quantities (``forces``) and ``stress``: zero;
- other properties: their training mean.

Metrics are computed with the tasks' own metric definitions (:mod:`matforge.tasks.metrics`)
and named as the tasks log them (``energy_mae``, ``force_mae``, ``<property>_mae``, …), so a
model's metric and its baseline's compare one to one::

    predictions = task.predict(val_structures)          # references included
    baseline_metrics(predictions, datamodule.statistics)["energy_mae"]
"""

from __future__ import annotations

import numpy as np
import torch

from matforge.data.statistics import DatasetStatistics, LinearReference
from matforge.elements import MAX_ATOMIC_NUMBER
from matforge.predictions import Predictions

__all__ = ["baseline_metrics", "baseline_predictions", "composition_energies", "describe_baselines",
           "prediction_metrics"]  # fmt: skip

#: Quantities predicted as zero by the baseline besides the per-atom ones.
ZERO_QUANTITIES: frozenset[str] = frozenset({"stress"})


def composition_energies(reference: LinearReference, atomic_numbers: np.ndarray, num_atoms: np.ndarray) -> np.ndarray:
    """[G] Σ_Z n_Z c_Z per structure (eV) for atoms ``atomic_numbers`` [N] of structures with
    ``num_atoms`` [G] atoms; elements the fit has not seen count 0."""
    table = np.zeros(MAX_ATOMIC_NUMBER + 1)
    for z, energy in reference.element_energies.items():
        table[z] = energy
    num_atoms = np.asarray(num_atoms, dtype=np.int64)
    structure = np.repeat(np.arange(num_atoms.size), num_atoms)
    return np.bincount(structure, weights=table[np.asarray(atomic_numbers, dtype=np.int64)], minlength=num_atoms.size)


def _baseline_of(quantity: str, target: str, predictions: Predictions, statistics: DatasetStatistics) -> np.ndarray | None:
    shape = np.shape(predictions[quantity])
    if quantity in predictions.per_atom or quantity in ZERO_QUANTITIES:
        return np.zeros(shape)
    if quantity == "energy" and target in statistics.linear_references:
        reference = statistics.linear_references[target]
        return composition_energies(reference, predictions.atomic_numbers, predictions.num_atoms).reshape(shape)
    if target in statistics.targets:
        return np.full(shape, statistics.targets[target].mean)
    return None


def baseline_predictions(predictions: Predictions, statistics: DatasetStatistics) -> Predictions:
    """What the baselines predict for the structures of ``predictions`` (same layout, same
    references); quantities whose target the statistics lack are left out."""
    values = {}
    for quantity in predictions:
        value = _baseline_of(quantity, predictions.targets.get(quantity, quantity), predictions, statistics)
        if value is not None:
            values[quantity] = value
    return predictions.with_predicted(values)


def describe_baselines(predictions: Predictions, statistics: DatasetStatistics) -> dict[str, str]:
    """Quantity → one line saying what its baseline predicts."""
    lines = {}
    for quantity in predictions:
        target = predictions.targets.get(quantity, quantity)
        if quantity in predictions.per_atom or quantity in ZERO_QUANTITIES:
            lines[quantity] = f"zero {quantity}"
        elif quantity == "energy" and target in statistics.linear_references:
            lines[quantity] = f"composition linear fit of {target} (training set's element references)"
        elif target in statistics.targets:
            lines[quantity] = f"training mean of {target}"
    return lines


def prediction_metrics(predictions: Predictions) -> dict[str, float]:
    """The task metrics of ``predictions`` against their references, named as tasks log them
    (energies: ``energy_mae``, ``energy_rmse``, ``energy_ewt``, ``energy_per_atom_mae``;
    forces over the scored atoms: ``force_mae``, ``force_rmse``, ``force_cos``; any other
    quantity q: ``q_mae``, ``q_rmse``)."""
    from matforge.tasks.metrics import EnergyMetrics, ErrorMetrics, ForceMetrics

    values: dict[str, float] = {}
    for quantity in predictions:
        if quantity not in predictions.references:
            continue
        pred, ref = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in predictions.pair(quantity))
        if quantity == "energy":
            group = EnergyMetrics()
            group.record(pred.reshape(-1), ref.reshape(-1), torch.as_tensor(predictions.num_atoms))
        elif quantity == "forces":
            group = ForceMetrics()
            group.record(pred, ref)
        else:
            group = ErrorMetrics(quantity)
            group.record(pred, ref)
        for name, metric in group.items():
            values[name] = float(metric.compute()) if metric.update_count else float("nan")
    return values


def baseline_metrics(predictions: Predictions, statistics: DatasetStatistics) -> dict[str, float]:
    """:func:`prediction_metrics` of the baselines on the structures of ``predictions``."""
    return prediction_metrics(baseline_predictions(predictions, statistics))
