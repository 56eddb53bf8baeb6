"""A small labelled dataset on disk (EMT clusters: train, val_id, val_ood_ads) and a helper
to run the ``matforge`` command in-process."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.cli.main import main
from matforge.structure import AtomicStructure

SPLITS = {"train": 24, "val_id": 8, "val_ood_ads": 8}


def emt_clusters(count: int, seed: int) -> list[AtomicStructure]:
    """Rattled 4–6 atom Cu/Au clusters with ASE EMT energies (eV) and forces (eV/Å)."""
    from ase import Atoms
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    lattice = 1.85 * np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [2, 0, 0], [0, 2, 0]], dtype=float)
    structures = []
    for k in range(count):
        n = int(rng.integers(4, 7))
        positions = lattice[:n] + rng.normal(scale=0.1, size=(n, 3))
        numbers = rng.choice([29, 79], size=n)
        atoms = Atoms(numbers=numbers, positions=positions, calculator=EMT())
        structures.append(AtomicStructure(
            positions=positions,
            atomic_numbers=numbers,
            targets={"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()},
            sid=f"{seed}-{k}",
        ))
    return structures


@pytest.fixture(scope="session")
def cluster_data(tmp_path_factory) -> str:
    """A folder of matforge datasets, one per split."""
    from matforge.data import write_dataset

    root = tmp_path_factory.mktemp("clusters")
    for seed, (split, count) in enumerate(SPLITS.items()):
        write_dataset(root / split, emt_clusters(count, seed), progress=False)
    return str(root)


#: Keeps CLI runs in tests short and quiet.
FAST = ["--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
        "--trainer.log_every_n_steps", "1", "--data.init_args.batch_size", "8"]


@pytest.fixture(scope="session")
def fast() -> list[str]:
    """Trainer options that keep CLI runs in tests short and quiet (after --data)."""
    return list(FAST)


@pytest.fixture
def matforge(monkeypatch, tmp_path):
    """``matforge(*args)`` runs the command in ``tmp_path`` and returns its exit status."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> int:
        return main(list(args))

    return run
