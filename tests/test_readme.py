"""The README's Python code blocks run as written (each ``##`` section in one namespace, in a
fresh working directory). A block right after ``<!-- skip-test -->`` is not run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- skip-test -->\s*)?^[ \t]*```python\n(.*?)^[ \t]*```", re.S | re.M)


def python_blocks_by_section(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title = part.splitlines()[0].strip()
        blocks = [textwrap.dedent(code) for skip, code in BLOCK.findall(part) if not skip]
        if blocks:
            sections[title] = blocks
    return sections


SECTIONS = python_blocks_by_section(README.read_text())


def test_the_python_section_is_found():
    assert "Training from Python" in SECTIONS


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_readme_python_blocks_run(section, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for code in SECTIONS[section]:
        exec(compile(code, f"README.md ({section})", "exec"), namespace)
