"""Tampered or bit-rotted datasets: the reader names file, key and field, never hands back garbage
and never crashes (truncated shards are decoded in a child process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import lmdb
import msgpack
import numpy as np
import pytest

from matforge.cli.main import main
from matforge.data import open_dataset, write_dataset
from matforge.data.datamodule import AtomicDataModule
from matforge.data.errors import CorruptRecordError, DatasetFormatError, MissingShardError
from matforge.data.lmdb_format import METADATA_FILE, encode_key

from .conftest import make_structure


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("pristine") / "ds"
    write_dataset(path, [make_structure(k) for k in range(12)], num_shards=2, progress=False)
    return path


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of a 12-structure, 2-shard dataset for each test to tamper with."""
    return Path(shutil.copytree(pristine, tmp_path / "ds"))


def _edit_record(shard_file, index: int, change) -> None:
    env = lmdb.open(str(shard_file), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        record = msgpack.unpackb(bytes(txn.get(encode_key(index))))
        change(record)
        txn.put(encode_key(index), msgpack.packb(record, use_bin_type=True))
    env.close()


def _array(values, dtype: str) -> list:
    values = np.asarray(values, dtype=dtype)
    return [values.dtype.str, list(values.shape), values.tobytes()]


def _set_values(name: str, fill):
    """A change that rewrites array ``name`` (``targets.X`` for a target) with ``fill(old)``."""

    def change(record):
        holder, key = (record["targets"], name[8:]) if name.startswith("targets.") else (record, name)
        dtype, shape, data = holder[key]
        old = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        holder[key] = _array(fill(old), "<f8" if dtype.endswith(("f4", "f8")) else "<i8")

    return change


def _nan_first(a):
    a = a.astype(float)
    a.flat[0] = np.nan
    return a


#: name → (record change, field named, phrase of the reason)
TAMPERED = {
    "nan-positions": (_set_values("positions", _nan_first), "positions", "NaN"),
    "inf-positions": (_set_values("positions", lambda a: a + np.inf), "positions", "NaN or inf"),
    "huge-positions": (_set_values("positions", lambda a: a.astype(float) * 1e200), "positions", "exceed"),
    "z-zero": (_set_values("atomic_numbers", lambda a: a * 0), "atomic_numbers", "1..118, found 0"),
    "z-negative": (_set_values("atomic_numbers", lambda a: a - 100), "atomic_numbers", "1..118"),
    "z-200": (_set_values("atomic_numbers", lambda a: a + 199), "atomic_numbers", "1..118"),
    "nan-energy": (_set_values("targets.energy", lambda a: a * np.nan), "targets.energy", "NaN"),
    "matrix-energy": (lambda r: r["targets"].update(energy=_array(np.ones((2, 2)), "<f8")), "targets.energy", "must be one number"),
    "nan-forces": (_set_values("targets.forces", _nan_first), "targets.forces", "NaN"),
    "nan-cell": (_set_values("cell", lambda a: a * np.nan), "cell", "NaN"),
    "huge-cell": (_set_values("cell", lambda a: a * 1e200), "cell", "exceed"),
    "singular-cell": (_set_values("cell", lambda a: a * 0), "cell", "singular"),
    "pbc-without-cell": (lambda r: r.update(cell=None), "cell", "pbc is set but the structure has no cell"),
    "forces-of-wrong-shape": (lambda r: r["targets"].update(forces=_array(np.zeros((2, 3)), "<f4")), "targets.forces", "shape"),
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampered_record_is_a_corrupt_record_error_naming_file_key_and_field(dataset, name):
    change, field, phrase = TAMPERED[name]
    _edit_record(dataset / "shard-0001.lmdb", 2, change)
    ds = open_dataset(dataset)
    with pytest.raises(CorruptRecordError, match=r"shard-0001.lmdb' key 2 \(dataset index 8\)") as caught:
        ds[8]
    assert caught.value.field == field and phrase in str(caught.value), str(caught.value)
    ds[7], ds[9]  # its neighbours still read


def test_truncated_shard_is_a_named_error_not_a_bus_error(dataset):
    shard = dataset / "shard-0000.lmdb"
    os.truncate(shard, shard.stat().st_size * 2 // 3)
    code = textwrap.dedent(
        f"""
        from matforge.data import open_dataset
        try:
            ds = open_dataset({str(dataset)!r})
            [ds[i] for i in range(len(ds))]
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, f"the reading process died with {child.returncode} (SIGBUS is -7)"
    assert child.stdout.startswith("MissingShardError") and "shard-0000.lmdb' is truncated" in child.stdout


def _edit_metadata(path, change) -> None:
    meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    change(meta)
    (path / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")


def _declare(count: int):
    def change(meta):
        meta["shards"][0]["count"] = count
        meta["num_structures"] = count + meta["shards"][1]["count"]
        meta["statistics"]["num_structures"] = meta["num_structures"]
        for entry in meta["fields"].values():
            entry["count"] = min(entry["count"], max(meta["num_structures"], 0))

    return change


#: name → (metadata change, error, phrase)
BAD_METADATA = {
    "declared-count-2e8": (_declare(200_000_000), MissingShardError, "expects shard 0 with 200000000"),
    "declared-count-short": (_declare(3), MissingShardError, "expects shard 0 with 3"),
    "negative-count": (_declare(-6), DatasetFormatError, "count >= 0"),
    "positions-claimed-float64": (lambda m: m["fields"]["positions"].update(dtype="float64"), DatasetFormatError,
                                  "but metadata.json declares float64 ['N', 3]"),
    "energy-claimed-vector": (lambda m: m["fields"]["targets.energy"].update(shape=[3]), DatasetFormatError, "declares float64 [3]"),
    "undeclared-target": (lambda m: m["fields"].pop("targets.forces"), DatasetFormatError, "metadata.json does not declare"),
    "nan-statistic": (lambda m: m["statistics"]["targets"]["energy"].update(std=float("nan")), DatasetFormatError,
                      "statistics.targets.energy.std = nan is not a finite number"),
    "inf-reference": (lambda m: m["statistics"]["linear_references"]["energy"]["element_energies"].update({"1": float("inf")}),
                      DatasetFormatError, "is not a finite number"),
    "missing-statistics": (lambda m: m.pop("statistics"), DatasetFormatError, "has no 'statistics'"),
    "incomplete-statistics": (lambda m: m["statistics"]["targets"]["energy"].pop("mean"), DatasetFormatError, "incomplete or malformed"),
    "odd-field-dtype": (lambda m: m["fields"]["positions"].update(dtype="object"), DatasetFormatError, "field 'positions' must be"),
}


@pytest.mark.parametrize("name", sorted(BAD_METADATA))
def test_metadata_that_does_not_match_the_shards_is_refused_at_open(dataset, name):
    change, error, phrase = BAD_METADATA[name]
    _edit_metadata(dataset, change)
    with pytest.raises(error) as caught:
        open_dataset(dataset)
    assert phrase in str(caught.value), str(caught.value)


def test_missing_statistics_is_one_clear_line_in_the_cli(dataset, capsys):
    _edit_metadata(dataset, lambda m: m.pop("statistics"))
    assert main(["data", "info", str(dataset)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("matforge: error: ") and "has no 'statistics'" in err and err.count("\n") == 1


def test_verify_reports_every_bad_record_and_the_statistics(dataset, capsys):
    assert main(["data", "verify", str(dataset), "--no-progress"]) == 0
    assert "12 of 12 records readable and valid" in capsys.readouterr().out
    _edit_record(dataset / "shard-0000.lmdb", 1, TAMPERED["nan-positions"][0])
    _edit_record(dataset / "shard-0001.lmdb", 0, TAMPERED["z-200"][0])
    assert main(["data", "verify", str(dataset), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "10 of 12 records readable and valid" in out and "FAILED" in out
    assert "shard-0000.lmdb' key 1 (dataset index 1): field 'positions'" in out
    assert "shard-0001.lmdb' key 0 (dataset index 6): field 'atomic_numbers'" in out


def test_verify_catches_statistics_that_do_not_describe_the_records(dataset, capsys):
    _edit_metadata(dataset, lambda m: m["statistics"]["targets"]["energy"].update(mean=123.0))
    assert main(["data", "verify", str(dataset), "--no-progress"]) == 1
    assert "targets.energy.mean: stored 123" in capsys.readouterr().out


def test_verify_every_split_of_a_devset(capsys):
    assert main(["data", "verify", "devset:lips", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("statistics match the records") == 3 and "160 of 160" in out


def test_two_dataset_objects_on_one_shard_feed_dataloader_workers(dataset):
    from torch.utils.data import ConcatDataset, DataLoader

    a, b = open_dataset(dataset), open_dataset(dataset)
    a[0], b[0]  # both hold the shard open in the parent
    loader = DataLoader(ConcatDataset([a, b]), batch_size=6, num_workers=2, collate_fn=len)
    assert list(loader) == [6, 6, 6, 6]


def test_an_empty_dataset_is_named_not_a_sampler_error(dataset, tmp_path):
    (tmp_path / "empty.json").write_text(json.dumps({"format": "matforge-index", "dataset": str(dataset), "indices": []}))
    dm = AtomicDataModule(train=str(tmp_path / "empty.json"), representation="atoms")
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"the train set \(.*ds'?\) holds no structures"):
        dm.train_dataloader()


def test_markup_in_provenance_does_not_break_data_info(tmp_path, capsys):
    provenance = {"source": "[bold red]x[/]", "note": "[/]", "citation": "[link=file:///etc]y"}
    write_dataset(tmp_path / "m", [make_structure(0)], provenance=provenance, progress=False)
    for extra in ([], ["--verbose"]):
        assert main(["data", "info", str(tmp_path / "m"), *extra]) == 0
        out = capsys.readouterr().out
        assert "source: [bold red]x[/]" in out and "note: [/]" in out
