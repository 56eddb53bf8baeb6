"""`AtomicDataModule`: matforge datasets as Lightning dataloaders, with named validation sets.

The representation transform (structure → graph, point cloud, …) runs inside DataLoader
workers: each dataset is wrapped so that ``__getitem__`` returns ``representation(structure)``
and the loader's ``collate_fn`` is ``representation.collate``. The backbone owns the
representation and its settings: the task attaches them in its ``setup``
(:meth:`AtomicDataModule.attach_representation`). A representation given here by name, for
using the datamodule without a task, must agree with the backbone's (see
:mod:`matforge.data.representation`). Dataloaders are plain ``DataLoader`` objects with ``shuffle`` set, so
Lightning swaps in its distributed sampler under DDP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from matforge.batch import MissingTargetError
from matforge.data.dataset import AtomicDataset, open_dataset
from matforge.data.errors import DatasetError, UnknownSplitError
from matforge.data.lmdb_format import METADATA_FILE
from matforge.data.representation import check_datamodule
from matforge.data.sampler import (
    EpochRandomSampler,
    MaxAtomsBatchSampler,
    UnpaddedDistributedSampler,
    structure_sizes,
)
from matforge.data.statistics import DatasetStatistics
from matforge.devsets.catalog import parse_devset

PathLike = str | os.PathLike[str]


def split_paths(path: PathLike) -> dict[str, str]:
    """Split name → dataset of ``path``: a devset's splits (``devset:NAME``), a directory of
    dataset directories (one per split), or a single dataset (named ``train``)."""
    parsed = parse_devset(str(path)) if isinstance(path, str) else None
    if parsed is not None:
        devset, split = parsed
        if split is not None:
            return {"train": f"devset:{devset.name}/{split}"}
        return {name: f"devset:{devset.name}/{name}" for name in devset.splits}
    root = Path(path)
    if (root / METADATA_FILE).is_file():
        return {"train": str(root)}
    if root.is_dir():
        found = {p.name: str(p) for p in sorted(root.iterdir()) if (p / METADATA_FILE).is_file()}
        if found:
            return found
    if not root.exists():
        raise FileNotFoundError(f"dataset {str(root)!r} does not exist")
    raise FileNotFoundError(f"{str(root)!r} is neither a matforge dataset nor a directory of them")


def _global_seed() -> int:
    """The seed Lightning gives its DistributedSampler (``seed_everything``), so that one
    process and many shuffle the same way."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


def _named(value: PathLike | Mapping[str, PathLike] | Sequence[PathLike] | None, default: str) -> dict[str, PathLike]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (str, os.PathLike)):
        return {default: value}
    names: dict[str, PathLike] = {}
    for item in value:
        parsed = parse_devset(str(item)) if isinstance(item, str) else None
        name = (parsed[1] or parsed[0].name) if parsed else Path(item).name
        if name in names:
            raise DatasetError(f"two {default} sets are named {name!r}; pass a dict of names to paths")
        names[name] = item
    return names


class RepresentationDataset(Dataset):
    """A dataset whose items are ``representation(structure)``, with only the requested targets.

    Args:
        dataset: yields `AtomicStructure`.
        representation: callable structure → sample (``None``: structures as they are).
        targets: keep exactly these targets; a missing one raises naming index and structure.
        name: the split's name, for error messages.
    """

    def __init__(self, dataset: Dataset, representation: Any, targets: Sequence[str] | None, name: str) -> None:
        self.dataset = dataset
        self.representation = representation
        self.targets = None if targets is None else tuple(targets)
        self.name = name

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        structure = self.dataset[index]
        if self.targets is not None:
            missing = [t for t in self.targets if t not in structure.targets]
            if missing:
                raise MissingTargetError(
                    f"{self.name} set, index {index} (sid={structure.sid!r}): target {missing[0]!r} "
                    f"is missing; the structure carries {sorted(structure.targets) or 'no targets'}"
                )
            structure.targets = {t: structure.targets[t] for t in self.targets}
        return structure if self.representation is None else self.representation(structure)


class AtomicDataModule(pl.LightningDataModule):
    """Train, named validation, test and predict sets of matforge datasets.

    Args:
        path: ``devset:NAME`` (its splits), a directory of split datasets (``train/``,
            ``val*/``, ``test/``) or one dataset (used for training). Splits named ``val…``
            become validation sets, ``test…`` test sets.
        train: training dataset (path or ``devset:NAME/SPLIT``); overrides ``path``'s.
        val: validation set(s): one path (named ``val``), a list (named after their folders
            or splits) or ``{name: path}``; logged under their names (``val_id/loss``).
        test: test set(s), as ``val``.
        predict: dataset(s) to predict on, as ``val`` (one path is named after its split or folder).
        batch_size: structures per training batch.
        eval_batch_size: structures per validation/test/predict batch (default batch_size).
        num_workers: DataLoader worker processes (the representation runs there).
        pin_memory: page-locked batches for faster host → GPU copies.
        prefetch_factor: batches each worker keeps ready (with ``num_workers`` > 0). Deeper
            than torch's 2 so that a main process the OS schedules late still finds batches
            waiting: on the shared 2-core machine, 8 turned 2 workers from 1.04× to 1.22× the
            single-process throughput for ``graph`` batches and from 0.93× to 1.08× for
            ``atoms`` (benchmarks/bench_dataloader.py); each batch is ~1 MB.
        targets: targets every sample must carry (others are dropped from the samples);
            ``None`` keeps each structure's targets as stored.
        representation: registry name of a representation, to use the datamodule without a
            task; normally left ``None``: the task attaches its backbone's. With a task, it
            must be the backbone's (else :class:`RepresentationMismatchError`).
        representation_args: settings of that representation (e.g. ``cutoff``), likewise
            for use without a task: with a task each must equal the backbone's own (the
            backbone owns them; set them on the model instead).
        shuffle: shuffle the training set each epoch.
        drop_last: drop the last incomplete training batch.
        max_atoms: pack training batches up to this many atoms instead of ``batch_size``
            structures (:class:`~matforge.data.sampler.MaxAtomsBatchSampler`: seeded, the same
            global batches on every DDP rank, every structure once per epoch).
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        train: str | None = None,
        val: str | Sequence[str] | Mapping[str, str] | None = None,
        test: str | Sequence[str] | Mapping[str, str] | None = None,
        predict: str | Sequence[str] | Mapping[str, str] | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int = 8,
        targets: list[str] | None = None,
        representation: str | None = None,
        representation_args: dict[str, Any] | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        max_atoms: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise DatasetError(f"batch_size must be >= 1, got {batch_size}")
        if max_atoms is not None and max_atoms < 1:
            raise DatasetError(f"max_atoms must be >= 1, got {max_atoms}")
        if prefetch_factor < 1:
            raise DatasetError(f"prefetch_factor must be >= 1, got {prefetch_factor}")
        self.save_hyperparameters()
        splits = split_paths(path) if path is not None else {}
        self._train: PathLike | None = train if train is not None else splits.get("train")
        self._val = _named(val, "val") if val is not None else {k: v for k, v in splits.items() if k.startswith("val")}
        self._test = _named(test, "test") if test is not None else {k: v for k, v in splits.items() if k.startswith("test")}
        # a single prediction set is named after its split or folder: files are <set>.npz
        self._predict = _named([predict] if isinstance(predict, (str, os.PathLike)) else predict, "predict")
        if path is not None and self._train is None and not (self._val or self._test):
            raise DatasetError(f"{path!r} has no train, val* or test* split: {', '.join(splits)}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.targets = targets
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.max_atoms = max_atoms
        self.representation: Any = None
        self.representation_from_backbone = False
        told = representation is not None or bool(representation_args)
        self.representation_request: tuple[str | None, dict[str, Any]] | None = (
            (representation, dict(representation_args or {})) if told else None
        )
        if representation is not None:
            from matforge.registry import registry

            self.representation = registry.get("representation", representation)(**(representation_args or {}))
        self._datasets: dict[str, AtomicDataset] = {}
        self._num_atoms: dict[str, Any] = {}

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: Any, map_location: Any = None, hparams_file: Any = None, **kwargs: Any
    ) -> AtomicDataModule:
        """The datamodule saved in a task checkpoint, read with ``weights_only=True`` (see
        :func:`matforge.checkpoint.load_checkpoint`); ``kwargs`` override saved arguments."""
        from matforge.checkpoint import CheckpointError, load_checkpoint

        if hparams_file is not None:
            raise CheckpointError("AtomicDataModule.load_from_checkpoint does not take hparams_file")
        checkpoint = load_checkpoint(checkpoint_path, map_location=map_location)
        saved = checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_KEY) or {}
        return cls(**{**{k: v for k, v in saved.items() if not k.startswith("_")}, **kwargs})

    @classmethod
    def from_devset(cls, name: str, **kwargs: Any) -> AtomicDataModule:
        """The devset ``name``: ``train``, its ``val…`` splits as named validation sets, and
        ``test`` when it has one (unknown names list the devsets)."""
        from matforge.devsets.catalog import get_devset

        get_devset(name)
        return cls(f"devset:{name}", **kwargs)

    # -- what it holds ----------------------------------------------------------------------

    @property
    def val_names(self) -> list[str]:
        """Validation set names, in the order of :meth:`val_dataloader`."""
        return list(self._val)

    @property
    def test_names(self) -> list[str]:
        return list(self._test)

    @property
    def predict_names(self) -> list[str]:
        """Prediction set names, in the order of :meth:`predict_dataloader`."""
        return list(self._predict)

    @property
    def representation_name(self) -> str | None:
        rep = self.representation
        return None if rep is None else getattr(rep, "name", type(rep).__name__)

    def set_representation(self, representation: Any) -> None:
        """Use ``representation`` (structure → sample, ``.collate``) for every loader; a task
        attached later checks that it is the one its backbone consumes."""
        if not callable(representation) or not hasattr(representation, "collate"):
            raise TypeError("a representation must be callable and have a collate() method")
        self.representation = representation
        self.representation_from_backbone = False

    def attach_representation(self, backbone: Any) -> None:
        """Use the representation ``backbone`` consumes, with the backbone's settings (what a
        task calls in ``setup``). One given by ``set_representation`` that matches is kept.

        Raises:
            RepresentationMismatchError: this datamodule was given another representation
                or other settings (names both).
        """
        from matforge.interfaces import build_representation

        check_datamodule(self, backbone)
        if self.representation is None or self.representation_from_backbone or self.representation_request:
            self.representation = build_representation(backbone)
            self.representation_from_backbone = True

    def _dataset(self, key: str, path: PathLike) -> AtomicDataset:
        if key not in self._datasets:
            self._datasets[key] = open_dataset(path)
        return self._datasets[key]

    def dataset(self, split: str) -> AtomicDataset:
        """The opened dataset of ``split`` (``train``, a validation, test or predict name)."""
        for prefix, paths in (("val", self._val), ("test", self._test), ("predict", self._predict)):
            if split in paths:
                return self._dataset(f"{prefix}:{split}", paths[split])
        if split == "train" and self._train is not None:
            return self._dataset("train", self._train)
        splits = ["train"] * (self._train is not None) + self.val_names + self.test_names + list(self._predict)
        raise UnknownSplitError(
            f"no split {split!r}; this datamodule has: {', '.join(splits) or 'none (pass path=, train=, val=, test= or predict=)'}"
        )

    @property
    def statistics(self) -> DatasetStatistics | None:
        """Statistics of the training set (what the task normalises with); ``None`` without one."""
        return None if self._train is None else self.dataset("train").statistics

    # -- Lightning hooks --------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Open the datasets of ``stage`` (metadata only; shards open lazily in each worker)."""
        if stage in (None, "fit") and self._train is not None:
            self.dataset("train")
        if stage in (None, "fit", "validate"):
            for name in self._val:
                self.dataset(name)
        if stage in (None, "test"):
            for name in self._test:
                self.dataset(name)
        if stage in (None, "predict"):
            for name in self._predict:
                self.dataset(name)

    def _loader(self, name: str, dataset: Dataset, *, train: bool, targets: Sequence[str] | None) -> DataLoader:
        if self.representation is None:
            raise RuntimeError(
                "AtomicDataModule has no representation: the task sets it in setup(), or pass "
                "representation='NAME' (or call set_representation) to use the datamodule alone"
            )
        if len(dataset) == 0:  # type: ignore[arg-type]
            where = getattr(dataset, "path", None)
            raise DatasetError(
                f"the {name} set{f' ({where})' if where else ''} holds no structures; give a "
                "non-empty dataset (an index file with no indices, or a split of a tiny dataset?)"
            )
        items = RepresentationDataset(dataset, self.representation, targets, name)
        common = {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
            **({"prefetch_factor": self.prefetch_factor} if self.num_workers > 0 else {}),
            "collate_fn": self.representation.collate,
        }
        if train and self.max_atoms is not None:
            # built here, in the dataloader hook, so that Lightning can hand it its
            # DistributedSampler under DDP (see matforge.data.sampler)
            order = EpochRandomSampler(items, seed=_global_seed()) if self.shuffle else SequentialSampler(items)
            sizes = self._sizes(name, dataset)
            batches = MaxAtomsBatchSampler(order, sizes, self.max_atoms, drop_last=self.drop_last)
            return DataLoader(items, batch_sampler=batches, **common)
        if train:
            # seeded like Lightning's DistributedSampler, so one process and N ranks see the
            # same global batches; no `shuffle=` argument, which Lightning would read instead
            order = EpochRandomSampler(items, seed=_global_seed()) if self.shuffle else None
            return DataLoader(items, batch_size=self.batch_size, sampler=order, drop_last=self.drop_last, **common)
        return DataLoader(items, batch_size=self.eval_batch_size, sampler=self._eval_sampler(items), **common)

    def _sizes(self, name: str, dataset: Dataset) -> Any:
        if name not in self._num_atoms:
            self._num_atoms[name] = structure_sizes(dataset)
        return self._num_atoms[name]

    def _eval_sampler(self, items: Dataset) -> Any:
        """Under DDP, each rank's share of an evaluation set without the padding of Lightning's
        DistributedSampler (so metrics count every structure exactly once); ``None`` otherwise."""
        trainer = getattr(self, "trainer", None)
        world = getattr(trainer, "world_size", 1) if trainer is not None else 1
        if world <= 1:
            return None
        return UnpaddedDistributedSampler(items, num_replicas=world, rank=trainer.global_rank)

    def train_dataloader(self) -> DataLoader:
        if self._train is None:
            raise DatasetError("AtomicDataModule has no training set: pass path= or train=")
        return self._loader("train", self.dataset("train"), train=True, targets=self.targets)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(n, self.dataset(n), train=False, targets=self.targets) for n in self._val]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(n, self.dataset(n), train=False, targets=self.targets) for n in self._test]

    def predict_dataloader(self) -> list[DataLoader]:
        return [self._loader(n, self.dataset(n), train=False, targets=None) for n in self._predict]
