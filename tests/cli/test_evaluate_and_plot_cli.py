"""``matforge evaluate`` (Table-2 table, CSV, JSON, predictions) and ``matforge plot`` (PNGs)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from matforge.cli.main import main
from matforge.install import install_hint

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_run(cluster_data, tmp_path_factory, fast) -> Path:
    """An S2EF toy-pair run trained for two epochs on the cluster data."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["fit", "--task", "s2ef", "--model", "toy-pair", "--data", cluster_data, *fast, "--run_dir", str(run)]) == 0
    return run


def test_evaluate_prints_and_writes_the_table(trained_run, cluster_data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(trained_run / "checkpoints/best.ckpt"), "--data", cluster_data, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "energy+force_mae" in printed and "val_ood_ads" in printed
    rows = list(csv.reader((out / "metrics.csv").open()))
    assert rows[0] == ["metric", "train", "val_id", "val_ood_ads"]  # Table 2's column order
    metrics = [r[0] for r in rows[1:]]
    assert metrics[0] == "energy_mae"
    assert {"force_mae", "force_cos", "energy_ewt", "energy+force_mae"} <= set(metrics)
    table = json.loads((out / "metrics.json").read_text())
    assert table["columns"] == ["train", "val_id", "val_ood_ads"]
    assert table["rows"]["energy+force_mae"]["val_id"] == pytest.approx(
        table["rows"]["energy_mae"]["val_id"] + table["rows"]["force_mae"]["val_id"])
    # predictions agree with the table's metrics
    with np.load(out / "predictions/val_id.npz") as p:
        assert p["energy_pred"].shape == p["energy_ref"].shape == (8,)
        assert np.abs(p["forces_pred"] - p["forces_ref"]).mean() == pytest.approx(table["rows"]["force_mae"]["val_id"], rel=1e-4)
        assert np.abs(p["energy_pred"] - p["energy_ref"]).mean() == pytest.approx(table["rows"]["energy_mae"]["val_id"], rel=1e-4)


def test_evaluate_a_run_directory_on_some_splits(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--splits", "val_id", "--no-predictions"]) == 0
    table = json.loads((trained_run / "evaluation/metrics.json").read_text())
    assert table["columns"] == ["val_id"]
    assert not (trained_run / "evaluation/predictions").exists()
    assert main(["evaluate", str(trained_run), "--splits", "val_ood_cat"]) == 1
    assert "no split val_ood_cat; its splits: train, val_id, val_ood_ads" in capsys.readouterr().err


def test_plot_writes_learning_curves_and_parity_plots(trained_run, tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["plot", str(trained_run), "--out", str(out)]) == 0  # evaluates first if needed
    printed = capsys.readouterr().out.split()
    for name in ("learning_curves.png", "parity_energy.png", "parity_forces.png"):
        assert str(out / name) in printed
        assert (out / name).read_bytes()[:8] == PNG


def test_plot_without_matplotlib_says_what_to_install(trained_run, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", str(trained_run)]) == 1
    assert install_hint("matforge[plot]") in capsys.readouterr().err


def test_checkpoint_of_a_plugin_that_is_not_installed(trained_run, cluster_data, monkeypatch, capsys, tmp_path):
    import importlib

    from matforge.registry import registry

    registry_module = importlib.import_module("matforge.registry")
    resolve = registry._resolve_or_none
    monkeypatch.setattr(registry, "_resolve_or_none",
                        lambda kind, name: None if (kind, name) == ("model", "toy-pair") else resolve(kind, name))
    monkeypatch.setitem(registry_module.KNOWN_PROVIDERS, ("model", "toy-pair"), "matforge-toys")
    checkpoint = str(trained_run / "checkpoints/best.ckpt")
    assert main(["evaluate", checkpoint, "--data", cluster_data, "--out", str(tmp_path)]) == 1
    assert "pip install matforge-toys" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--ckpt_path", checkpoint, "--data", cluster_data]) == 1
    err = capsys.readouterr().err
    assert "pip install matforge-toys" in err and "Traceback" not in err
