"""`EnergyForceTask`: energies and forces = −∂E/∂positions (S2EF), optional stress."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.interfaces import Backbone
from matforge.tasks.derivatives import energy_and_derivatives
from matforge.tasks.energy import EnergyTask
from matforge.tasks.losses import LossName, check_loss, regression_loss
from matforge.tasks.metrics import ErrorMetrics, ForceMetrics, MetricGroup
from matforge.tasks.normalisation import OutputScale


class EnergyForceTask(EnergyTask):
    """Energy per structure and forces per atom, the forces by autograd of the energy.

    In training the derivative keeps its graph so the force loss trains the weights; in
    validation, testing and prediction it does not. The loss is
    ``energy_weight · L(ΔE / energy_scale) + force_weight · L(ΔF / force_scale)``
    (+ ``stress_weight · L(Δσ)`` with ``stress=True``), scales from the training set.

    Args:
        backbone, backbone_args: the model, see :class:`AtomisticTask`.
        target: energy target name (``energy``).
        forces_target: forces target name (``forces``), [N, 3] eV/Å.
        energy_weight, force_weight: loss weights.
        force_loss: loss on force components: ``l1`` (default, the seed paper's), ``mse``,
            ``huber`` or ``l2mae`` (mean norm of the per-atom error vector).
        exclude_fixed: leave atoms marked ``fixed`` out of the force loss and metrics, as
            OC20 does.
        stress: also predict stress = (1/V)·∂E/∂ε (periodic structures only) and train on
            target ``stress_target`` ([3, 3] or Voigt [6] eV/Å³) with ``stress_weight``.
        output_scale, composition_reference: as in :class:`EnergyTask`, with the defaults
            S2EF trains best with (``docs/training.md``): per-atom scale (the force RMS) and
            the per-element fit subtracted, so the network learns the residual energy.
        **kwargs: ``loss``/``huber_delta`` of the energy term (:class:`EnergyTask`) and the
            settings of :class:`AtomisticTask`.

    Logged per split: ``loss``, ``energy_loss``, ``force_loss`` (``stress_loss``), the energy
    metrics of :class:`EnergyTask`, ``force_mae``, ``force_rmse``, ``force_cos``
    (``stress_mae``, ``stress_rmse``).
    """

    def __init__(
        self,
        backbone: str | Backbone,
        backbone_args: dict[str, Any] | None = None,
        target: str = "energy",
        forces_target: str = "forces",
        energy_weight: float = 1.0,
        force_weight: float = 1.0,
        force_loss: LossName = "l1",
        exclude_fixed: bool = True,
        stress: bool = False,
        stress_target: str = "stress",
        stress_weight: float = 1.0,
        output_scale: OutputScale = "per_atom",
        composition_reference: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            backbone,
            backbone_args,
            target=target,
            output_scale=output_scale,
            composition_reference=composition_reference,
            **kwargs,
        )
        check_loss(force_loss, "force_loss")

    def _metric_groups(self) -> dict[str, MetricGroup]:
        groups = {**super()._metric_groups(), "forces": ForceMetrics()}
        if self.hparams.stress:
            groups["stress"] = ErrorMetrics("stress")
        return groups

    def _trains_forces(self) -> bool:
        return True

    def _stress_target(self) -> str | None:
        return self.hparams.stress_target if self.hparams.stress else None

    @property
    def target_names(self) -> dict[str, str]:
        h = self.hparams
        return {**super().target_names, "forces": h.forces_target, **({"stress": h.stress_target} if h.stress else {})}

    def _reference_of(self, batch: AtomsBatch, quantity: str, predicted: Tensor) -> Tensor | None:
        if quantity == "stress" and self.hparams.stress_target in batch.targets:
            return self._stress_reference(batch)
        return super()._reference_of(batch, quantity, predicted)

    def _prediction_defaults(self) -> dict[str, bool]:
        return {"forces": True, "stress": bool(self.hparams.stress)}

    def _predict(self, batch: AtomsBatch, *, create_graph: bool) -> dict[str, Tensor]:
        return energy_and_derivatives(self._energy, batch, stress=self.hparams.stress, create_graph=create_graph)

    def _scored_atoms(self, batch: AtomsBatch) -> Tensor:
        """[N] bool: atoms whose forces count in loss and metrics."""
        if self.hparams.exclude_fixed:
            return ~batch.fixed
        return torch.ones_like(batch.fixed)

    def _stress_reference(self, batch: AtomsBatch) -> Tensor:
        stress = self.target(batch, self.hparams.stress_target)
        return _voigt_to_matrix(stress) if stress.shape[-1] == 6 else stress.reshape(-1, 3, 3)

    def _losses(self, pred: dict[str, Tensor], batch: AtomsBatch) -> dict[str, Tensor]:
        h = self.hparams
        energy_loss = self._energy_loss(pred, batch)
        scored = self._scored_atoms(batch)
        force_error = (pred["forces"] - self.target(batch, h.forces_target))[scored] / self.normalizer.force_scale
        force_loss = regression_loss(h.force_loss, force_error, huber_delta=h.huber_delta)
        losses = {"energy_loss": energy_loss, "force_loss": force_loss}
        total = h.energy_weight * energy_loss + h.force_weight * force_loss
        if h.stress:
            stress_error = (pred["stress"] - self._stress_reference(batch)) / self.normalizer.stress_scale
            losses["stress_loss"] = regression_loss(h.loss, stress_error, huber_delta=h.huber_delta)
            total = total + h.stress_weight * losses["stress_loss"]
        return {"loss": total, **losses}

    def _record(self, groups: nn.ModuleDict, pred: dict[str, Tensor], batch: AtomsBatch) -> None:
        super()._record(groups, pred, batch)
        scored = self._scored_atoms(batch)
        groups["forces"].record(pred["forces"][scored], self.target(batch, self.hparams.forces_target)[scored])
        if self.hparams.stress:
            groups["stress"].record(pred["stress"], self._stress_reference(batch))


def _voigt_to_matrix(voigt: Tensor) -> Tensor:
    """[G, 6] Voigt (xx, yy, zz, yz, xz, xy; ASE's order) → [G, 3, 3] symmetric."""
    xx, yy, zz, yz, xz, xy = voigt.unbind(-1)
    return torch.stack(
        [torch.stack([xx, xy, xz], -1), torch.stack([xy, yy, yz], -1), torch.stack([xz, yz, zz], -1)], -2
    )
