"""Development sessions: ``nox`` runs lint, tests and tests-dgl (the README's test command).

* ``tests``      core + every plugin installed from this checkout (not editable), all tests,
                 slow ones included.
* ``tests-dgl``  the DGL backend on the only stack DGL 2.1.0 loads with (python 3.11,
                 torch 2.2.1, numpy<2, torchdata<0.10, vesin 0.4.2): graph and graph-model
                 tests, native vs DGL.
* ``tests-latest`` the newest torch and Lightning (ignoring matforge's upper bound on
                 Lightning), fast tests only: the early warning before raising that bound.
                 Not run by default.
* ``lint``       ruff.
* ``demo``       the README's main job: train EGNN on the EMT IS2RE devset, print metrics.
* ``bench``      benchmarks/, each printing its ratio against the peer measured in the run.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import nox

nox.options.sessions = ["lint", "tests", "tests-dgl"]
nox.options.default_venv_backend = "venv"

PLUGINS = ["graph", "pointcloud", "egnn", "megnet", "gala"]
# A torch pin that pip finds without a multi-GB download on our machines; any torch>=2.0
# works for users.
TORCH = os.environ.get("MATFORGE_TORCH", "torch==2.13.0")
DGL_STACK = [
    "torch==2.2.1",
    "numpy<2",
    "dgl==2.1.0",
    "torchdata==0.7.1",
    "vesin==0.4.2",
    "pandas",
    "pydantic",
]


#: torch's own index of CPU-only wheels. From PyPI, torch 2.2.1 for Linux depends on the CUDA
#: libraries (the nvidia-*-cu12 wheels), which made the tests-dgl venv 5.5 GB (issue 18) for a
#: session that only uses the CPU; the CPU build from this index has no such dependencies.
#: Machines that cannot reach it (the project's machines reach PyPI only: the name did not
#: resolve there, 2026-12-02) fall back to PyPI and pay the size.
TORCH_CPU_INDEX = os.environ.get("MATFORGE_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url``'s host resolves and accepts a connection (a quick check, so that an
    unreachable index costs seconds, not pip's retries)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return os.path.isdir(parsed.path)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _install_cpu_torch(session: nox.Session, requirement: str) -> None:
    """``requirement`` (a torch pin) as the CPU-only build where its index is reachable."""
    if _reachable(TORCH_CPU_INDEX):
        session.install(requirement, "--index-url", TORCH_CPU_INDEX)
    else:
        session.log(f"{TORCH_CPU_INDEX} is not reachable: {requirement} from PyPI, with its CUDA "
                    "libraries (the venv grows to ~5.5 GB)")  # fmt: skip
        session.install(requirement)


def _install_project(session: nox.Session, *extra: str, core_extras: str = "test") -> None:
    local = [f".[{core_extras}]", *[f"./plugins/{p}" for p in PLUGINS]]
    session.install(*local, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check over the whole repository (ruff in the session's own venv)."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Every test, slow ones included: ``nox -s tests -- -m 'not slow'`` to skip those."""
    session.install(TORCH)
    _install_project(session, "torch_geometric")
    session.run("pytest", *session.posargs, env={"OMP_NUM_THREADS": "2"})


@nox.session(name="tests-latest")
def tests_latest(session: nox.Session) -> None:
    """Fast tests against the newest torch, pytorch-lightning and jsonargparse on PyPI, the
    upper bound on Lightning overridden (CI runs it on a schedule; not a default session)."""
    _install_project(session, "torch_geometric")
    session.install("--upgrade", "torch", "pytorch-lightning", "jsonargparse[signatures]<5")
    session.run("python", "-c", "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__)")
    session.run("pytest", "-m", "not slow", *session.posargs, env={"OMP_NUM_THREADS": "2"})


@nox.session(name="tests-dgl", python="3.11")
def tests_dgl(session: nox.Session) -> None:
    """Graph tests on the DGL backend (CPU only: DGL's PyPI wheels stop at torch 2.2.1).

    First the graph tests on the native backend (the default install on this old torch),
    then graph and graph-model tests with every op on DGL's kernels; MATFORGE_TEST_DGL=1
    turns a DGL that fails to import into failures instead of skips. torch comes from its
    CPU-only index where that is reachable (no CUDA libraries; from PyPI the venv is ~5.5 GB:
    see ``TORCH_CPU_INDEX``).
    """
    _install_cpu_torch(session, DGL_STACK[0])
    session.install(*DGL_STACK)
    _install_project(session, *DGL_STACK)
    env = {"MATFORGE_TEST_DGL": "1", "OMP_NUM_THREADS": "2"}
    session.run("pytest", "plugins/graph", "-m", "not slow", *session.posargs, env={**env, "MATFORGE_GRAPH_BACKEND": "native"})
    session.run(
        "pytest",
        "plugins/graph",
        "plugins/egnn",
        "plugins/megnet",
        "-m",
        "not slow",
        *session.posargs,
        env={**env, "MATFORGE_GRAPH_BACKEND": "dgl"},
    )


@nox.session
def demo(session: nox.Session) -> None:
    """Train EGNN (paper config) on the EMT IS2RE devset for a few CPU epochs, then print the
    evaluation table and the plot paths (scripts/demo.py; `nox -s demo -- --epochs N`)."""
    session.install(TORCH)
    _install_project(session, core_extras="plot")
    session.run("python", "scripts/demo.py", *session.posargs, env={"OMP_NUM_THREADS": "2"})


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmarks/bench_*.py, each printing matforge vs the peer measured in the same
    run, collected into bench-report.md and bench-report.json (benchmarks/report.py)."""
    session.install(TORCH)
    _install_project(session, "ase")
    session.run("python", "benchmarks/report.py", *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session(name="bench-dgl", python="3.11")
def bench_dgl(session: nox.Session) -> None:
    """Benchmarks that compare the native graph ops and models with DGL's kernels (torch
    from its CPU-only index where reachable, as in tests-dgl)."""
    _install_cpu_torch(session, DGL_STACK[0])
    session.install(*DGL_STACK)
    _install_project(session, *DGL_STACK, "ase")
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("dgl_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}", *session.posargs, env={"OMP_NUM_THREADS": "1"})
