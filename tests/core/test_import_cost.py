"""Importing matforge and listing components must stay cheap: no torch, no model code."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "dgl", "e3nn", "lightning", "pytorch_lightning", "lmdb")


def modules_after(code: str) -> list[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_import_matforge_imports_no_heavy_dependency():
    assert heavy(modules_after("import matforge")) == []


def test_listing_every_kind_imports_no_model_or_heavy_module():
    modules = modules_after(
        "import matforge\nfor kind in matforge.registry.kinds(): matforge.registry.names(kind)"
    )
    assert heavy(modules) == []
    plugin_modules = [m for m in modules if m.startswith("matforge_")]
    assert plugin_modules, "no plugin hook module was loaded: discovery did not run"
    assert all(m.endswith(".plugin") or "." not in m for m in plugin_modules), plugin_modules


def test_cli_listing_imports_no_heavy_dependency():
    modules = modules_after(
        "import contextlib, io\nfrom matforge.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['list'])\n    main(['plugins'])"
    )
    assert heavy(modules) == []
