"""`AtomisticTask`: what every standard task shares.

A task is a LightningModule around a backbone (built from the registry by name, or given
built), an eager head, target normalisation held in buffers, torchmetrics per split, and the
optimiser settings. Subclasses say how many values per atom the head makes, how predictions,
losses and metrics are formed, and how the normaliser is filled.

Hyperparameters (``self.hparams``, saved in checkpoints) hold only JSON-like values: the
backbone is stored as its registry name and constructor arguments, so
``Task.load_from_checkpoint(path)`` rebuilds it through the registry (a missing plugin raises
:class:`~matforge.registry.PluginNotInstalledError` naming the package to install).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from matforge.batch import AtomsBatch, MissingTargetError
from matforge.checkpoint import CHECKPOINT_KEY, write_record
from matforge.data.representation import RepresentationMismatchError, attach_representation
from matforge.data.statistics import DatasetStatistics
from matforge.errors import InvalidValueError
from matforge.interfaces import Backbone
from matforge.models import BackboneSpec, backbone_spec, build_backbone
from matforge.predictions import Predictions
from matforge.structure import AtomicStructure
from matforge.tasks.heads import AtomisticModel, AtomwiseHead, Readout
from matforge.tasks.metrics import MetricGroup, SplitMetrics
from matforge.tasks.normalisation import statistics_from
from matforge.tasks.optimisation import (
    LearningRateFactor,
    OptimizerName,
    SchedulerName,
    WeightAverage,
    build_optimizer,
    check_scheduler,
    epochs_to_steps,
    steps_of,
)
from matforge.training.defaults import hide_lightning_adverts

hide_lightning_adverts()

__all__ = ["CHECKPOINT_KEY", "MONITOR", "AtomisticTask", "RepresentationMismatchError"]

#: The loss of the first validation set, logged under this name too so that checkpoint
#: callbacks have one key to monitor whatever the validation sets are called.
MONITOR = "val/loss"

#: Predicted quantities with one row per atom (all others have one per structure).
PER_ATOM_QUANTITIES: frozenset[str] = frozenset({"forces"})


class AtomisticTask(pl.LightningModule):
    """Base class of :class:`EnergyTask`, :class:`EnergyForceTask` and :class:`PropertyTask`.

    Subclasses implement the ``_``-prefixed hooks below and create ``self.normalizer`` (a
    module with a boolean ``ready`` buffer) after calling ``super().__init__``.

    Args:
        backbone: registry name of a model (``"egnn"``, ``"toy-pair"``), or a built
            :class:`~matforge.interfaces.Backbone` (preferably from
            :func:`matforge.models.build_backbone`, so checkpoints can rebuild it).
        backbone_args: constructor arguments of the model named by ``backbone``.
        readout: ``"sum"`` (extensive targets) or ``"mean"`` (intensive) of per-atom values.
        head_hidden: hidden widths of the MLP head on embedding backbones (default [64, 64]).
        head_activation: activation of that head (``silu``, ``relu``, ``gelu``, ``tanh``, …).
        normalize: normalise targets with the training set's statistics (see
            :mod:`matforge.tasks.normalisation`); ``False`` trains on raw values.
        optimizer: ``adamw`` (default), ``adam`` or ``sgd``.
        lr: base learning rate.
        weight_decay: decoupled weight decay (AdamW) or L2 penalty.
        scheduler: ``constant``, ``exponential`` (``gamma`` per epoch, the seed paper's),
            ``cosine`` (to ``min_lr_ratio`` · lr at the end of training) or ``plateau``
            (``ReduceLROnPlateau`` on the validation loss); see
            :mod:`matforge.tasks.optimisation`.
        gamma: per-epoch decay factor of the exponential schedule.
        warmup_epochs: epochs of linear warm-up (fractions allowed; 0: none), converted to
            optimiser steps with the run's steps per epoch.
        min_lr_ratio: final learning rate of the cosine schedule, relative to ``lr``.
        plateau_factor: factor on the learning rate when the validation loss stalls.
        plateau_patience: epochs without improvement before the plateau schedule cuts.
        ema_decay: keep an exponential moving average of the weights with this decay (e.g.
            0.999) and validate, test and predict with it; ``None`` disables it.
    """

    #: Metric a checkpoint callback should minimise (see :data:`MONITOR`).
    monitor: str = MONITOR

    def __init__(
        self,
        backbone: str | Backbone,
        backbone_args: dict[str, Any] | None = None,
        *,
        readout: Readout = "sum",
        head_hidden: list[int] | None = None,
        head_activation: str = "silu",
        normalize: bool = True,
        optimizer: OptimizerName = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: SchedulerName = "constant",
        gamma: float = 0.9,
        warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0,
        plateau_factor: float = 0.5,
        plateau_patience: int = 2,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__()
        # Collects the arguments of every __init__ in the chain (subclasses' too).
        self.save_hyperparameters(ignore=["backbone"])
        built, spec = _resolve_backbone(backbone, backbone_args)
        self.hparams["backbone"] = spec.name if spec else None
        self.hparams["backbone_args"] = dict(spec.args) if spec else None
        if readout not in ("sum", "mean"):
            raise InvalidValueError(f"readout must be 'sum' or 'mean', got {readout!r}")
        check_scheduler(scheduler)
        if warmup_epochs < 0:
            raise InvalidValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        if not 0.0 < plateau_factor < 1.0:
            raise InvalidValueError(f"plateau_factor must lie in (0, 1), got {plateau_factor}")
        head = AtomwiseHead(
            built.output,
            self._output_dim(),
            [64, 64] if head_hidden is None else list(head_hidden),
            head_activation,
        )
        self.model = AtomisticModel(built, head)
        self.ema = WeightAverage(self.model, ema_decay) if ema_decay is not None else None
        self.metrics = SplitMetrics(self._metric_groups)

    # -- what subclasses provide -----------------------------------------------------------------

    def _output_dim(self) -> int:
        """Values per atom the head makes; may read ``self.hparams`` (already saved)."""
        raise NotImplementedError

    def _metric_groups(self) -> dict[str, MetricGroup]:
        """Fresh metric groups for one split."""
        raise NotImplementedError

    def _predict(self, batch: AtomsBatch, *, create_graph: bool) -> dict[str, Tensor]:
        """Predictions in physical units; ``create_graph`` in training (losses on derivatives)."""
        raise NotImplementedError

    def _losses(self, pred: dict[str, Tensor], batch: AtomsBatch) -> dict[str, Tensor]:
        """Loss terms; ``"loss"`` is the one optimised."""
        raise NotImplementedError

    def _record(self, groups: nn.ModuleDict, pred: dict[str, Tensor], batch: AtomsBatch) -> None:
        """Update one split's metric groups."""
        raise NotImplementedError

    def _fill_normalizer(self, statistics: DatasetStatistics) -> None:
        """Fill ``self.normalizer``'s buffers from the training set's statistics."""
        raise NotImplementedError

    def _prediction_defaults(self) -> dict[str, bool]:
        """Which derivatives :meth:`predict` computes unless told (``forces``, ``stress``)."""
        return {"forces": False, "stress": False}

    @property
    def target_names(self) -> dict[str, str]:
        """Predicted quantity → the dataset target it is trained on (``energy`` → ``energy_relaxed``);
        a quantity not named here is compared with the target of its own name."""
        return {}

    def _scored_atoms(self, batch: AtomsBatch) -> Tensor:
        """[N] bool: atoms whose per-atom values count in loss and metrics."""
        return torch.ones_like(batch.fixed)

    def _reference_of(self, batch: AtomsBatch, quantity: str, predicted: Tensor) -> Tensor | None:
        """The batch's reference values of ``quantity`` shaped like ``predicted``, if it has them."""
        value = batch.targets.get(self.target_names.get(quantity, quantity))
        return None if value is None or value.numel() != predicted.numel() else value.reshape(predicted.shape)

    # -- the network ---------------------------------------------------------------------------

    @property
    def backbone(self) -> Backbone:
        return self.model.backbone

    @property
    def backbone_spec(self) -> BackboneSpec | None:
        """Registry name and arguments that rebuild the backbone (``None`` if unknown)."""
        name = self.hparams.get("backbone")
        return BackboneSpec(name, dict(self.hparams.get("backbone_args") or {})) if name else None

    def network(self) -> nn.Module:
        """The weights to use now: the averaged ones outside training when EMA is on."""
        if self.ema is not None and not self.training:
            return self.ema.module
        return self.model

    def forward(self, batch: AtomsBatch) -> dict[str, Tensor]:
        """Predictions for a batch, in physical units (eV, eV/Å, …), without training graphs."""
        return self._predict(batch, create_graph=False)

    def target(self, batch: AtomsBatch, name: str) -> Tensor:
        """Target ``name`` of ``batch``; a missing one raises :class:`MissingTargetError`
        naming this task, the target and what the batch carries (never filled with 0)."""
        try:
            return batch.target(name)
        except MissingTargetError as exc:
            raise MissingTargetError(f"{type(self).__name__} needs target {name!r}: {exc}") from None

    # -- Lightning hooks -------------------------------------------------------------------------

    def _attached_trainer(self) -> pl.Trainer | None:
        """The trainer running this task, or ``None`` (public API only: ``self.trainer``
        raises when no trainer is attached)."""
        try:
            return self.trainer
        except RuntimeError:
            return None

    def setup(self, stage: str) -> None:
        datamodule = getattr(self._attached_trainer(), "datamodule", None)
        if datamodule is not None:
            self._attach_representation(datamodule)
        # Filled once: a task loaded from a checkpoint (ready=True) keeps its own statistics.
        if not bool(self.normalizer.ready):
            statistics = statistics_from(datamodule) if self.hparams.normalize else None
            if self.hparams.normalize and statistics is None:
                warnings.warn(
                    f"{type(self).__name__}: no dataset statistics available (no datamodule with "
                    "statistics); training on unnormalised targets. Call set_statistics() or use "
                    "a matforge datamodule.",
                    stacklevel=2,
                )
            self.set_statistics(statistics)

    def set_statistics(self, statistics: DatasetStatistics | dict[str, Any] | None) -> None:
        """Fill normalisation from the training set's ``statistics`` now (for training loops
        without a matforge datamodule). ``None``, or ``normalize=False``, keeps the identity."""
        statistics = statistics_from(statistics) if self.hparams.normalize else None
        if statistics is None:
            self.normalizer.ready.fill_(True)  # decided: identity
        else:
            self._fill_normalizer(statistics)

    def _attach_representation(self, datamodule: Any) -> None:
        attach_representation(datamodule, self.backbone)

    def training_step(self, batch: AtomsBatch, batch_idx: int) -> Tensor:
        return self._step(batch, "train", training=True)

    def validation_step(self, batch: AtomsBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        split = self._split_name("val", dataloader_idx)
        loss = self._step(batch, split, training=False)
        # The alias only where no validation set is itself named "val" (its own loss is then
        # the monitor: logging both would log val/loss twice).
        if dataloader_idx == 0 and f"{split}/loss" != MONITOR and not self._has_split(MONITOR.partition("/")[0]):
            mean, attribute = self.metrics.loss("val", "loss", self.device)
            mean.update(loss.detach(), weight=batch.num_graphs)
            self.log(MONITOR, mean, on_epoch=True, batch_size=batch.num_graphs, add_dataloader_idx=False,
                     metric_attribute=f"metrics.{attribute}")  # fmt: skip
        return loss

    def test_step(self, batch: AtomsBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self._step(batch, self._split_name("test", dataloader_idx), training=False)

    def predict_step(self, batch: AtomsBatch, batch_idx: int, dataloader_idx: int = 0) -> Predictions:
        return self.predictions_of(batch, self._predict(batch, create_graph=False))

    def _step(self, batch: AtomsBatch, split: str, *, training: bool) -> Tensor:
        pred = self._predict(batch, create_graph=training)
        losses = self._losses(pred, batch)
        self._record(self.metrics(split, self.device), pred, batch)
        size = batch.num_graphs
        for name, value in losses.items():
            # Epoch values go through structure-weighted torchmetrics means, which sync exactly
            # under DDP (once, at the epoch's end); the step loss is rank 0's, unsynced.
            key = f"{split}/{name}"
            if training and name == "loss":
                self.log(f"{key}_step", value.detach(), on_step=True, on_epoch=False, batch_size=size, prog_bar=True)
                key = f"{key}_epoch"
            mean, attribute = self.metrics.loss(split, name, self.device)
            mean.update(value.detach(), weight=size)
            self.log(key, mean, on_step=False, on_epoch=True, batch_size=size, add_dataloader_idx=False,
                     prog_bar=name == "loss" and not training, metric_attribute=f"metrics.{attribute}")  # fmt: skip
        for name, metric, attribute in self.metrics.named_metrics(split):
            # Logging the Metric object lets torchmetrics sync its summed states under DDP.
            self.log(
                f"{split}/{name}",
                metric,
                on_step=False,
                on_epoch=True,
                batch_size=size,
                add_dataloader_idx=False,
                metric_attribute=f"metrics.{attribute}",
            )
        return losses["loss"]

    def _has_split(self, name: str) -> bool:
        """Whether one of the datamodule's validation sets is called ``name``."""
        datamodule = getattr(self._attached_trainer(), "datamodule", None)
        return name in (getattr(datamodule, "val_names", None) or [])

    def _split_name(self, stage: str, dataloader_idx: int) -> str:
        """``val_names``/``test_names`` of the datamodule in dataloader order, else ``val``
        (one set) or ``val_<i>``."""
        datamodule = getattr(self._attached_trainer(), "datamodule", None)
        names = getattr(datamodule, f"{stage}_names", None)
        if names and dataloader_idx < len(names):
            return str(names[dataloader_idx])
        counts = self.trainer.num_val_batches if stage == "val" else self.trainer.num_test_batches
        return stage if len(counts) <= 1 else f"{stage}_{dataloader_idx}"

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model)

    def configure_optimizers(self) -> Any:
        h = self.hparams
        optimizer = build_optimizer(h.optimizer, self.model.parameters(), lr=h.lr, weight_decay=h.weight_decay)
        if h.scheduler == "constant" and h.warmup_epochs == 0:
            return optimizer
        steps_per_epoch, total = steps_of(self._attached_trainer())
        warmup = epochs_to_steps(h.warmup_epochs, steps_per_epoch)
        factor = LearningRateFactor(h.scheduler, h.gamma, steps_per_epoch, total, warmup, h.min_lr_ratio)
        schedulers = []
        if h.scheduler != "plateau" or warmup > 0:
            stepped = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            schedulers.append({"scheduler": stepped, "interval": "step"})
        if h.scheduler == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=h.plateau_factor, patience=h.plateau_patience
            )
            schedulers.append({"scheduler": plateau, "interval": "epoch", "monitor": self.monitor, "strict": False})
        return [optimizer], schedulers

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_record(self, checkpoint)  # what rebuilds this task: see matforge.checkpoint

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """The task in ``checkpoint_path``, rebuilt through the registry and loaded with
        ``weights_only=True`` (see :func:`matforge.checkpoint.load_task`); ``kwargs`` override
        saved task arguments. ``hparams_file`` and ``weights_only=False`` are not supported."""
        from matforge.checkpoint import CheckpointError, load_task

        if hparams_file is not None or weights_only is False:
            raise CheckpointError(
                "matforge tasks load from their checkpoint's own record with weights_only=True; "
                "hparams_file and weights_only=False are not supported"
            )
        return load_task(checkpoint_path, map_location, expected=cls, strict=True if strict is None else strict, **kwargs)

    # -- prediction and evaluation ---------------------------------------------------------------

    def predictions_of(self, batch: AtomsBatch, values: dict[str, Tensor], name: str = "predict") -> Predictions:
        """``values`` predicted for ``batch`` as :class:`~matforge.predictions.Predictions`, with
        the batch's reference values and scored atoms (on the CPU, float64)."""

        def numpy(t: Tensor) -> Any:
            return t.detach().to("cpu", torch.float64 if t.is_floating_point() else t.dtype).numpy()

        references = {}
        for quantity, predicted in values.items():
            reference = self._reference_of(batch, quantity, predicted)
            if reference is not None:
                references[quantity] = numpy(reference)
        per_atom = PER_ATOM_QUANTITIES & set(values)
        return Predictions(
            predicted={q: numpy(v) for q, v in values.items()},
            num_atoms=numpy(batch.num_atoms),
            atomic_numbers=numpy(batch.atomic_numbers),
            per_atom=per_atom,
            references=references,
            targets={q: t for q, t in self.target_names.items() if q in values},
            scored=numpy(self._scored_atoms(batch)),
            sid=[str(ids.get("sid", "")) for ids in batch.ids] if batch.ids else None,
            index=[int(ids.get("index", -1)) for ids in batch.ids] if batch.ids else None,
            name=name,
        )

    def evaluate_batch(self, batch: AtomsBatch, split: str) -> Predictions:
        """Score one batch of ``split`` as validation does (the split's metrics and loss means
        are updated, nothing is logged) and return its predictions; results via
        :meth:`evaluation_results`."""
        pred = self._predict(batch, create_graph=False)
        losses = self._losses(pred, batch)
        self._record(self.metrics(split, self.device), pred, batch)
        for name, value in losses.items():
            self.metrics.loss(split, name, self.device)[0].update(value.detach(), weight=batch.num_graphs)
        return self.predictions_of(batch, pred, split)

    def evaluation_results(self, split: str) -> dict[str, float]:
        """``{metric: value}`` of what :meth:`evaluate_batch` scored on ``split``; resets them."""
        return self.metrics.results(split)

    @torch.no_grad()
    def predict(
        self,
        structures: Sequence[AtomicStructure | Any],
        *,
        batch_size: int = 16,
        forces: bool | None = None,
        stress: bool | None = None,
    ) -> Predictions:
        """Predictions for ``structures`` (:class:`AtomicStructure` or ``ase.Atoms``).

        Returns :class:`~matforge.predictions.Predictions` (a mapping of numpy values in
        physical units): per-structure quantities with leading dimension G (``energy`` [G] eV,
        ``stress`` [G, 3, 3] eV/Å³, properties), per-atom ones concatenated (``forces`` [N, 3]
        eV/Å; ``.per_structure("forces")`` splits them), with reference values where every
        structure carries the task's targets. ``forces``/``stress`` default to what the task
        trains (forces for ``s2ef``).
        """
        from matforge.tasks.prediction import predict_structures

        defaults = self._prediction_defaults()
        return predict_structures(
            self,
            structures,
            batch_size=batch_size,
            forces=defaults["forces"] if forces is None else forces,
            stress=defaults["stress"] if stress is None else stress,
        )

    def _predict_with(self, batch: AtomsBatch, *, forces: bool, stress: bool) -> dict[str, Tensor]:
        """Predictions with the derivatives asked for, no training graph (for :meth:`predict`);
        tasks without energies ignore ``forces`` and ``stress``."""
        return self._predict(batch, create_graph=False)


def _resolve_backbone(backbone: str | Backbone | None, args: dict[str, Any] | None) -> tuple[Backbone, BackboneSpec | None]:
    if isinstance(backbone, str):
        built = build_backbone(backbone, **(args or {}))
        return built, backbone_spec(built)
    if isinstance(backbone, Backbone):
        if args:
            raise InvalidValueError("backbone_args go with a registry name; this backbone is already built")
        spec = backbone_spec(backbone)
        if spec is None:
            warnings.warn(
                f"backbone {type(backbone).__name__} was not built by matforge.models.build_backbone, "
                "so checkpoints cannot rebuild it by name: pass backbone=... to load_from_checkpoint",
                stacklevel=3,
            )
        return backbone, spec
    if backbone is None:
        raise TypeError(
            "this checkpoint's backbone was given as a module not built by "
            "matforge.models.build_backbone; pass backbone=<the same Backbone> to load_from_checkpoint"
        )
    raise TypeError(f"backbone must be a registry name or a matforge Backbone, got {type(backbone).__name__}")

