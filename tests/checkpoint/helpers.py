"""Helpers of the checkpoint tests: generated structures, quiet trainers, checkpoint edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from matforge.structure import AtomicStructure


def clusters(count: int, seed: int) -> list[AtomicStructure]:
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


def quiet_trainer(directory: Path, **kwargs) -> pl.Trainer:
    settings = dict(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                    default_root_dir=directory)  # fmt: skip
    settings.update(kwargs)
    return pl.Trainer(**settings)


def fit_and_save(task, dataset_dir: Path, path: Path, **trainer_kwargs) -> Path:
    """Fit ``task`` for two steps on ``dataset_dir`` and save a Lightning checkpoint at ``path``."""
    from matforge.data.datamodule import AtomicDataModule

    datamodule = AtomicDataModule(str(dataset_dir), batch_size=4)
    trainer = quiet_trainer(path.parent, max_steps=2, **trainer_kwargs)
    try:
        trainer.fit(task, datamodule=datamodule)
        trainer.save_checkpoint(path)
    finally:
        datamodule.dataset("train").close()
    return path


def edit_checkpoint(source: Path, target: Path, edit) -> Path:
    """A copy of checkpoint ``source`` at ``target`` after ``edit(checkpoint_dict)``."""
    checkpoint = torch.load(source, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target
