"""The example plugin in examples/plugin installs with pip, is discovered, and passes the
backbone contract kit: what the "Writing a plugin" docs promise a third-party author."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # pip builds a wheel, then the whole contract runs: ~30 s

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin"


#: What building or testing the example leaves behind; never copied from the checkout.
BUILD_LEFTOVERS = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A copy of examples/plugin: pip builds in the source folder (build/, *.egg-info), and
    the checkout must stay clean."""
    copy = tmp_path_factory.mktemp("example") / "plugin"
    shutil.copytree(EXAMPLE, copy, ignore=BUILD_LEFTOVERS)
    return copy


@pytest.fixture(scope="module")
def installed(tmp_path_factory, example) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(example)],
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


def test_the_example_passes_the_backbone_contract(installed, example):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example / "tests")],
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


def test_installing_and_testing_the_example_leaves_the_checkout_as_it_was(installed, example):
    assert (example / "build").is_dir()  # pip built in the copy ...
    assert not [p for p in EXAMPLE.rglob("*") if p.name == "build" or p.name.endswith(".egg-info")]  # ... only there
