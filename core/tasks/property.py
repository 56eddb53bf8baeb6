"""`PropertyTask`: regression of named per-structure scalar or vector properties."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from matforge.batch import AtomsBatch
from matforge.data.statistics import DatasetStatistics
from matforge.errors import InvalidValueError
from matforge.interfaces import Backbone
from matforge.tasks.base import AtomisticTask
from matforge.tasks.heads import Readout, pool
from matforge.tasks.losses import LossName, check_loss, regression_loss
from matforge.tasks.metrics import ErrorMetrics, MetricGroup
from matforge.tasks.normalisation import PropertyNormalizer


class PropertyTask(AtomisticTask):
    """Predict several per-structure properties at once.

    The head makes ``Σ property_dims`` values per atom; they are pooled per structure by
    ``readout`` (``mean`` by default: intensive properties) and de-normalised with each
    target's training-set mean and std.

    Args:
        backbone, backbone_args: the model, see :class:`AtomisticTask`.
        properties: names of the per-structure targets to predict (e.g. ``["band_gap"]``).
            Not called ``targets``: that is the datamodule's sample filter, and Lightning
            refuses to log two different hyperparameters of one name.
        property_dims: values per structure of vector properties (default 1 each).
        property_weights: loss weight per property (default 1 each).
        loss: ``l1``, ``mse``, ``huber`` or ``l2mae`` on errors divided by each target's std.
        huber_delta: Huber threshold in those normalised units.
        readout: ``mean`` (default) or ``sum`` of per-atom contributions.
        **kwargs: head, normalisation and optimisation settings of :class:`AtomisticTask`.

    Logged per split: ``loss``, ``<target>_loss``, ``<target>_mae``, ``<target>_rmse``.
    """

    def __init__(
        self,
        backbone: str | Backbone,
        backbone_args: dict[str, Any] | None = None,
        *,
        properties: list[str],
        property_dims: dict[str, int] | None = None,
        property_weights: dict[str, float] | None = None,
        loss: LossName = "l1",
        huber_delta: float = 1.0,
        readout: Readout = "mean",
        **kwargs: Any,
    ) -> None:
        _check_properties(properties, property_dims, property_weights)
        super().__init__(backbone, backbone_args, readout=readout, **kwargs)
        check_loss(loss, "loss")
        self.normalizer = PropertyNormalizer(self._dims())

    @property
    def properties(self) -> list[str]:
        return list(self.hparams.properties)

    @property
    def target_names(self) -> dict[str, str]:
        return {name: name for name in self.properties}

    def _dims(self) -> list[int]:
        dims = self.hparams.property_dims or {}
        return [int(dims.get(name, 1)) for name in self.hparams.properties]

    def _output_dim(self) -> int:
        return sum(self._dims())

    def _metric_groups(self) -> dict[str, MetricGroup]:
        return {name: ErrorMetrics(name) for name in self.properties}

    def _predict(self, batch: AtomsBatch, *, create_graph: bool) -> dict[str, Tensor]:
        network = self.network()
        outputs = network(batch)
        pooled = outputs if network.per_structure else pool(outputs, batch, self.hparams.readout)
        values = self.normalizer(pooled)
        result: dict[str, Tensor] = {}
        start = 0
        for name, dim in zip(self.properties, self._dims()):
            block = values[:, start : start + dim]
            result[name] = block[:, 0] if dim == 1 else block
            start += dim
        return result

    def _reference(self, batch: AtomsBatch, name: str, dim: int) -> Tensor:
        value = self.target(batch, name)
        if value.numel() != batch.num_graphs * dim:
            raise InvalidValueError(
                f"target {name!r} has shape {list(value.shape)} for {batch.num_graphs} structures; "
                f"PropertyTask expects {dim} value(s) per structure (set property_dims)"
            )
        return value.reshape(batch.num_graphs, dim) if dim > 1 else value.reshape(-1)

    def _losses(self, pred: dict[str, Tensor], batch: AtomsBatch) -> dict[str, Tensor]:
        weights = self.hparams.property_weights or {}
        losses: dict[str, Tensor] = {}
        total: Tensor | None = None
        start = 0
        for name, dim in zip(self.properties, self._dims()):
            std = self.normalizer.std[start : start + dim]
            error = (pred[name] - self._reference(batch, name, dim)) / (std if dim > 1 else std[0])
            losses[f"{name}_loss"] = regression_loss(self.hparams.loss, error, huber_delta=self.hparams.huber_delta)
            term = float(weights.get(name, 1.0)) * losses[f"{name}_loss"]
            total = term if total is None else total + term
            start += dim
        return {"loss": total, **losses}

    def _record(self, groups: nn.ModuleDict, pred: dict[str, Tensor], batch: AtomsBatch) -> None:
        for name, dim in zip(self.properties, self._dims()):
            groups[name].record(pred[name], self._reference(batch, name, dim))

    def _fill_normalizer(self, statistics: DatasetStatistics) -> None:
        self.normalizer.fill(statistics, self.properties)


def _check_properties(
    properties: list[str], dims: dict[str, int] | None, weights: dict[str, float] | None
) -> None:
    if isinstance(properties, str) or not properties:
        raise InvalidValueError(f"properties must be a non-empty list of target names, got {properties!r}")
    for what, mapping in (("property_dims", dims), ("property_weights", weights)):
        unknown = sorted(set(mapping or {}) - set(properties))
        if unknown:
            raise InvalidValueError(f"{what} names {unknown}, which are not among properties {list(properties)}")
    for name, dim in (dims or {}).items():
        if int(dim) < 1:
            raise InvalidValueError(f"property_dims[{name!r}] must be >= 1, got {dim}")
