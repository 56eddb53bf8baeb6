"""LitMatter's scaling experiment: epoch time against the number of processes or devices.

For each process count n the same training job (a registry model and task on a dataset, a
fixed per-process batch size, so the global batch grows with n as in LitMatter) runs in its
own process tree under Lightning's DDP, and the median time of the training epochs after the
first (which pays for start-up) is recorded. The power law t = α·n^(−β) is fitted by least
squares on log t against log n; β = 1 is perfect strong scaling, β = 0 none. LitMatter
reported β = 0.78 (DimeNet), 0.59 (NNConv), 0.42 (SchNet) and 0.21 (PNA) on GPUs.

On a CPU machine the processes share its cores (each gets ``cores // n`` threads): with few
cores the points measure DDP's overhead rather than scaling, and two points always fit
exactly (R² = 1).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WORKER = "matforge.bench.scaling_worker"


@dataclass(frozen=True)
class ScalingJob:
    """What every point of the experiment trains."""

    model: str = "egnn"
    task: str = "is2re"
    data: str = "devset:emt-is2re"
    batch_size: int = 8
    epochs: int = 3
    accelerator: str = "cpu"
    max_batches: int | None = None
    backbone_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScalingPoint:
    processes: int
    epoch_seconds: float
    epoch_seconds_all: list[float]
    threads_per_process: int


@dataclass(frozen=True)
class PowerLaw:
    """t = alpha · n^(−beta), fitted in log space; ``r2`` of that fit."""

    alpha: float
    beta: float
    r2: float

    def __call__(self, n: float) -> float:
        return self.alpha * n ** (-self.beta)


def fit_power_law(processes: Sequence[int], seconds: Sequence[float]) -> PowerLaw:
    """Least-squares fit of log t = log α − β log n (needs ≥ 2 distinct n)."""
    n = np.log(np.asarray(processes, dtype=float))
    t = np.log(np.asarray(seconds, dtype=float))
    if len(set(processes)) < 2:
        raise ValueError("a power law needs at least two different process counts")
    slope, intercept = np.polyfit(n, t, 1)
    predicted = intercept + slope * n
    total = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - float(((t - predicted) ** 2).sum()) / total if total > 0 else 1.0
    return PowerLaw(alpha=float(math.exp(intercept)), beta=float(-slope), r2=r2)


def available_processes(accelerator: str) -> int:
    """How many devices (GPUs) or CPU cores this machine offers."""
    if accelerator in ("gpu", "cuda"):
        import torch

        return torch.cuda.device_count()
    return os.cpu_count() or 1


def default_counts(limit: int) -> list[int]:
    """1, 2, 4, … up to ``limit`` (and ``limit`` itself)."""
    counts, n = [], 1
    while n <= limit:
        counts.append(n)
        n *= 2
    if counts[-1] != limit:
        counts.append(limit)
    return counts


def measure(job: ScalingJob, processes: int, workdir: Path, timeout: float = 3600) -> ScalingPoint:
    """Run the job on ``processes`` processes/devices and time its epochs."""
    cores = os.cpu_count() or 1
    threads = max(1, cores // processes) if job.accelerator == "cpu" else max(1, cores // max(processes, 1))
    out = workdir / f"n{processes}.json"
    spec = {**asdict(job), "processes": processes, "out": str(out)}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", WORKER, json.dumps(spec)], env=env, cwd=workdir,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"the {processes}-process run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    epochs = json.loads(out.read_text())["epoch_seconds"]
    timed = epochs[1:] if len(epochs) > 1 else epochs
    return ScalingPoint(processes, float(np.median(timed)), [float(e) for e in epochs], threads)


def run_scaling(job: ScalingJob, counts: Sequence[int], workdir: Path, *, echo=print) -> dict[str, Any]:
    """Measure every count, fit the power law, and return the report (also the JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    points = []
    for n in counts:
        start = time.perf_counter()
        points.append(measure(job, n, workdir))
        echo(f"  {n} process(es): epoch {points[-1].epoch_seconds:.2f} s (run {time.perf_counter() - start:.0f} s)")
    law = fit_power_law([p.processes for p in points], [p.epoch_seconds for p in points]) if len(points) > 1 else None
    return {
        "job": asdict(job),
        "points": [asdict(p) for p in points],
        "fit": None if law is None else asdict(law),
        "cores": os.cpu_count(),
        "note": scaling_note(job, points),
    }


def scaling_note(job: ScalingJob, points: Sequence[ScalingPoint]) -> str:
    notes = []
    if len(points) == 2:
        notes.append("two points fit any power law exactly (R² = 1)")
    cores = os.cpu_count() or 1
    if job.accelerator == "cpu" and max(p.processes for p in points) >= cores:
        notes.append(f"{max(p.processes for p in points)} processes on {cores} CPU cores share them: this measures DDP overhead, not scaling")
    return "; ".join(notes)


def write_plot(report: dict[str, Any], path: Path) -> bool:
    """Epoch time against processes on log-log axes, with the fit; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    n = [p["processes"] for p in report["points"]]
    t = [p["epoch_seconds"] for p in report["points"]]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(n, t, "o", label="measured (median epoch)")
    if report["fit"] is not None:
        law = PowerLaw(**report["fit"])
        grid = np.geomspace(min(n), max(n), 50)
        ax.loglog(grid, [law(x) for x in grid], "-", label=f"t = {law.alpha:.3g}·n^(−{law.beta:.2f}), R² = {law.r2:.2f}")
    ax.set_xlabel(f"processes ({report['job']['accelerator']})")
    ax.set_ylabel("epoch time (s)")
    ax.set_title(f"{report['job']['model']} on {report['job']['data']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
