"""Install hints name what works where matforge runs: the clone's folder for an install from a
clone, the package index otherwise; a missing optional module is a one-line user error."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from matforge.errors import MatforgeUserError, MissingDependencyError
from matforge.install import install_hint, local_source, require


def fake_distribution(site: Path, name: str, direct_url: dict | None, extras: tuple[str, ...] = ()) -> None:
    """A ``<name>-1.0.dist-info`` in ``site``, as pip writes it (PEP 610 ``direct_url.json``)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *(f"Provides-Extra: {e}" for e in extras)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A site directory searched before the real one (its distributions shadow installed ones)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def clone(tmp_path) -> Path:
    folder = tmp_path / "my clone"  # a space: the hint must quote the path
    (folder / "plugins" / "acme").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "matforge"\n')
    (folder / "plugins" / "acme" / "pyproject.toml").write_text('[project]\nname = "matforge-acme"\n')
    return folder


def test_an_editable_install_of_a_clone_gets_the_clones_folder(site, clone):
    fake_distribution(site, "matforge", {"url": clone.as_uri(), "dir_info": {"editable": True}}, ("plot",))
    assert install_hint("matforge[plot]") == f"pip install -e '{clone}[plot]'"


def test_an_install_from_a_local_folder_gets_the_folder_without_editable(site, clone):
    fake_distribution(site, "matforge", {"url": clone.as_uri(), "dir_info": {}}, ("plot",))
    assert install_hint("matforge[plot]") == f"pip install '{clone}[plot]'"
    assert local_source("matforge") == (clone, False)


def test_an_install_from_the_index_gets_the_index_form(site):
    fake_distribution(site, "matforge", None, ("plot",))
    assert install_hint("matforge[plot]") == "pip install 'matforge[plot]'"
    assert local_source("matforge") is None


def test_a_clone_that_no_longer_exists_falls_back_to_the_index_form(site, tmp_path):
    gone = tmp_path / "deleted-clone"
    fake_distribution(site, "matforge", {"url": gone.as_uri(), "dir_info": {"editable": True}}, ("plot",))
    assert install_hint("matforge[plot]") == "pip install 'matforge[plot]'"


def test_a_bare_extra_of_matforge_means_matforge_with_that_extra(site, clone):
    fake_distribution(site, "matforge", {"url": clone.as_uri(), "dir_info": {"editable": True}}, ("plot", "ase"))
    assert install_hint("ase") == install_hint("matforge[ase]") == f"pip install -e '{clone}[ase]'"


def test_a_plugin_that_is_not_installed_comes_from_the_clones_plugins_folder(site, clone):
    fake_distribution(site, "matforge", {"url": clone.as_uri(), "dir_info": {"editable": True}})
    assert install_hint("matforge-acme[fast]") == f"pip install -e '{clone}/plugins/acme[fast]'"
    assert install_hint("matforge-nosuchplugin") == "pip install matforge-nosuchplugin"


def test_an_installed_plugin_gets_its_own_source(site, clone, tmp_path):
    fake_distribution(site, "matforge", {"url": clone.as_uri(), "dir_info": {"editable": True}})
    elsewhere = tmp_path / "graph"
    elsewhere.mkdir()
    fake_distribution(site, "matforge-acme", {"url": elsewhere.as_uri(), "dir_info": {}})
    assert install_hint("matforge-acme[dgl]") == f"pip install '{elsewhere}[dgl]'"


def test_other_packages_get_the_index_form():
    assert install_hint("nosuch-package-xyz") == "pip install nosuch-package-xyz"
    assert install_hint("nosuch-package-xyz[a,b]") == "pip install 'nosuch-package-xyz[a,b]'"


def test_a_malformed_requirement_is_refused():
    with pytest.raises(ValueError, match="not a requirement"):
        install_hint("matforge[plot")


def test_require_returns_the_module():
    assert require("json", "json", "reading") is json


def hide(package: str, monkeypatch) -> None:
    """Make ``package`` and its submodules unimportable (also when already imported)."""
    for name in [n for n in sys.modules if n.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_names_the_purpose_the_package_and_the_hint(monkeypatch):
    hide("ase", monkeypatch)
    with pytest.raises(MissingDependencyError) as info:
        require("ase.io", "matforge[ase]", "importing with --format ase")
    error = info.value
    assert isinstance(error, MatforgeUserError) and isinstance(error, ImportError)
    assert str(error) == f"importing with --format ase needs ase, which is not installed: {install_hint('matforge[ase]')}"
    assert (error.package, error.requirement, error.hint) == ("ase", "matforge[ase]", install_hint("matforge[ase]"))


def test_require_keeps_the_traceback_of_a_module_whose_own_import_is_broken(tmp_path, monkeypatch):
    (tmp_path / "halfbroken_xyz.py").write_text("import nosuch_inner_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("halfbroken_xyz", "halfbroken-xyz", "testing")
    assert not isinstance(info.value, MissingDependencyError)
    assert info.value.name == "nosuch_inner_module_xyz"


def run_without(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``matforge ARGV`` in a fresh interpreter in which ``module`` cannot be imported."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from matforge.cli.main import main\n"
        f"sys.exit(main({list(argv)!r}))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    ("module", "argv", "requirement"),
    [
        ("ase", ["data", "import", "relax.traj", "frames", "--format", "ase"], "matforge[ase]"),
        ("qm9pack", ["data", "import", "qm9pack", "frames", "--format", "qm9"], "qm9pack"),
    ],
)
def test_an_importer_without_its_dependency_is_one_error_line(module, argv, requirement, tmp_path):
    (tmp_path / "relax.traj").write_bytes(b"")
    result = run_without(module, *argv, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("matforge: error: importing with --format")
    # The hint as a fresh interpreter in the same folder computes it (pytest's own sys.path
    # may see a source tree's egg-info before the installed distribution).
    expected = subprocess.run(
        [sys.executable, "-c", f"from matforge.install import install_hint; print(install_hint({requirement!r}))"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=True,
    ).stdout.strip()
    assert lines[0].endswith(expected)
    assert not (tmp_path / "frames").exists()


def test_the_ase_calculator_without_ase_names_the_install_command(monkeypatch):
    hide("ase", monkeypatch)
    monkeypatch.delitem(sys.modules, "matforge.ase", raising=False)
    with pytest.raises(MissingDependencyError) as info:
        importlib.import_module("matforge.ase")
    assert str(info.value) == (
        f"matforge.ase (the ASE calculator) needs ase, which is not installed: {install_hint('matforge[ase]')}"
    )
