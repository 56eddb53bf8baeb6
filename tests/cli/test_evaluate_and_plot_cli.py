"""``matforge evaluate`` (Table-2 table, CSV, JSON, predictions) and ``matforge plot`` (PNGs)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from matforge.cli.main import main
from matforge.predictions import Predictions

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
    assert metrics[:3] == ["energy_mae", "energy_mae baseline", "energy_mae vs baseline"]
    assert {"force_mae", "force_cos", "energy_ewt", "energy+force_mae"} <= set(metrics)
    table = json.loads((out / "metrics.json").read_text())
    assert table["columns"] == ["train", "val_id", "val_ood_ads"]
    assert table["rows"]["energy+force_mae"]["val_id"] == pytest.approx(
        table["rows"]["energy_mae"]["val_id"] + table["rows"]["force_mae"]["val_id"])
    # predictions agree with the table's metrics
    p = Predictions.load(out / "predictions/val_id.npz")
    assert p["energy"].shape == p.references["energy"].shape == (8,)
    assert np.abs(np.subtract(*p.pair("forces"))).mean() == pytest.approx(table["rows"]["force_mae"]["val_id"], rel=1e-4)
    assert np.abs(np.subtract(*p.pair("energy"))).mean() == pytest.approx(table["rows"]["energy_mae"]["val_id"], rel=1e-4)


def test_evaluate_adds_baselines_on_the_same_splits(trained_run, cluster_data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(trained_run / "checkpoints/best.ckpt"), "--data", cluster_data, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "energy_mae vs baseline" in printed and "composition linear fit of energy" in printed
    table = json.loads((out / "metrics.json").read_text())
    p = Predictions.load(out / "predictions/val_ood_ads.npz")
    forces = p.pair("forces")[1]
    assert table["baseline"]["force_mae"]["val_ood_ads"] == pytest.approx(np.abs(forces).mean(), rel=1e-5)  # zero force
    ratio = table["rows"]["energy_mae"]["val_id"] / table["baseline"]["energy_mae"]["val_id"]
    assert table["vs_baseline"]["energy_mae"]["val_id"] == pytest.approx(ratio)
    assert set(table["baselines"]) == {"energy", "forces"}


def test_evaluate_runs_the_model_once_per_batch(trained_run, monkeypatch):
    from matforge.tasks import EnergyForceTask
    from matforge.training.evaluation import evaluate

    calls = []
    predict = EnergyForceTask._predict
    monkeypatch.setattr(EnergyForceTask, "_predict", lambda self, batch, **kw: calls.append(batch.num_graphs)
                        or predict(self, batch, **kw))  # fmt: skip
    result = evaluate(trained_run, batch_size=8, predictions=False, progress=False)
    assert sorted(calls) == [8] * (24 // 8 + 8 // 8 + 8 // 8)  # train, val_id, val_ood_ads: one pass each
    assert {s: t.structures for s, t in result.timings.items()} == {"train": 24, "val_id": 8, "val_ood_ads": 8}


def test_evaluate_builds_graphs_in_workers_with_the_same_result(trained_run, tmp_path):
    from matforge.training.evaluation import evaluate

    def table(workers: int) -> dict:
        result = evaluate(trained_run, splits=["val_id"], out=tmp_path / str(workers), num_workers=workers,
                          predictions=False, progress=False)  # fmt: skip
        return result.table.to_dict()["rows"]

    assert table(1) == table(0)


def test_evaluate_without_a_terminal_prints_one_line_per_split(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--no-predictions"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " structures in " in line]
    assert [line.split(":")[0] for line in lines] == ["train", "val_id", "val_ood_ads"]


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
    assert "pip install 'matforge[plot]'" in capsys.readouterr().err


def test_checkpoint_of_a_plugin_that_is_not_installed(trained_run, cluster_data, monkeypatch, capsys, tmp_path):
    from matforge.registry import registry

    resolve = registry._resolve_or_none
    monkeypatch.setattr(registry, "_resolve_or_none",
                        lambda kind, name: None if (kind, name) == ("backbone", "toy-pair") else resolve(kind, name))
    checkpoint = str(trained_run / "checkpoints/best.ckpt")
    assert main(["evaluate", checkpoint, "--data", cluster_data, "--out", str(tmp_path)]) == 1
    assert "unknown model 'toy-pair'" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--ckpt_path", checkpoint, "--data", cluster_data]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'toy-pair'" in err and "Traceback" not in err
