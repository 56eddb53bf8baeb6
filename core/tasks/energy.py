"""`EnergyTask`: one energy per structure (IS2RE: initial structure → relaxed energy)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.data.statistics import DatasetStatistics
from matforge.errors import MatforgeUserError
from matforge.interfaces import Backbone
from matforge.tasks.base import AtomisticTask
from matforge.tasks.derivatives import energy_and_derivatives
from matforge.tasks.heads import pool
from matforge.tasks.losses import LossName, check_loss, regression_loss
from matforge.tasks.metrics import EnergyMetrics, MetricGroup
from matforge.tasks.normalisation import EnergyNormalizer, OutputScale, check_output_scale

#: Targets an ``EnergyTask`` picks when none is named, in order of preference.
DEFAULT_ENERGY_TARGETS: tuple[str, ...] = ("energy_relaxed", "energy")


class EnergyTask(AtomisticTask):
    """Regress one energy per structure (eV) from the structure.

    The backbone's per-atom outputs become per-atom energies through the normaliser
    (:class:`~matforge.tasks.normalisation.EnergyNormalizer`) and are summed (``readout="sum"``,
    the default) or averaged into the structure's energy.

    Args:
        backbone, backbone_args: the model, see :class:`AtomisticTask`.
        target: name of the energy target; ``None`` picks ``energy_relaxed`` when the data
            has it (IS2RE devsets) and ``energy`` otherwise. The choice is recorded in the
            hyperparameters.
        loss: ``l1`` (the seed paper's), ``mse`` or ``huber``, on the error divided by the
            energy scale of the training set.
        huber_delta: Huber threshold in those normalised units.
        output_scale: what one unit of network output is worth: ``per_structure`` (default
            here: the per-structure energy std, right for IS2RE adsorption energies that live
            on a few atoms), ``per_atom`` (the per-atom residual std) or ``none`` (1 eV); see
            :mod:`matforge.tasks.normalisation` and the study in ``docs/training.md``.
        composition_reference: subtract the training set's per-element linear fit and learn
            the residual (default off for IS2RE: the fit leaves little the network still
            finds, see ``docs/training.md``); needs ``readout="sum"``.
        **kwargs: readout, head, normalisation and optimisation settings of
            :class:`AtomisticTask`.

    Logged per split: ``loss``, ``energy_mae``, ``energy_rmse``, ``energy_ewt``,
    ``energy_per_atom_mae``.
    """

    def __init__(
        self,
        backbone: str | Backbone,
        backbone_args: dict[str, Any] | None = None,
        target: str | None = None,
        loss: LossName = "l1",
        huber_delta: float = 1.0,
        output_scale: OutputScale = "per_structure",
        composition_reference: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, backbone_args, **kwargs)
        if self.model.per_structure:
            raise MatforgeUserError(
                f"{type(self).__name__} sums per-atom energies, but backbone {self.hparams.get('backbone')!r} "
                "reads out per structure (OutputSpec kind 'structure'); use its per-atom energy output "
                "(for MEGNet: output='energy')"
            )
        check_loss(loss, "loss")
        check_output_scale(output_scale)
        if composition_reference and self.hparams.readout != "sum":
            raise ValueError(
                f"composition_reference=True needs readout='sum' (per-element energies add up), "
                f"got readout={self.hparams.readout!r}; set composition_reference=False"
            )
        self.normalizer = EnergyNormalizer()

    # -- target ----------------------------------------------------------------------------------

    @property
    def energy_target(self) -> str | None:
        """The energy target's name (``None`` until data has decided an automatic choice)."""
        return self.hparams.get("target")

    @property
    def target_names(self) -> dict[str, str]:
        return {"energy": self.energy_target or "energy"}

    def _choose_target(self, available: set[str] | list[str]) -> str:
        if self.energy_target is None:
            chosen = next((t for t in DEFAULT_ENERGY_TARGETS if t in available), "energy")
            self.hparams["target"] = chosen
        return self.energy_target

    # -- AtomisticTask hooks -------------------------------------------------------------------

    def _output_dim(self) -> int:
        return 1

    def _metric_groups(self) -> dict[str, MetricGroup]:
        return {"energy": EnergyMetrics()}

    def _energy(self, batch: AtomsBatch) -> Tensor:
        """Per-structure energies [G] in eV."""
        outputs = self.network()(batch)
        per_atom = self.normalizer.per_atom_energies(outputs, batch.atomic_numbers)
        return pool(per_atom[:, None], batch, self.hparams.readout)[:, 0]

    def _predict(self, batch: AtomsBatch, *, create_graph: bool) -> dict[str, Tensor]:
        return {"energy": self._energy(batch)}

    def _predict_with(self, batch: AtomsBatch, *, forces: bool, stress: bool) -> dict[str, Tensor]:
        if not (forces or stress):
            return self._predict(batch, create_graph=False)
        result = energy_and_derivatives(self._energy, batch, stress=stress)
        return result if forces else {k: v for k, v in result.items() if k != "forces"}

    def _energy_reference(self, batch: AtomsBatch) -> Tensor:
        target = self._choose_target(set(batch.targets))
        return self.target(batch, target).reshape(-1)

    def _energy_loss(self, pred: dict[str, Tensor], batch: AtomsBatch) -> Tensor:
        error = (pred["energy"] - self._energy_reference(batch)) / self.normalizer.energy_scale
        return regression_loss(self.hparams.loss, error, huber_delta=self.hparams.huber_delta)

    def _losses(self, pred: dict[str, Tensor], batch: AtomsBatch) -> dict[str, Tensor]:
        return {"loss": self._energy_loss(pred, batch)}

    def _record(self, groups: nn.ModuleDict, pred: dict[str, Tensor], batch: AtomsBatch) -> None:
        groups["energy"].record(pred["energy"], self._energy_reference(batch), batch.num_atoms)

    def _fill_normalizer(self, statistics: DatasetStatistics) -> None:
        target = self._choose_target(set(statistics.targets))
        self.normalizer.fill(
            statistics,
            target,
            readout=self.hparams.readout,
            with_forces=self._trains_forces(),
            stress_target=self._stress_target(),
            output_scale=self.hparams.output_scale,
            composition_reference=self.hparams.composition_reference,
        )

    def _trains_forces(self) -> bool:
        return False

    def _stress_target(self) -> str | None:
        return None
