"""A write killed with -9 leaves no live worker processes, and its temporary directory is
cleaned by the next write to the same destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from matforge.data import open_dataset, write_dataset
from matforge.data.writer import clean_stale_temporaries

from .conftest import make_structure

_PARENT = textwrap.dedent(
    """
    import multiprocessing, sys, time
    import numpy as np
    from matforge.data import write_dataset
    from matforge.structure import AtomicStructure

    class Slow:  # sized, so the shards stream; stalls once both writers are busy
        def __len__(self):
            return 40
        def __iter__(self):
            for k in range(40):
                if k == 30:
                    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
                    time.sleep(600)
                yield AtomicStructure(positions=np.arange(6.0).reshape(2, 3) * (k + 1), atomic_numbers=[1, 8])

    write_dataset(sys.argv[1], Slow(), num_shards=2, progress=False)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state  # a zombie has exited


def test_killed_parallel_write_leaves_no_workers_and_its_temporaries_are_cleaned(tmp_path):
    dest = tmp_path / "ds"
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(dest)], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "shard writers outlived their parent"
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == [".ds.tmp"]  # what kill -9 left
    write_dataset(dest, [make_structure(k) for k in range(4)], num_shards=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert len(open_dataset(dest)) == 4


def test_temporaries_of_a_running_write_are_left_alone(tmp_path):
    running = tmp_path / f".ds.tmp-{os.getpid()}-abcdef12"
    running.mkdir()
    assert clean_stale_temporaries(tmp_path / "ds") == []
    assert running.exists()
