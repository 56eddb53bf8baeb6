"""The example plugin in examples/plugin installs with pip, is discovered, and passes the
backbone contract kit: what the "Writing a plugin" docs promise a third-party author."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # pip builds a wheel, then the whole contract runs: ~30 s

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    return env


def test_the_installed_example_is_listed_by_the_cli(installed):
    result = subprocess.run(
        [sys.executable, "-m", "matforge.cli.main", "list", "model", "--json"],
        capture_output=True, text=True, env=installed, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "morse-pair"' in result.stdout
    assert '"distribution": "acme-pairpot"' in result.stdout


def test_the_example_passes_the_backbone_contract(installed):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=installed, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_the_installed_example_adds_its_cli_command(installed):
    result = subprocess.run(
        [sys.executable, "-m", "matforge.cli.main", "morse-curve", "--points", "3"],
        capture_output=True, text=True, env=installed, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "r (Å)\tE (eV)" and len(result.stdout.splitlines()) == 4
