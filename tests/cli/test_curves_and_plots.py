"""Learning curves from Lightning's CSV log and the PNG plots."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.predictions import Predictions
from matforge.training.curves import read_curves

CSV = """epoch,step,train/loss_step,train/loss_epoch,val_id/loss,val_id/energy_mae,train/energy_mae_step,val/loss
0,0,4.0,,,,1.0,
0,1,2.0,,,,3.0,
0,1,,,1.5,0.9,,1.5
0,1,,3.0,,,,
1,2,1.0,,,,0.5,
1,3,1.0,,,,0.5,
1,3,,,1.2,0.7,,1.2
1,3,,1.0,,,,
"""


def test_curves_per_epoch(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CSV)
    curves = read_curves(path)
    assert curves["loss"]["train"] == [(0, 3.0), (1, 1.0)]
    assert curves["loss"]["val_id"] == [(0, 1.5), (1, 1.2)]
    assert set(curves["loss"]) == {"train", "val_id"}  # the monitor alias val/loss is left out
    # logged per step only: averaged per epoch
    assert curves["energy_mae"]["train"] == [(0, 2.0), (1, 0.5)]
    assert curves["energy_mae"]["val_id"] == [(0, 0.9), (1, 0.7)]


def test_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"logs/metrics\.csv"):
        read_curves(tmp_path / "nope.csv")


def _predictions(name: str, rng, forces: bool = True) -> Predictions:
    """20 structures of 3 atoms with energies (and forces) predicted and referenced."""
    ref = rng.normal(size=20)
    predicted, references = {"energy": ref + 0.1}, {"energy": ref}
    if forces:
        predicted["forces"], references["forces"] = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
    return Predictions(predicted, np.full(20, 3), np.full(60, 29), frozenset({"forces"}) if forces else frozenset(),
                       references, name=name)  # fmt: skip


def test_plots_are_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from matforge.training.plotting import plot_learning_curves, plot_parity

    (tmp_path / "metrics.csv").write_text(CSV)
    curves_png = plot_learning_curves(read_curves(tmp_path / "metrics.csv"), tmp_path / "curves.png")
    rng = np.random.default_rng(0)
    preds = [_predictions(s, rng) for s in ("val_id", "train")]
    energy_png = plot_parity(preds, "energy", tmp_path / "energy.png", baselines={"val_id": 0.5})
    forces_png = plot_parity(preds, "forces", tmp_path / "forces.png")
    for png in (curves_png, energy_png, forces_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parity_without_forces_is_refused(tmp_path):
    pytest.importorskip("matplotlib")
    from matforge.training.plotting import plot_parity

    with pytest.raises(ValueError, match="no forces predictions"):
        plot_parity([_predictions("val_id", np.random.default_rng(0), forces=False)], "forces", tmp_path / "f.png")


def test_metric_units_follow_the_names():
    pytest.importorskip("matplotlib")
    from matforge.training.plotting import metric_unit

    assert [metric_unit(m) for m in ("energy_mae", "energy_per_atom_mae", "force_rmse", "force_cos",
                                     "energy_ewt", "stress_mae", "loss", "force_loss")] == [
        "eV", "eV/atom", "eV/Å", "cosine", "fraction", "eV/Å³", "normalised", "normalised"]


def test_parity_legend_names_the_baseline_and_the_ratio():
    pytest.importorskip("matplotlib")
    from matforge.training.plotting import parity_legend

    assert parity_legend(0.1, "eV", 8, 0.4) == "MAE = 0.100 eV (n=8)\nbaseline MAE = 0.400 eV (model 0.25×)"
    assert parity_legend(0.1, "eV", 8) == "MAE = 0.100 eV (n=8)"
