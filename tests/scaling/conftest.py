"""Small QM9 subsets on disk and a runner for jobs in their own processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

JOB = Path(__file__).with_name("ddp_job.py")


def write_subset(root: Path, train: int, val: int) -> str:
    from matforge.data import open_dataset, write_dataset
    from matforge.data.dataset import AtomicDataset

    for split, count in (("train", train), ("val", val)):
        source = open_dataset(f"devset:qm9/{split}")
        write_dataset(root / split, AtomicDataset(source.path, indices=np.arange(count)), progress=False)
    return str(root)


@pytest.fixture(scope="session")
def qm9_even(tmp_path_factory) -> str:
    """48 training molecules (splits evenly over 2 ranks and batches of 4) and 21 validation."""
    return write_subset(tmp_path_factory.mktemp("qm9-even"), 48, 21)


@pytest.fixture(scope="session")
def qm9_odd(tmp_path_factory) -> str:
    """47 training molecules: one more than two ranks can share evenly."""
    return write_subset(tmp_path_factory.mktemp("qm9-odd"), 47, 21)


@pytest.fixture(scope="session")
def job_env() -> dict[str, str]:
    """The environment of job processes: one thread each (two ranks share two cores)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def job_script() -> Path:
    return JOB


@pytest.fixture
def run_job(job_env):
    """``run_job(data, out, *args)`` runs ddp_job.py (Lightning re-runs it per rank); returns ``out``."""

    def run(data: str, out: Path, *args: str, timeout: int = 600) -> Path:
        command = [sys.executable, str(JOB), "--data", data, "--out", str(out), *args]
        done = subprocess.run(command, env=job_env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-3000:]
        return out

    return run


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
