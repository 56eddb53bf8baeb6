"""Bad input gets a clear error naming the file, key or field, and nothing half-written."""

from __future__ import annotations

import json
import os

import lmdb
import numpy as np
import pytest

from matforge.data import open_dataset, write_dataset
from matforge.data.errors import (
    CorruptRecordError,
    DatasetFormatError,
    MissingShardError,
    UnknownDevsetError,
)
from matforge.data.lmdb_format import METADATA_FILE, encode_key
from matforge.structure import StructureError

from .conftest import make_structure


@pytest.fixture
def dataset(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, num_shards=2, progress=False)
    return tmp_path / "ds"


def rewrite_value(shard_file, index, transform):
    env = lmdb.open(str(shard_file), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        key = encode_key(index)
        txn.put(key, transform(bytes(txn.get(key))))
    env.close()


def edit_metadata(path, change):
    meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    change(meta)
    (path / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")


def test_truncated_value_names_shard_and_key(dataset):
    rewrite_value(dataset / "shard-0001.lmdb", 3, lambda v: v[: len(v) // 2])
    ds = open_dataset(dataset)
    with pytest.raises(CorruptRecordError, match=r"shard-0001.lmdb' key 3 \(dataset index 15\).*truncated or corrupt"):
        ds[15]


def test_corrupt_bytes_are_reported_not_decoded(dataset):
    rewrite_value(dataset / "shard-0000.lmdb", 0, lambda v: b"\xc1" + v[1:])  # 0xc1: never valid msgpack
    with pytest.raises(CorruptRecordError, match=r"key 0"):
        open_dataset(dataset)[0]


def test_array_with_wrong_byte_count_is_corrupt(dataset):
    import msgpack

    def shorten_positions(value):
        record = msgpack.unpackb(value)
        record["positions"][2] = record["positions"][2][:-4]
        return msgpack.packb(record)

    rewrite_value(dataset / "shard-0000.lmdb", 1, shorten_positions)
    with pytest.raises(CorruptRecordError, match=r"field 'positions' holds \d+ bytes, expected"):
        open_dataset(dataset)[1]


def test_wrong_schema_version(dataset):
    edit_metadata(dataset, lambda m: m.update(schema_version=2))
    with pytest.raises(DatasetFormatError, match=r"schema_version 2; this matforge reads version 1"):
        open_dataset(dataset)


def test_missing_schema_version(dataset):
    edit_metadata(dataset, lambda m: m.pop("schema_version"))
    with pytest.raises(DatasetFormatError, match=r"has no 'schema_version'"):
        open_dataset(dataset)


def test_missing_shard(dataset):
    os.remove(dataset / "shard-0001.lmdb")
    with pytest.raises(MissingShardError, match=r"shard 'shard-0001.lmdb' \(12 structures\) is missing"):
        open_dataset(dataset)


def test_shard_swapped_for_another_is_caught(dataset):
    (dataset / "shard-0001.lmdb").write_bytes((dataset / "shard-0000.lmdb").read_bytes())
    with pytest.raises(MissingShardError, match=r"expects shard 1"):
        open_dataset(dataset)  # at open, before anything is sized from the metadata


def test_file_that_is_not_an_lmdb_shard(dataset):
    (dataset / "shard-0000.lmdb").write_bytes(b"not an lmdb file at all" * 100)
    with pytest.raises(DatasetFormatError, match=r"shard-0000.lmdb' is not a readable LMDB file"):
        open_dataset(dataset)[0]


def test_legacy_lmdb_file_given_as_a_dataset(tmp_path):
    env = lmdb.open(str(tmp_path / "data.lmdb"), subdir=False, lock=False)
    env.close()
    with pytest.raises(DatasetFormatError, match=r"is a file, not a matforge dataset directory.*matforge data import"):
        open_dataset(tmp_path / "data.lmdb")


def test_directory_without_metadata(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(DatasetFormatError, match=r"no metadata.json"):
        open_dataset(tmp_path / "half")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda s: s.positions.__setitem__((0, 0), np.nan), "positions contain NaN or inf"),
        (lambda s: s.positions.__setitem__((1, 1), np.inf), "positions contain NaN or inf"),
        (lambda s: s.targets.__setitem__("forces", np.zeros((2, 3))), "target 'forces' must have shape"),
        (lambda s: s.positions.__setitem__(1, s.positions[0] + 0.01), "overlapping atoms"),
    ],
)
def test_invalid_structure_stops_the_write_and_names_its_index(tmp_path, structures, spoil, message):
    spoil(structures[5])
    with pytest.raises(StructureError, match=rf"{message}.*input structure 5"):
        write_dataset(tmp_path / "ds", structures, num_shards=2, progress=False)
    assert os.listdir(tmp_path) == []


def test_empty_structure_is_refused_by_the_writer(tmp_path):
    from matforge.structure import AtomicStructure

    empty = AtomicStructure(positions=np.zeros((0, 3)), atomic_numbers=np.zeros(0, dtype=int))
    with pytest.raises(StructureError, match=r"no atoms.*input structure 1"):
        write_dataset(tmp_path / "ds", [make_structure(0), empty], progress=False)


def test_skip_mode_lists_rejected_structures(tmp_path, structures):
    structures[2].positions[0, 0] = np.nan
    summary = write_dataset(tmp_path / "ds", structures, progress=False, errors="skip")
    assert summary.num_structures == len(structures) - 1
    assert [r.index for r in summary.rejected] == [2] and "NaN" in summary.rejected[0].reason
    provenance = open_dataset(tmp_path / "ds").provenance
    assert provenance["rejected"]["count"] == 1


def test_unknown_devset_lists_the_available_ones():
    with pytest.raises(UnknownDevsetError, match=r"unknown devset 'lipz'. Did you mean 'lips'\? Available devsets: emt-is2re, emt-s2ef, lips"):
        open_dataset("devset:lipz/train")


def test_unknown_devset_split_lists_the_splits():
    with pytest.raises(UnknownDevsetError, match=r"no split 'validation'; its splits: train, val, test"):
        open_dataset("devset:lips/validation")


def test_devset_without_split_asks_for_one():
    with pytest.raises(UnknownDevsetError, match=r"name one, e.g. 'devset:lips/train'"):
        open_dataset("devset:lips")
