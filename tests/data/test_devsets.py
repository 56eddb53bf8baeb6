"""Shipped devsets: registered, readable, small, reproducible, cheap to register."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from matforge.data import open_dataset
from matforge.devsets.catalog import DEVSETS, DEVSETS_DIR
from matforge.registry import registry

REPO = Path(__file__).resolve().parents[2]
LIPS_SOURCE = Path(os.environ.get("MATFORGE_LIPS_LMDB", REPO.parent / "shared" / "data" / "matsciml-devsets" / "lips.lmdb"))


def test_every_devset_is_registered_as_a_dataset():
    assert set(DEVSETS) <= set(registry.names("dataset"))
    assert registry.get("dataset", "lips").splits == ("train", "val", "test")


@pytest.mark.parametrize(("name", "split"), [(d.name, s) for d in DEVSETS.values() for s in d.splits])
def test_every_split_opens_with_statistics(name, split):
    ds = open_dataset(f"devset:{name}/{split}")
    assert len(ds) > 0 and ds.statistics.num_structures == len(ds)
    assert ds[0].num_atoms > 0


def test_lips_split_sizes_and_citation():
    sizes = {s: len(open_dataset(f"devset:lips/{s}")) for s in ("train", "val", "test")}
    assert sizes == {"train": 160, "val": 20, "test": 20}
    assert "2022.45" in open_dataset("devset:lips/train").provenance["citation"]


def test_devsets_fit_in_8_mb():
    total = sum(f.stat().st_size for f in DEVSETS_DIR.rglob("*") if f.is_file())
    assert total <= 8 * 1024 * 1024, f"devsets take {total / 1e6:.1f} MB"


def test_registering_devsets_imports_neither_torch_nor_lmdb():
    code = (
        "import sys\n"
        "from matforge.registry import Registry\n"
        "from matforge.devsets.catalog import register_devsets\n"
        "r = Registry(discover=False); register_devsets(r)\n"
        "assert r.names('dataset') == ['emt-is2re', 'emt-s2ef', 'lips', 'qm9'], r.names('dataset')\n"
        "heavy = [m for m in ('torch', 'lmdb', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not LIPS_SOURCE.exists(), reason="the shared LiPS source file is not on this machine")
def test_lips_devset_is_what_the_script_builds(tmp_path):
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_lips_devset.py"), "--source", str(LIPS_SOURCE), "--dest", str(tmp_path / "lips")],
        check=True, capture_output=True,
    )  # fmt: skip
    for split in ("train", "val", "test"):
        for file in ("metadata.json", "shard-0000.lmdb"):
            built = (tmp_path / "lips" / split / file).read_bytes()
            assert built == (DEVSETS_DIR / "lips" / split / file).read_bytes(), f"{split}/{file} differs"
    assert (tmp_path / "lips" / "README.md").read_text() == (DEVSETS_DIR / "lips" / "README.md").read_text()
