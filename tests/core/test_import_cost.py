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
    code = (
        "import json, sys, matforge\n"
        "infos = [i for k in ('model', 'representation', 'task') for i in matforge.registry.infos(k)]\n"
        "targets = sorted({i.target.split(':')[0] for i in infos})\n"
        "print(json.dumps([targets, sorted(sys.modules)]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    target_modules, modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy(modules) == []
    assert any(m.endswith(".plugin") for m in modules), "no plugin hook module loaded: discovery did not run"
    assert len(target_modules) > 3
    assert [m for m in target_modules if m in modules] == []


def test_cli_listing_imports_no_heavy_dependency():
    modules = modules_after(
        "import contextlib, io\nfrom matforge.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['list'])\n    main(['plugins'])"
    )
    assert heavy(modules) == []
