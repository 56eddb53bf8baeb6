"""Evaluation tables shaped like the seed paper's Table 2: one row per metric, one column per
split (train, val_id, val_ood_cat, val_ood_ads, val_ood_both, then any other split).

With baselines (:mod:`matforge.baselines`), each MAE row is followed by the baseline's MAE on
the same split (``energy_mae baseline``) and the model's MAE divided by it
(``energy_mae vs baseline``: below 1 means the model beats the baseline).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Column order of the paper's Table 2; other splits follow in the order they were given.
TABLE2_SPLITS: tuple[str, ...] = ("train", "val_id", "val_ood_cat", "val_ood_ads", "val_ood_both")

#: Row of the paper's S2EF column: energy MAE (eV) + force MAE (eV/Å), added when both exist.
ENERGY_FORCE_SUM = "energy+force_mae"

#: What tasks log the first validation set's loss under too (``matforge.tasks.base.MONITOR``),
#: for checkpoint callbacks; a copy, so tables and curves leave it out.
MONITOR_ALIAS = "val/loss"

_METRIC_ORDER = ("energy", "per_atom", "force", ENERGY_FORCE_SUM, "stress")

#: Row labels added after a metric ``m`` that has a baseline: ``m baseline``, ``m vs baseline``.
BASELINE_SUFFIX = " baseline"
RATIO_SUFFIX = " vs baseline"


@dataclass
class MetricsTable:
    """Metric values by row (metric) and column (split); missing cells are ``None``."""

    splits: list[str]
    metrics: list[str]
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_logged(
        cls,
        logged: Mapping[str, float],
        meta: Mapping[str, Any] | None = None,
        baselines: Mapping[str, float] | None = None,
        baseline_notes: Mapping[str, str] | None = None,
    ) -> MetricsTable:
        """Build from logged metrics ``{"<split>/<metric>": value}`` and, optionally, the
        baselines' metrics keyed the same way (``baseline_notes``: quantity → what its
        baseline predicts).

        Keys without a ``/`` and the monitor alias ``val/loss`` are ignored; Lightning's
        ``_epoch`` suffix is dropped.
        """
        values, seen_splits = _by_metric(logged)
        return cls(order_splits(seen_splits), order_metrics(values), values, dict(meta or {}),
                   _by_metric(baselines or {})[0], dict(baseline_notes or {}))  # fmt: skip

    def cell(self, metric: str, split: str) -> float | None:
        return self.values.get(metric, {}).get(split)

    def baseline(self, metric: str, split: str) -> float | None:
        return self.baselines.get(metric, {}).get(split)

    def ratio(self, metric: str, split: str) -> float | None:
        """The model's ``metric`` over its baseline's on ``split`` (< 1: the model is better)."""
        ours, theirs = self.cell(metric, split), self.baseline(metric, split)
        if ours is None or theirs is None or not theirs > 0:
            return None
        return ours / theirs

    def rows(self) -> list[tuple[str, list[float | None], bool]]:
        """``(label, value per split, is_ratio)`` in print order: each metric, then for MAE
        metrics with a baseline its baseline row and ratio row."""
        rows: list[tuple[str, list[float | None], bool]] = []
        for metric in self.metrics:
            rows.append((metric, [self.cell(metric, s) for s in self.splits], False))
            if metric.endswith("_mae") and metric in self.baselines:
                rows.append((metric + BASELINE_SUFFIX, [self.baseline(metric, s) for s in self.splits], False))
                rows.append((metric + RATIO_SUFFIX, [self.ratio(metric, s) for s in self.splits], True))
        return rows

    def to_dict(self) -> dict[str, Any]:
        table = {
            **self.meta,
            "columns": list(self.splits),
            "rows": {m: {s: self.cell(m, s) for s in self.splits} for m in self.metrics},
        }
        if self.baselines:
            compared = [m for m in self.metrics if m in self.baselines]
            table["baseline"] = {m: {s: self.baseline(m, s) for s in self.splits} for m in compared}
            table["vs_baseline"] = {m: {s: self.ratio(m, s) for s in self.splits} for m in compared}
            table["baselines"] = dict(self.baseline_notes)
        return table

    def write_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["metric", *self.splits])
            for label, values, _ in self.rows():
                writer.writerow([label, *(_csv_value(v) for v in values)])
        return path

    def width(self) -> int:
        """Characters a rendered table needs so that no name is cut."""
        columns = [max((len(label) for label, _, _ in self.rows()), default=6), *(max(len(s), 8) for s in self.splits)]
        return sum(c + 3 for c in columns) + 1

    def render(self, title: str | None = None) -> Any:
        """A :class:`rich.table.Table` for printing (baseline rows dimmed, a caption saying
        what each baseline predicts)."""
        from rich.table import Table

        rows = self.rows()
        notes = "; ".join(f"{q}: {note}" for q, note in self.baseline_notes.items())
        table = Table(title=title, caption=f"baselines: {notes}" if notes else None)
        table.add_column("metric", no_wrap=True, min_width=max((len(label) for label, _, _ in rows), default=6))
        for split in self.splits:
            table.add_column(split, justify="right", no_wrap=True, min_width=max(len(split), 8))
        for label, values, is_ratio in rows:
            texts = [_ratio_text(v) if is_ratio else _text_value(v) for v in values]
            table.add_row(label, *texts, style="dim" if label.endswith(BASELINE_SUFFIX) else None)
        return table

    def print(self, title: str | None = None) -> None:
        """Print the table, as wide as it needs to be."""
        from rich.console import Console

        console = Console()
        console.width = max(console.width, self.width())
        console.print(self.render(title=title))


def _by_metric(logged: Mapping[str, float]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``{"<split>/<metric>": v}`` → ``{metric: {split: v}}`` (with the energy+force sum) and the
    splits in order of appearance."""
    values: dict[str, dict[str, float]] = {}
    seen_splits: list[str] = []
    for key, value in logged.items():
        split, sep, metric = key.partition("/")
        if not sep or key == MONITOR_ALIAS:
            continue
        metric = metric.removesuffix("_epoch")
        if metric.endswith("_step"):
            continue
        values.setdefault(metric, {})[split] = float(value)
        if split not in seen_splits:
            seen_splits.append(split)
    for split in seen_splits:
        energy = values.get("energy_mae", {}).get(split)
        force = values.get("force_mae", {}).get(split)
        if energy is not None and force is not None:
            values.setdefault(ENERGY_FORCE_SUM, {})[split] = energy + force
    return values, seen_splits


def order_splits(splits: Iterable[str]) -> list[str]:
    """Table 2's columns first, in its order, then the others as given."""
    given = list(dict.fromkeys(splits))
    return [s for s in TABLE2_SPLITS if s in given] + [s for s in given if s not in TABLE2_SPLITS]


def order_metrics(metrics: Iterable[str]) -> list[str]:
    """Energy, per-atom, force, energy+force, stress, other metrics, then losses last; MAE
    before RMSE before the rest within a group."""

    def group(name: str) -> int:
        if name.endswith("loss"):
            return len(_METRIC_ORDER) + 1
        if name == ENERGY_FORCE_SUM:
            return _METRIC_ORDER.index(ENERGY_FORCE_SUM)
        for rank, prefix in enumerate(_METRIC_ORDER):
            if name.startswith(prefix):
                return rank
        return len(_METRIC_ORDER)

    def kind(name: str) -> int:
        return 0 if name.endswith("_mae") else 1 if name.endswith("_rmse") else 2

    return sorted(dict.fromkeys(metrics), key=lambda name: (group(name), kind(name)))


def _csv_value(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _ratio_text(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}×"


def _text_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
