"""One bad record never aborts an import: it is listed with file, key, field and reason."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from matforge.cli.main import main
from matforge.data import open_dataset
from matforge.data.errors import TooManyRejectsError
from matforge.data.importers import import_dataset

from .conftest import make_structure
from .pyg_pickles import write_lmdb


def good_record(seed: int) -> dict:
    s = make_structure(seed)
    return {"pos": s.positions, "atomic_numbers": s.atomic_numbers, "cell": s.cell, "pbc": s.pbc,
            "energy": float(s.targets["energy"]), "natoms": s.num_atoms}  # fmt: skip


def deep_list(depth: int) -> list:
    value: list = [1.0]
    for _ in range(depth):
        value = [value]
    return value


#: name → (how the record is spoilt, the field named, a phrase of the reason)
BAD = {
    "string-pos": (lambda r: r.update(pos="0 0 0"), "positions", "must be an array of numbers, got a str"),
    "dict-pos": (lambda r: r.update(pos={"x": 1.0}), "positions", "got a dict"),
    "list-of-strings-pos": (lambda r: r.update(pos=[["a", "b", "c"]]), "positions", "must hold numbers"),
    "ragged-pos": (lambda r: r.update(pos=[[0.0, 0.0, 0.0], [1.0]]), "positions", "not a rectangular array"),
    "deep-list-pos": (lambda r: r.update(pos=deep_list(100)), None, "nested deeper than 32 levels"),
    "natoms-two": (lambda r: r.update(natoms="two"), "natoms", "got a str"),
    "natoms-wrong": (lambda r: r.update(natoms=99), "natoms", "natoms = 99"),
    "mixed-type-keys": (lambda r: r.update({1: "one", 2.5: 4}), None, "record keys must be strings"),
    "string-cell": (lambda r: r.update(cell="big"), "cell", "got a str"),
    "dict-pbc": (lambda r: r.update(pbc={"a": 1}), "pbc", "got a dict"),
    "dict-energy": (lambda r: r.update(energy={"value": 1.0}), "energy", "got a dict"),
    "matrix-energy": (lambda r: r.update(energy=np.ones((2, 2))), "targets.energy", "must be one number"),
    "nan-positions": (lambda r: r["pos"].__setitem__((0, 0), np.nan), "positions", "NaN"),
    "z-zero": (lambda r: r["atomic_numbers"].__setitem__(0, 0), "atomic_numbers", "1..118"),
    "huge-cell": (lambda r: r.update(cell=np.eye(3) * 1e200), "cell", "exceed"),
    "pbc-without-cell": (lambda r: r.pop("cell"), "cell", "pbc is set but the structure has no cell"),
    "not-a-dict": (lambda r: r.clear() or r.update(_replace_with_list=True), None, "expected a dict"),
}


def _spoilt(name: str) -> bytes:
    record = good_record(1)
    BAD[name][0](record)
    if record.pop("_replace_with_list", False):
        return pickle.dumps([1, 2, 3])
    return pickle.dumps(record)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_record_is_rejected_with_its_field_and_the_import_goes_on(tmp_path, name):
    _, field, phrase = BAD[name]
    write_lmdb(tmp_path / "m.lmdb", [pickle.dumps(good_record(0)), _spoilt(name), pickle.dumps(good_record(2))])
    summary = import_dataset(tmp_path / "m.lmdb", tmp_path / "out", format="matsciml", progress=False)
    assert summary.num_imported == 2 and len(summary.rejected) == 1
    rejected = summary.rejected[0]
    assert rejected.where == "m.lmdb key 1" and rejected.field == field
    assert phrase in rejected.reason, rejected.reason
    assert "m.lmdb key 1" in str(summary) and len(open_dataset(tmp_path / "out")) == 2


def test_max_rejects_stops_early_and_writes_nothing(tmp_path):
    values = [pickle.dumps(good_record(0))] + [_spoilt("string-pos")] * 5
    write_lmdb(tmp_path / "m.lmdb", values)
    with pytest.raises(TooManyRejectsError, match=r"(?s)more than 2 records rejected after reading 4.*m.lmdb key 1 \[positions\]"):
        import_dataset(tmp_path / "m.lmdb", tmp_path / "out", format="matsciml", progress=False, max_rejects=2)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.lmdb"]  # no temporary directory left


@pytest.mark.parametrize(
    ("values", "code"),
    [([good_record(0), good_record(1)], 0), ([good_record(0), "spoilt"], 3), (["spoilt", "spoilt"], 1)],
    ids=["clean", "some-rejected", "all-rejected"],
)
def test_the_exit_status_says_whether_anything_was_rejected(tmp_path, capsys, values, code):
    write_lmdb(tmp_path / "m.lmdb", [_spoilt("dict-pos") if v == "spoilt" else pickle.dumps(v) for v in values])
    argv = ["data", "import", str(tmp_path / "m.lmdb"), str(tmp_path / "out"), "--format", "matsciml", "--no-progress"]
    assert main(argv) == code
    out = capsys.readouterr().out
    assert f"rejected {values.count('spoilt')}" in out


def test_cli_max_rejects_is_one_line(tmp_path, capsys):
    write_lmdb(tmp_path / "m.lmdb", [_spoilt("natoms-two")] * 3)
    argv = ["data", "import", str(tmp_path / "m.lmdb"), str(tmp_path / "out"), "--format", "matsciml", "--no-progress", "--max-rejects", "0"]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("matforge: error: more than 0 records rejected after reading 1")


def test_cli_max_record_mb_rejects_oversized_records(tmp_path, capsys):
    big = good_record(0)
    big["extra"] = np.zeros(300_000)  # 2.4 MB
    write_lmdb(tmp_path / "m.lmdb", [pickle.dumps(good_record(1)), pickle.dumps(big)])
    argv = ["data", "import", str(tmp_path / "m.lmdb"), str(tmp_path / "out"), "--format", "matsciml", "--no-progress", "--max-record-mb", "1"]
    assert main(argv) == 3
    assert "m.lmdb key 1: record needs more than 1 MiB once decoded" in capsys.readouterr().out


def test_existing_destination_names_the_flag(tmp_path, capsys):
    write_lmdb(tmp_path / "m.lmdb", [pickle.dumps(good_record(0))])
    argv = ["data", "import", str(tmp_path / "m.lmdb"), str(tmp_path / "out"), "--format", "matsciml", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"matforge: error: {str(tmp_path / 'out')!r} already exists; pass --overwrite to replace it"
    assert main([*argv, "--overwrite"]) == 0
