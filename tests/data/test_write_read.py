"""Writing a dataset and reading it back: format v1 round trip, shards, atomicity."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from matforge.data import AtomicDataset, open_dataset, write_dataset
from matforge.data.lmdb_format import METADATA_FILE, SCHEMA_VERSION

from .conftest import make_structure


def assert_same(a, b, atol=1e-6):
    np.testing.assert_allclose(a.positions, b.positions, atol=atol)
    np.testing.assert_array_equal(a.atomic_numbers, b.atomic_numbers)
    np.testing.assert_array_equal(a.tags, b.tags)
    np.testing.assert_array_equal(a.fixed, b.fixed)
    np.testing.assert_array_equal(a.pbc, b.pbc)
    assert (a.cell is None) == (b.cell is None)
    if a.cell is not None:
        np.testing.assert_array_equal(a.cell, b.cell)
    assert sorted(a.targets) == sorted(b.targets)
    for k in a.targets:
        np.testing.assert_allclose(a.targets[k], b.targets[k], atol=atol)
    assert (a.sid, a.fid) == (b.sid, b.fid)


def test_round_trip_keeps_every_field(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    ds = open_dataset(tmp_path / "ds")
    assert len(ds) == len(structures)
    for original, stored in zip(structures, ds):
        assert_same(original, stored)
        assert stored.ids["source"] == original.ids["source"]


def test_float64_storage_is_exact(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False, float32=False)
    ds = open_dataset(tmp_path / "ds")
    assert_same(structures[3], ds[3], atol=0.0)
    assert ds.fields["positions"]["dtype"] == "float64"


def test_float32_storage_rounds_positions_and_forces_only(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    ds = open_dataset(tmp_path / "ds")
    assert ds.fields["positions"]["dtype"] == "float32"
    assert ds.fields["targets.forces"]["dtype"] == "float32"
    assert ds[0].targets["energy"] == structures[0].targets["energy"]  # energies stay float64
    np.testing.assert_array_equal(ds[0].positions, structures[0].positions.astype(np.float32))


def test_read_arrays_are_canonical_and_writable(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    s = open_dataset(tmp_path / "ds")[0]
    assert s.positions.dtype == np.float64 and s.atomic_numbers.dtype == np.int64
    assert s.tags.dtype == np.int64 and s.fixed.dtype == bool
    assert s.positions.flags.writeable
    torch.from_numpy(s.positions)  # no read-only warning path


def test_molecule_without_cell_round_trips(tmp_path):
    molecule = make_structure(5, periodic=False)
    write_dataset(tmp_path / "ds", [molecule], progress=False)
    stored = open_dataset(tmp_path / "ds")[0]
    assert stored.cell is None and not stored.pbc.any()


def test_shards_keep_input_order(tmp_path, structures):
    summary = write_dataset(tmp_path / "ds", structures, num_shards=3, progress=False)
    assert summary.shard_counts == [8, 8, 8]
    ds = open_dataset(tmp_path / "ds")
    assert [s.sid for s in ds] == [s.sid for s in structures]
    assert sorted(os.listdir(tmp_path / "ds")) == [METADATA_FILE, "shard-0000.lmdb", "shard-0001.lmdb", "shard-0002.lmdb"]


def test_sharded_and_single_writes_have_the_same_statistics(tmp_path, structures):
    one = write_dataset(tmp_path / "a", structures, progress=False).statistics
    three = write_dataset(tmp_path / "b", iter(structures), num_shards=3, progress=False).statistics
    assert one.num_structures == three.num_structures == len(structures)
    assert one.targets["energy"].mean == pytest.approx(three.targets["energy"].mean, rel=1e-12)
    assert one.targets["forces"].std == pytest.approx(three.targets["forces"].std, rel=1e-12)


def test_metadata_records_schema_fields_units_and_provenance(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False, provenance={"source": "unit test"})
    meta = json.loads((tmp_path / "ds" / METADATA_FILE).read_text(encoding="utf-8"))
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["shards"] == [{"file": "shard-0000.lmdb", "count": len(structures)}]
    assert meta["fields"]["targets.forces"]["unit"] == "eV/Å"
    assert meta["fields"]["targets.energy"]["unit"] == "eV"
    assert meta["provenance"]["source"] == "unit test"
    assert "command_line" in meta["provenance"] and "matforge_version" in meta["provenance"]
    assert meta["statistics"]["num_structures"] == len(structures)


def test_created_time_honours_source_date_epoch(tmp_path, structures, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    write_dataset(tmp_path / "ds", structures, progress=False)
    assert open_dataset(tmp_path / "ds").provenance["created"] == "1970-01-01T00:00:00+00:00"


def test_writing_twice_gives_identical_files(tmp_path, structures, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    for name in ("a", "b"):
        write_dataset(tmp_path / name, structures, num_shards=2, progress=False)
    for file in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_existing_destination_needs_overwrite(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures[:2], progress=False)
    with pytest.raises(FileExistsError, match=r"overwrite=True"):
        write_dataset(tmp_path / "ds", structures, progress=False)
    write_dataset(tmp_path / "ds", structures, progress=False, overwrite=True)
    assert len(open_dataset(tmp_path / "ds")) == len(structures)


def test_overwrite_refuses_a_directory_that_is_not_a_dataset(tmp_path, structures):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"not a matforge dataset"):
        write_dataset(tmp_path / "precious", structures, progress=False, overwrite=True)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_interrupted_write_leaves_nothing(tmp_path, structures):
    def stream():
        yield from structures[:5]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "ds", stream(), progress=False)
    assert os.listdir(tmp_path) == []


def test_map_size_grows_beyond_the_initial_map(tmp_path, monkeypatch):
    import matforge.data.writer as writer

    monkeypatch.setattr(writer, "_INITIAL_MAP_SIZE", 64 << 10)
    big = [make_structure(k, n=27) for k in range(60)]
    for s in big:
        s.targets["descriptor"] = np.zeros(400)  # ~3 kB per record, ~200 kB in all
    write_dataset(tmp_path / "ds", big, progress=False)
    assert len(open_dataset(tmp_path / "ds")) == 60


def test_dataset_is_picklable_and_reopens_in_another_process(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    ds = open_dataset(tmp_path / "ds")
    ds[0]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=list)
    sids = [s.sid for batch in loader for s in batch]
    assert sids == [s.sid for s in structures]


def test_negative_and_out_of_range_indices(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    ds = open_dataset(tmp_path / "ds")
    assert ds[-1].sid == structures[-1].sid
    with pytest.raises(IndexError, match=r"out of range"):
        ds[len(structures)]


def test_subset_by_indices(tmp_path, structures):
    write_dataset(tmp_path / "ds", structures, progress=False)
    ds = AtomicDataset(tmp_path / "ds", indices=[5, 2])
    assert len(ds) == 2 and [s.sid for s in ds] == [5, 2]
    assert ds[0].ids["index"] == 5


def test_scalar_and_vector_targets_keep_their_shapes(tmp_path):
    s = make_structure(1)
    s.targets["bandgap"] = np.array(1.25)
    s.targets["dipole"] = np.array([0.1, 0.2, 0.3])
    s.targets["stress"] = np.eye(3) * 0.01
    write_dataset(tmp_path / "ds", [s], progress=False)
    stored = open_dataset(tmp_path / "ds")[0]
    assert {k: v.shape for k, v in stored.targets.items()} == {k: v.shape for k, v in s.targets.items()}


def test_sharded_skip_mode_keeps_good_structures_in_order(tmp_path, structures):
    structures[3].positions[0] = np.inf
    structures[20].targets["forces"] = np.zeros((1, 3))
    summary = write_dataset(tmp_path / "ds", structures, num_shards=3, progress=False, errors="skip")
    assert [r.index for r in summary.rejected] == [3, 20]
    assert [s.sid for s in open_dataset(tmp_path / "ds")] == [s.sid for k, s in enumerate(structures) if k not in (3, 20)]


def test_one_dataset_can_be_opened_twice_in_a_process(tmp_path):
    from matforge.data import open_dataset, write_dataset
    from matforge.structure import AtomicStructure

    structures = [
        AtomicStructure(positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0 + 0.1 * k]], atomic_numbers=[1, 1], targets={"energy": -1.0 * k})
        for k in range(3)
    ]
    write_dataset(tmp_path / "ds", structures, progress=False)
    first, second = open_dataset(tmp_path / "ds"), open_dataset(tmp_path / "ds")
    assert first[2].targets["energy"] == second[2].targets["energy"] == -2.0
    first.close()
    assert second[1].targets["energy"] == -1.0  # the other reader's handle stays open
    second.close()
