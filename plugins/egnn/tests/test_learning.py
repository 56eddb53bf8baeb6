"""Learning checks (slow, run in CI): the shipped EGNN configs, trained on CPU with their own
defaults, beat the trivial baselines by the margins the project promises (issue 12).

* IS2RE (``configs/is2re-egnn-paper.yaml`` on ``emt-is2re``): val_id energy MAE at least
  25% below the composition baseline (per-element linear fit of the training energies).
* S2EF (``configs/s2ef-egnn-paper.yaml`` on ``emt-s2ef``): val_id force MAE at least 50%
  below the zero-force baseline.
* LiPS (``devset:lips``, real DFT): force MAE on ``val`` at least 50% below zero force.

With the paper's ReLU and hard cutoff, ``egnn-paper`` does not learn forces (its predicted
forces stay at ~1e-5 eV/Å whatever the loss weights or schedule); the S2EF config therefore
runs the paper's layer sizes with SiLU, a smooth 5 Å cutoff and a force-weighted loss
("Why egnn-paper did not learn forces", docs/training.md), and that is asserted.
The ``egnn`` preset (32 wide, radial basis, smooth cutoff) with a force-weighted loss learns
S2EF forces and is asserted; on LiPS it does not yet (strict xfail with the measured ratio).

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


#: 300 optimiser steps (3 epochs of 100 batches) and 5 validation batches (they only pick the
#: checkpoint): the S2EF devset's 250 steps per epoch do not fit the CPU budget otherwise.
S2EF_CUT = ["--trainer.max_epochs", "3", "--trainer.limit_train_batches", "100", "--trainer.limit_val_batches", "5"]
#: A force-weighted loss at a constant rate, as OC20 S2EF models are trained: with equal
#: weights the energy term drowns the force term and the forces stay at zero (docs/training.md).
FORCE_WEIGHTED = ["--model.init_args.energy_weight", "0.02", "--model.init_args.scheduler", "constant",
                  "--model.init_args.warmup_epochs", "0", "--model.init_args.lr", "0.003"]  # fmt: skip
EGNN_SMALL = ('{"hidden": 32, "num_layers": 3, "edge_dims": [32, 32], "node_dims": [32], "position_dims": [32], '
              '"projection_dims": [32], "output_dims": [32], "num_radial": 16, "cutoff": 5.0}')


def test_s2ef_config_halves_the_zero_force_error(tmp_path):
    result = train_config(CONFIGS / "s2ef-egnn-paper.yaml", runs_root=tmp_path, splits=["val_id"], overrides=S2EF_CUT)
    report("S2EF, configs/s2ef-egnn-paper.yaml", result)
    assert result.ratio("val_id", "force_mae") <= 0.5


def test_s2ef_egnn_halves_the_zero_force_error(tmp_path):
    result = train_config(
        CONFIGS / "s2ef-egnn-paper.yaml",
        runs_root=tmp_path,
        splits=["val_id"],
        overrides=[*S2EF_CUT, *FORCE_WEIGHTED, "--model.init_args.backbone", "egnn", "--model.init_args.backbone_args", EGNN_SMALL],
    )
    report("S2EF, egnn", result)
    assert result.ratio("val_id", "force_mae") <= 0.5


#: LiPS (160 frames of 83 atoms, 20 steps per epoch): one stoichiometry, so no composition fit.
LIPS = ["--task", "s2ef", "--data", "devset:lips", "--trainer.max_epochs", "10",
        "--model.init_args.composition_reference", "false"]  # fmt: skip


#: The S2EF config's devset-scale backbone settings (configs/s2ef-egnn-paper.yaml).
PAPER_SIZES_SMOOTH = '{"activation": "silu", "smooth_cutoff": true, "cutoff": 5.0}'


@pytest.mark.xfail(
    strict=True,
    reason="LiPS forces are not learned in 200 steps by egnn-paper, with the paper's ReLU and hard "
    "cutoff (val force MAE 0.4535 vs 0.4535 eV/Å zero force, ratio 1.00, 68 s CPU) nor with the S2EF "
    "config's SiLU, smooth 5 Å cutoff and a force-weighted loss (ratio 1.00 at energy weight 0.02, 43 s "
    "CPU, and at 0.01, 42 s CPU; docs/training.md)",
)
def test_lips_paper_egnn_halves_the_zero_force_error(tmp_path):
    overrides = [*LIPS, "--model", "egnn-paper", "--model.init_args.backbone_args", PAPER_SIZES_SMOOTH, *FORCE_WEIGHTED]
    result = train_config(None, runs_root=tmp_path, overrides=overrides, splits=["val"])
    report("LiPS, egnn-paper", result)
    assert result.ratio("val", "force_mae") <= 0.5


@pytest.mark.xfail(
    strict=True,
    reason="LiPS forces are not learned in 200 steps by egnn either: measured val force MAE 0.4534 vs "
    "0.4535 eV/Å zero force (ratio 1.00, 40 s CPU, force-weighted loss; docs/training.md)",
)
def test_lips_egnn_halves_the_zero_force_error(tmp_path):
    overrides = [*LIPS, "--model", "egnn", "--model.init_args.backbone_args", EGNN_SMALL, *FORCE_WEIGHTED]
    result = train_config(None, runs_root=tmp_path, overrides=overrides, splits=["val"])
    report("LiPS, egnn", result)
    assert result.ratio("val", "force_mae") <= 0.5
