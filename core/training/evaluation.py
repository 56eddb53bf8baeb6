"""Evaluate a trained task on every split of a dataset in one batched pass per split: the
Table-2 metrics (through the task's own torchmetrics, as logged in training), the baselines'
metrics on the same structures (:mod:`matforge.baselines`) and per-structure predictions
(:class:`~matforge.predictions.Predictions`, for parity plots).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from matforge.errors import MatforgeUserError
from matforge.predictions import Predictions
from matforge.training.defaults import release_datasets
from matforge.training.rundir import RunDirectory
from matforge.training.table import MetricsTable, order_splits

DEFAULT_BATCH_SIZE = 16


class EvaluationInputError(MatforgeUserError):
    """No checkpoint, no data or an unknown split was given to evaluate."""


@dataclass
class SplitTiming:
    """Structures scored on one split and the wall time it took (s)."""

    structures: int
    seconds: float


@dataclass
class Evaluation:
    """What :func:`evaluate` computed and where it wrote it."""

    table: MetricsTable
    out: Path
    files: list[Path] = field(default_factory=list)
    timings: dict[str, SplitTiming] = field(default_factory=dict)

    def print(self) -> None:
        self.table.print(title=f"{self.table.meta.get('checkpoint')} on {self.table.meta.get('data')}")
        for path in self.files:
            print(f"wrote {path}")


def evaluate(
    checkpoint: str | os.PathLike,
    *,
    data: str | None = None,
    splits: list[str] | None = None,
    batch_size: int | None = None,
    out: str | os.PathLike | None = None,
    predictions: bool = True,
    accelerator: str = "auto",
    progress: bool = True,
    num_workers: int | None = None,
) -> Evaluation:
    """Metrics of ``checkpoint`` (a ``.ckpt`` or a run directory) on every split of ``data``.

    ``data`` is ``devset:NAME`` or a dataset directory; for a run directory it defaults to the
    run's training data. Baselines come from the training split's statistics (the run's
    training data, else ``data``'s ``train`` split; no baseline rows without one). Writes
    ``metrics.csv``, ``metrics.json`` and (unless ``predictions=False``)
    ``predictions/<split>.npz`` into ``out`` (default: the run's ``evaluation/`` folder, else
    ``<checkpoint stem>-evaluation/`` beside the checkpoint). ``batch_size`` and
    ``num_workers`` (DataLoader processes building the graphs) default to the run's.
    """
    from matforge.tasks import load_task

    checkpoint = Path(checkpoint)
    run = RunDirectory(checkpoint) if checkpoint.is_dir() else RunDirectory.of_checkpoint(checkpoint)
    if checkpoint.is_dir():
        checkpoint = run.best_checkpoint
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint at {checkpoint}")
    trained_on = run_data(run) if run else None
    data = data or trained_on
    if not data:
        raise EvaluationInputError("say which data to evaluate on: --data devset:NAME or a dataset directory")
    task = load_task(checkpoint)
    batch_size = batch_size or (run_batch_size(run) if run else None) or DEFAULT_BATCH_SIZE
    if num_workers is None:
        num_workers = (_run_data_args(run).get("num_workers") if run else None) or 0
    datamodule = evaluation_datamodule(data, splits, batch_size, num_workers)
    statistics = training_statistics(trained_on or data)
    out = Path(out) if out else (run.evaluation if run else checkpoint.with_name(f"{checkpoint.stem}-evaluation"))
    files: list[Path] = []
    try:
        logged, baselines, notes, timings, sets = score_splits(task, datamodule, statistics, device=_device(accelerator),
                                                               progress=progress)  # fmt: skip
    finally:
        release_datasets(datamodule)
    meta = {"checkpoint": str(checkpoint), "data": data, "task": type(task).__name__,
            "backbone": task.hparams.get("backbone")}
    table = MetricsTable.from_logged(logged, meta=meta, baselines=baselines, baseline_notes=notes)
    out.mkdir(parents=True, exist_ok=True)
    files += [table.write_csv(out / "metrics.csv"), table.write_json(out / "metrics.json")]
    if predictions:
        files += [p.save(out / "predictions") for p in sets]
    return Evaluation(table, out, files, timings)


def score_splits(
    task: Any, datamodule: Any, statistics: Any, *, device: torch.device, progress: bool = True
) -> tuple[dict[str, float], dict[str, float], dict[str, str], dict[str, SplitTiming], list[Predictions]]:
    """One batched pass over each validation set of ``datamodule``: ``{"<split>/<metric>"}`` of
    the task and of the baselines, what each baseline predicts, timings and predictions."""
    from matforge.baselines import baseline_metrics, describe_baselines
    from matforge.interfaces import build_representation

    task = task.to(device).eval()
    datamodule.set_representation(build_representation(task.backbone, dtype=task.dtype))
    loaders = dict(zip(datamodule.val_names, datamodule.val_dataloader()))
    logged: dict[str, float] = {}
    baselines: dict[str, float] = {}
    notes: dict[str, str] = {}
    timings: dict[str, SplitTiming] = {}
    sets: list[Predictions] = []
    for split in order_splits(loaders):
        start = time.perf_counter()
        parts = []
        with torch.no_grad():  # forces enable autograd for themselves
            for batch in _progress(loaders[split], split, len(loaders[split].dataset), progress):
                parts.append(task.evaluate_batch(batch.to(device), split))
        scored = Predictions.concatenate(parts, name=split)
        timings[split] = SplitTiming(scored.num_structures, time.perf_counter() - start)
        logged.update({f"{split}/{k}": v for k, v in task.evaluation_results(split).items()})
        if statistics is not None:
            baselines.update({f"{split}/{k}": v for k, v in baseline_metrics(scored, statistics).items()})
            notes.update(describe_baselines(scored, statistics))
        sets.append(scored)
        if progress and not _interactive():
            timing = timings[split]
            print(f"{split}: {timing.structures} structures in {timing.seconds:.1f} s", flush=True)
    return logged, baselines, notes, timings, sets


def _interactive() -> bool:
    return sys.stdout.isatty()


def _progress(batches: Iterable[Any], split: str, structures: int, enabled: bool) -> Iterator[Any]:
    """``batches`` with a rich progress bar on a terminal (removed when done); elsewhere one
    line per split is printed by the caller instead of a bar redrawn into a log file."""
    if not (enabled and _interactive()):
        yield from batches
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        job = bar.add_task(f"evaluating {split}", total=structures)
        for batch in batches:
            yield batch
            bar.advance(job, batch.num_graphs)


def _device(accelerator: str) -> torch.device:
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    if accelerator in ("cpu", "auto"):
        return torch.device("cpu")
    raise EvaluationInputError(f"--accelerator must be cpu, gpu or auto, got {accelerator!r}")


def evaluate_run(run: RunDirectory) -> Evaluation:
    """:func:`evaluate` of a run's best checkpoint on the run's data, into ``run/evaluation``."""
    return evaluate(run.path)


def evaluation_datamodule(data: str, splits: list[str] | None, batch_size: int, num_workers: int = 0) -> Any:
    """A DataModule with every split of ``data`` (or those in ``splits``) as a named
    validation set, the training split included."""
    from matforge.data.datamodule import AtomicDataModule, split_paths

    paths = split_paths(data)
    if splits:
        unknown = [s for s in splits if s not in paths]
        if unknown:
            raise EvaluationInputError(f"{data} has no split {', '.join(unknown)}; its splits: {', '.join(paths)}")
        paths = {s: paths[s] for s in splits}
    return AtomicDataModule(val=paths, batch_size=batch_size, num_workers=num_workers)


def training_statistics(data: str) -> Any:
    """Statistics of the ``train`` split of ``data`` (``None`` when it has none)."""
    from matforge.data.datamodule import split_paths
    from matforge.data.dataset import open_dataset

    train = split_paths(data).get("train")
    if train is None:
        return None
    dataset = open_dataset(train)
    try:
        return dataset.statistics
    finally:
        if hasattr(dataset, "close"):
            dataset.close()


def run_data(run: RunDirectory) -> str | None:
    """The dataset a run trained on, from its ``config.yaml`` (``data.init_args.path``)."""
    return _run_data_args(run).get("path")


def run_batch_size(run: RunDirectory) -> int | None:
    return _run_data_args(run).get("batch_size")


def _run_data_args(run: RunDirectory) -> dict[str, Any]:
    """``data.init_args`` of the run's ``config.yaml`` (empty without one)."""
    if not run.config.is_file():
        return {}
    import yaml

    config = yaml.safe_load(run.config.read_text()) or {}
    return (config.get("data") or {}).get("init_args") or {}
