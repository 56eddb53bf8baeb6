"""Fixtures for the task tests: EMT-labelled clusters generated here, and a minimal datamodule
with the interface tasks use (``set_representation``, ``statistics``, ``val_names``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from torch.utils.data import DataLoader

from matforge.data.statistics import DatasetStatistics
from matforge.structure import AtomicStructure


def emt_clusters(
    count: int, *, seed: int = 0, species: Sequence[int] = (29, 79), fixed_first: int = 0
) -> list[AtomicStructure]:
    """``count`` rattled fcc clusters of 4–6 atoms (Cu/Au), non-periodic, labelled with
    ASE's EMT energy (eV) and forces (eV/Å); the first ``fixed_first`` atoms marked fixed."""
    rng = np.random.default_rng(seed)
    lattice = 3.7 / 2 * np.array(
        [[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [2, 0, 0], [0, 2, 0], [0, 0, 2]], dtype=float
    )
    structures = []
    for k in range(count):
        n = int(rng.integers(4, 7))
        positions = lattice[:n] + rng.normal(scale=0.1, size=(n, 3))
        numbers = rng.choice(np.asarray(species), size=n)
        atoms = Atoms(numbers=numbers, positions=positions, calculator=EMT())
        fixed = np.zeros(n, dtype=bool)
        fixed[:fixed_first] = True
        structures.append(
            AtomicStructure(
                positions=positions,
                atomic_numbers=numbers,
                fixed=fixed,
                targets={"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()},
                sid=f"cluster-{seed}-{k}",
            ).validate()
        )
    return structures


class ListDataModule(pl.LightningDataModule):
    """Structures in memory, batched by whichever representation the task attaches.

    Args:
        train: training structures (their statistics are the datamodule's).
        val: named validation sets, in dataloader order.
        batch_size: structures per batch.
    """

    def __init__(
        self,
        train: list[AtomicStructure],
        val: dict[str, list[AtomicStructure]] | None = None,
        batch_size: int = 4,
    ) -> None:
        super().__init__()
        self.train = train
        self.val = val or {}
        self.batch_size = batch_size
        self.representation = None
        self.statistics = DatasetStatistics.of(train)

    @property
    def val_names(self) -> list[str]:
        return list(self.val)

    def set_representation(self, representation) -> None:
        self.representation = representation

    def _loader(self, structures: list[AtomicStructure], shuffle: bool) -> DataLoader:
        rep = self.representation
        return DataLoader(
            structures,
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=lambda items: rep.collate([rep(s) for s in items]),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(v, shuffle=False) for v in self.val.values()]


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    settings = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    settings.update(kwargs)
    return pl.Trainer(**settings)


@pytest.fixture(autouse=True)
def _quiet_seeded_single_threaded():
    """Seeded, without Lightning's small-data warnings, and on one thread: these models are
    tiny, and on a busy machine multi-threaded kernels spin (30x slower measured on 2 cores)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_trainer(tmp_path):
    """``make_trainer(**overrides)``: a quiet one-epoch CPU trainer writing into ``tmp_path``."""
    return lambda **kwargs: _trainer(tmp_path, **kwargs)


@pytest.fixture(scope="session")
def trainer_in():
    """``trainer_in(directory, **overrides)``: :func:`make_trainer` for wider-scoped fixtures."""
    return _trainer


@pytest.fixture(scope="session")
def make_datamodule():
    """``make_datamodule(train, val=None, batch_size=4)``: a :class:`ListDataModule`."""
    return ListDataModule


@pytest.fixture(scope="session")
def clusters() -> list[AtomicStructure]:
    return emt_clusters(24, seed=1, fixed_first=1)
