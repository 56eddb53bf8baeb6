"""Fixtures for the checkpoint tests: a small labelled dataset on disk and a trained checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from matforge.structure import AtomicStructure

from .helpers import clusters, fit_and_save


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    """A folder of two matforge datasets, ``train`` (12 structures) and ``val`` (4)."""
    from matforge.data import write_dataset

    root = tmp_path_factory.mktemp("ckpt-data")
    write_dataset(root / "train", clusters(12, 0), progress=False)
    write_dataset(root / "val", clusters(4, 1), progress=False)
    return root


@pytest.fixture(scope="session")
def structures() -> list[AtomicStructure]:
    return clusters(3, 7)


@pytest.fixture(autouse=True)
def _quiet_seeded_single_threaded():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def saved(tmp_path_factory, dataset_dir) -> Path:
    """An ``is2re`` toy-pair task trained two steps on ``dataset_dir``, as a checkpoint."""
    from matforge.tasks import EnergyTask

    directory = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    return fit_and_save(EnergyTask("toy-pair", {"hidden": 8}), dataset_dir, directory / "toy.ckpt")
