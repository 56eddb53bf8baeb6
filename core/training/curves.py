"""Per-epoch learning curves read back from Lightning's CSV log (``logs/metrics.csv``)."""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from pathlib import Path

from matforge.training.table import MONITOR_ALIAS

#: metric → split → [(epoch, value), ...] sorted by epoch.
Curves = dict[str, dict[str, list[tuple[int, float]]]]


def read_curves(path: str | os.PathLike) -> Curves:
    """Curves of every ``<split>/<metric>`` column of a Lightning CSV log.

    The monitor alias ``val/loss`` (a copy of the first validation set's loss) is left out,
    unless a validation set is itself named ``val``.
    Epoch-level values (``<name>`` or ``<name>_epoch``) are used as logged (the last value of
    an epoch wins); a metric logged only per step (``<name>_step``) is averaged per epoch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV log at {path} (a run directory has logs/metrics.csv)")
    epoch_values: dict[str, dict[int, float]] = defaultdict(dict)
    step_values: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        # ``val/loss`` is the monitor alias unless a validation set is itself named ``val``
        # (then it has other ``val/…`` metrics and the alias is not logged).
        alias = set() if _split_named_val(reader.fieldnames or []) else {MONITOR_ALIAS}
        for row in reader:
            epoch = _number(row.get("epoch"))
            if epoch is None:
                continue
            for column, text in row.items():
                value = _number(text)
                if value is None or column in ("epoch", "step", *alias) or "/" not in column:
                    continue
                if column.endswith("_step"):
                    step_values[column.removesuffix("_step")][int(epoch)].append(value)
                else:
                    epoch_values[column.removesuffix("_epoch")][int(epoch)] = value
    for column, per_epoch in step_values.items():
        if column not in epoch_values:
            epoch_values[column] = {e: sum(v) / len(v) for e, v in per_epoch.items()}
    curves: Curves = defaultdict(dict)
    for column, per_epoch in epoch_values.items():
        split, _, metric = column.partition("/")
        curves[metric][split] = sorted(per_epoch.items())
    return dict(curves)


def _split_named_val(columns: list[str]) -> bool:
    """Whether the log has metrics of a split named like the alias (``val/…`` besides it)."""
    split = MONITOR_ALIAS.partition("/")[0]
    return any(c.startswith(f"{split}/") and c != MONITOR_ALIAS for c in columns)


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value
