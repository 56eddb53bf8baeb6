"""Learning checks (slow, run in CI): the shipped EGNN configs, trained on CPU with their own
defaults, beat the trivial baselines by the margins the project promises (issue 12).

* IS2RE (``configs/is2re-egnn-paper.yaml`` on ``emt-is2re``): val_id energy MAE at least
  25% below the composition baseline (per-element linear fit of the training energies).
* S2EF (``configs/s2ef-egnn-paper.yaml`` on ``emt-s2ef``): val_id force MAE at least 50%
  below the zero-force baseline.
* LiPS (``devset:lips``, real DFT): force MAE on ``val`` at least 50% below zero force.

Each trains through ``matforge fit`` (:func:`matforge.testing.learning.train_config`), one
thread, and prints model, baseline and ratio (``pytest -s``). The budget is ≤ 3 min of CPU
each; where a run is cut short for it, the cut is a trainer limit (batches per epoch),
never a change of the config's model or optimisation settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from matforge.testing.learning import train_config

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def report(name: str, result) -> None:
    print(f"\n{name} ({result.train_cpu_s:.0f} s CPU of training)\n{result.table()}")


def test_is2re_config_beats_the_composition_baseline_by_a_quarter(tmp_path):
    result = train_config(CONFIGS / "is2re-egnn-paper.yaml", runs_root=tmp_path, splits=["val_id"])
    report("IS2RE", result)
    assert result.ratio("val_id", "energy_mae") <= 0.75


def test_s2ef_config_halves_the_zero_force_error(tmp_path):
    result = train_config(
        CONFIGS / "s2ef-egnn-paper.yaml",
        runs_root=tmp_path,
        splits=["val_id"],
        overrides=["--trainer.limit_val_batches", "5"],  # validation only picks the checkpoint
    )
    report("S2EF", result)
    assert result.ratio("val_id", "force_mae") <= 0.5


def test_lips_forces_halve_the_zero_force_error(tmp_path):
    result = train_config(
        None,
        runs_root=tmp_path,
        overrides=["--task", "s2ef", "--model", "egnn-paper", "--data", "devset:lips", *LIPS],
        splits=["val"],
    )
    report("LiPS", result)
    assert result.ratio("val", "force_mae") <= 0.5


#: LiPS with the S2EF devset-scale settings (``configs/s2ef-egnn-paper.yaml``); LiPS has no
#: fixed atoms and no composition spread (one stoichiometry), so no reference fit.
LIPS = [
    "--trainer.max_epochs", "15",
    "--model.init_args.lr", "0.003626",
    "--model.init_args.scheduler", "cosine",
    "--model.init_args.warmup_epochs", "1",
    "--model.init_args.composition_reference", "false",
]  # fmt: skip
