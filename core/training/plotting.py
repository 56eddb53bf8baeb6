"""PNG learning curves and parity plots with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matforge.errors import InvalidValueError, MissingDependencyError
from matforge.install import install_hint
from matforge.predictions import Predictions
from matforge.training.curves import Curves
from matforge.training.table import order_metrics, order_splits

#: Points drawn per parity panel at most (the MAE always uses every value).
MAX_POINTS = 20_000


class PlottingUnavailableError(MissingDependencyError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise :class:`PlottingUnavailableError` (saying what to install) without matplotlib."""
    _pyplot()


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError:
        hint = install_hint("matforge[plot]")
        raise PlottingUnavailableError(
            f"plots need matplotlib, which is not installed: {hint}",
            package="matplotlib", requirement="matforge[plot]", hint=hint,
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(curves: Curves, path: str | os.PathLike, title: str | None = None) -> Path:
    """One panel per metric (the loss first, then the metrics, loss terms last), one line per
    split in the same colour throughout (one legend below), epochs on the x axis."""
    if not curves:
        raise InvalidValueError("no '<split>/<metric>' columns in the log: nothing to plot")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    metrics = sorted(order_metrics(curves), key=lambda name: name != "loss")  # the loss first
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 3.6 * nrows), squeeze=False, layout="constrained"
    )
    splits = order_splits(split for by_split in curves.values() for split in by_split)
    colours = {split: f"C{k % 10}" for k, split in enumerate(splits)}  # one colour per split throughout
    for ax, metric in zip(axes.flat, metrics):
        for split in order_splits(curves[metric]):
            epochs, values = zip(*curves[metric][split])
            ax.plot(epochs, values, marker="o", markersize=3, color=colours[split], label=split)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric_unit(metric))
        if _spans_decades(curves[metric]):
            ax.set_yscale("log")
        last = max(e for points in curves[metric].values() for e, _ in points)
        ax.set_xlim(-0.5, last + 0.5)
        if last < 12:
            ax.set_xticks(range(last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colours[s], marker="o", markersize=3) for s in splits]
    fig.legend(handles, splits, loc="outside lower center", ncols=len(splits))
    if title:
        fig.suptitle(title)
    return _save(fig, plt, path)


def metric_unit(metric: str) -> str:
    """The unit of a logged metric, from matforge's naming (losses are in normalised units)."""
    if metric.endswith("loss"):
        return "normalised"
    if metric.endswith(("_ewt", "_cos")):
        return "fraction" if metric.endswith("_ewt") else "cosine"
    if "per_atom" in metric:
        return "eV/atom"
    if metric.startswith("force"):
        return "eV/Å"
    if metric.startswith("stress"):
        return "eV/Å³"
    if metric.startswith("energy"):
        return "eV"
    return ""


def plot_parity(
    predictions: Sequence[Predictions],
    quantity: str,
    path: str | os.PathLike,
    title: str | None = None,
    baselines: Mapping[str, float] | None = None,
) -> Path:
    """Predicted vs reference ``energy`` (eV) or ``forces`` (eV/Å, every component of the
    scored atoms), one panel per split, with the MAE in the legend and, where ``baselines``
    gives the baseline's MAE of a split, that MAE and the model's ratio to it."""
    if quantity not in ("energy", "forces"):
        raise InvalidValueError(f"quantity must be 'energy' or 'forces', got {quantity!r}")
    panels = [p for p in predictions if quantity in p.references]
    if not panels:
        raise InvalidValueError(f"no {quantity} predictions to plot")
    plt = _pyplot()
    unit = "eV" if quantity == "energy" else "eV/Å"
    label = "energy" if quantity == "energy" else "force component"
    panels = sorted(panels, key=lambda p: order_splits([q.name for q in panels]).index(p.name))
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.4 * ncols, 4.4 * nrows), squeeze=False, layout="constrained"
    )
    for ax, pred in zip(axes.flat, panels):
        est, ref = (np.ravel(a) for a in pred.pair(quantity))
        mae = float(np.mean(np.abs(est - ref))) if ref.size else float("nan")
        legend = parity_legend(mae, unit, ref.size, (baselines or {}).get(pred.name))
        lo, hi = _limits(ref, est)
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--", label="y = x")
        shown = _subsample(ref.size, MAX_POINTS)
        ax.scatter(ref[shown], est[shown], s=6, alpha=0.5, label=legend)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"reference {label} ({unit})")
        ax.set_ylabel(f"predicted {label} ({unit})")
        ax.set_title(pred.name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, plt, path)


def parity_legend(mae: float, unit: str, count: int, baseline: float | None = None) -> str:
    """The parity panel's legend: the model's MAE and, given the baseline's, that and the ratio."""
    text = f"MAE = {mae:.3f} {unit} (n={count})"
    if baseline is not None and baseline > 0:
        text += f"\nbaseline MAE = {baseline:.3f} {unit} (model {mae / baseline:.2f}×)"
    return text


def _subsample(size: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` points (a fixed random choice, so plots are reproducible)."""
    if size <= limit:
        return np.arange(size)
    return np.sort(np.random.default_rng(0).choice(size, limit, replace=False))


def _limits(*arrays: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([a for a in arrays if a.size]) if any(a.size for a in arrays) else np.zeros(1)
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def _spans_decades(by_split: dict[str, list[tuple[int, float]]]) -> bool:
    """Log scale for positive curves that span more than a factor of 20."""
    values = [v for points in by_split.values() for _, v in points]
    return min(values) > 0 and max(values) / min(values) > 20


def _save(fig: Any, plt: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
