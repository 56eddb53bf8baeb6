"""The evaluation table: Table 2 layout, derived energy+force row, CSV and JSON output."""

from __future__ import annotations

import csv
import json

from matforge.training.table import ENERGY_FORCE_SUM, MetricsTable, order_metrics, order_splits


def test_columns_follow_table2_then_other_splits():
    assert order_splits(["val_ood_both", "test", "train", "val_id", "val_ood_ads", "val_ood_cat"]) == [
        "train", "val_id", "val_ood_cat", "val_ood_ads", "val_ood_both", "test",
    ]


def test_rows_are_metrics_and_steps_are_dropped():
    logged = {
        "val_id/energy_mae": 0.25,
        "train/energy_mae_epoch": 0.2,
        "train/loss_step": 9.0,
        "epoch": 3.0,
        "val_id/force_mae": 0.05,
        "train/force_mae": 0.04,
    }
    table = MetricsTable.from_logged(logged, meta={"checkpoint": "x.ckpt"})
    assert table.splits == ["train", "val_id"]
    assert table.metrics == ["energy_mae", "force_mae", ENERGY_FORCE_SUM]
    assert table.cell("energy_mae", "train") == 0.2
    assert table.cell(ENERGY_FORCE_SUM, "val_id") == 0.25 + 0.05
    assert table.cell("loss", "train") is None


def test_csv_and_json_round_trip(tmp_path):
    table = MetricsTable.from_logged({"val_id/energy_mae": 0.5, "val_ood_ads/energy_mae": 0.75,
                                      "val_id/energy_rmse": 0.6}, meta={"data": "devset:emt-is2re"})
    table.write_csv(tmp_path / "m.csv")
    table.write_json(tmp_path / "m.json")
    rows = list(csv.reader((tmp_path / "m.csv").open()))
    assert rows[0] == ["metric", "val_id", "val_ood_ads"]
    assert rows[1] == ["energy_mae", "0.5", "0.75"]
    assert rows[2] == ["energy_rmse", "0.6", ""]
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["data"] == "devset:emt-is2re"
    assert data["columns"] == ["val_id", "val_ood_ads"]
    assert data["rows"]["energy_rmse"] == {"val_id": 0.6, "val_ood_ads": None}


def test_render_has_a_column_per_split():
    table = MetricsTable.from_logged({"train/energy_mae": 0.1, "val_id/energy_mae": 0.2})
    rendered = table.render(title="t")
    assert [c.header for c in rendered.columns] == ["metric", "train", "val_id"]


def test_metric_order_groups_energy_before_forces():
    assert order_metrics(["force_loss", "force_mae", "zeta", "loss", "energy+force_mae", "energy_mae"]) == [
        "energy_mae", "force_mae", "energy+force_mae", "zeta", "force_loss", "loss",
    ]


def test_monitor_alias_is_left_out_and_matches_the_tasks():
    from matforge.tasks.base import MONITOR
    from matforge.training.table import MONITOR_ALIAS

    assert MONITOR_ALIAS == MONITOR
    table = MetricsTable.from_logged({MONITOR: 1.0, "train/loss": 1.0})
    assert table.splits == ["train"]


def test_each_mae_row_is_followed_by_its_baseline_and_the_ratio(tmp_path):
    table = MetricsTable.from_logged(
        {"val_id/energy_mae": 0.2, "val_id/energy_rmse": 0.3, "val_id/force_mae": 0.1},
        baselines={"val_id/energy_mae": 0.4, "val_id/energy_rmse": 0.5, "val_id/force_mae": 0.5},
        baseline_notes={"energy": "composition linear fit of energy", "forces": "zero forces"},
    )
    labels = [label for label, _, _ in table.rows()]
    assert labels == ["energy_mae", "energy_mae baseline", "energy_mae vs baseline", "energy_rmse",
                      "force_mae", "force_mae baseline", "force_mae vs baseline", ENERGY_FORCE_SUM,
                      f"{ENERGY_FORCE_SUM} baseline", f"{ENERGY_FORCE_SUM} vs baseline"]  # fmt: skip
    assert table.ratio("energy_mae", "val_id") == 0.5
    assert table.ratio(ENERGY_FORCE_SUM, "val_id") == (0.2 + 0.1) / (0.4 + 0.5)
    rows = {r[0]: r[1:] for r in csv.reader(table.write_csv(tmp_path / "m.csv").open())}
    assert rows["force_mae vs baseline"] == [repr(0.1 / 0.5)]
    data = json.loads(table.write_json(tmp_path / "m.json").read_text())
    assert data["baseline"]["energy_rmse"] == {"val_id": 0.5} and data["vs_baseline"]["energy_mae"] == {"val_id": 0.5}
    assert data["baselines"]["forces"] == "zero forces"
    assert "zero forces" in str(table.render().caption)


def test_a_table_without_baselines_has_no_baseline_rows(tmp_path):
    table = MetricsTable.from_logged({"val_id/energy_mae": 0.2})
    assert [label for label, _, _ in table.rows()] == ["energy_mae"]
    assert "baseline" not in json.loads(table.write_json(tmp_path / "m.json").read_text())
