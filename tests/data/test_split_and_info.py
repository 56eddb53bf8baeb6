"""Splitting datasets (random, by field, index files) and `matforge data info`."""

from __future__ import annotations

import re

import pytest

from matforge.cli.main import main
from matforge.data import AtomicDataModule, open_dataset, write_dataset
from matforge.data.split import split_dataset, split_sizes

from .conftest import make_structure


@pytest.fixture
def source(tmp_path):
    structures = [make_structure(k) for k in range(30)]
    for k, s in enumerate(structures):
        s.sid = k // 3  # ten trajectories of three frames
    write_dataset(tmp_path / "all", structures, progress=False)
    return tmp_path / "all"


def test_sizes_follow_fractions_and_add_up():
    assert split_sizes(200, {"train": 0.8, "val": 0.1, "test": 0.1}) == {"train": 160, "val": 20, "test": 20}
    assert sum(split_sizes(7, {"a": 1, "b": 1, "c": 1}).values()) == 7


def test_random_split_is_seeded_disjoint_and_complete(source, tmp_path):
    a = split_dataset(source, tmp_path / "a", {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3, progress=False)
    b = split_dataset(source, tmp_path / "b", {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3, progress=False)
    sids = {name: [(s.sid, s.fid) for s in open_dataset(path)] for name, path in a.items()}
    assert {k: len(v) for k, v in sids.items()} == {"train": 18, "val": 6, "test": 6}
    everything = sorted(x for v in sids.values() for x in v)
    assert everything == sorted((s.sid, s.fid) for s in open_dataset(source))
    assert sids == {name: [(s.sid, s.fid) for s in open_dataset(path)] for name, path in b.items()}


def test_split_by_field_keeps_groups_together(source, tmp_path):
    parts = split_dataset(source, tmp_path / "parts", {"train": 0.7, "val": 0.3}, by="sid", index_files=True)
    groups = {name: {s.sid for s in open_dataset(path)} for name, path in parts.items()}
    assert not groups["train"] & groups["val"]
    assert len(open_dataset(parts["train"])) + len(open_dataset(parts["val"])) == 30


def test_index_files_open_like_datasets_with_their_own_statistics(source, tmp_path):
    parts = split_dataset(source, tmp_path / "idx", {"train": 0.5, "val": 0.5}, index_files=True)
    train = open_dataset(parts["train"])
    assert parts["train"].suffix == ".json" and len(train) == 15
    assert train.statistics.num_structures == 15


def test_written_split_directory_feeds_the_datamodule(source, tmp_path):
    split_dataset(source, tmp_path / "s", {"train": 0.8, "val_id": 0.2}, progress=False)
    dm = AtomicDataModule(str(tmp_path / "s"))
    assert dm.val_names == ["val_id"] and dm.statistics.num_structures == 24


def test_cli_split_and_info(source, tmp_path, capsys):
    assert main(["data", "split", str(source), str(tmp_path / "out"), "--parts", "train=2", "val=1", "--seed", "1", "--no-progress"]) == 0
    assert "train: 20 structures" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "out" / "val")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"│\s+10 │", out), out  # the split table's count
    for expected in ("eV/Å", "linear reference", "provenance", "seed: 1"):
        assert expected in out, expected
    assert main(["data", "info", "--verbose", str(tmp_path / "out" / "val")]) == 0
    out = capsys.readouterr().out
    for expected in ("10 structures", "targets.forces", "force RMS", "part: val"):
        assert expected in out, expected


def test_cli_info_on_a_whole_devset_shows_every_split(capsys):
    assert main(["data", "info", "devset:lips"]) == 0
    out = capsys.readouterr().out
    assert "cite:" in out and "Materials Cloud" in out
    for split in ("train", "val", "test"):
        assert f" {split} " in out
    assert "Li " in out and "energy: per-element linear reference" in out


def test_cli_info_on_an_unknown_devset_is_one_line(capsys):
    assert main(["data", "info", "devset:nope"]) == 1
    assert capsys.readouterr().err.strip() == "matforge: error: unknown devset 'nope'. Available devsets: emt-is2re, emt-s2ef, lips, qm9"


def test_split_with_an_empty_part_writes_nothing(tmp_path, capsys):
    write_dataset(tmp_path / "five", [make_structure(k) for k in range(5)], progress=False)
    argv = ["data", "split", str(tmp_path / "five"), str(tmp_path / "parts"), "--parts", "train=0.8", "val=0.1", "test=0.1", "--no-progress"]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(
        "matforge: error: part 'test' would be empty: 5 structures split as train=4, val=1, test=0"
    )
    assert not (tmp_path / "parts").exists()


def test_split_checks_every_part_before_writing(source, tmp_path, capsys):
    split_dataset(source, tmp_path / "s", {"train": 0.5, "val": 0.5}, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").iterdir()}
    argv = ["data", "split", str(source), str(tmp_path / "s"), "--parts", "train=1", "val=1", "test=1", "--no-progress"]
    assert main(argv) == 1
    assert "already exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").iterdir()} == before  # test/ not written either
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["test", "train", "val"]


def test_an_interrupted_split_leaves_the_destination_as_it_was(source, tmp_path, monkeypatch):
    import matforge.data.writer as writer

    calls = []
    real = writer.write_dataset

    def fail_on_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_dataset", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        split_dataset(source, tmp_path / "s", {"train": 0.5, "val": 0.5}, progress=False)
    assert list((tmp_path / "s").iterdir()) == []


def test_cli_info_lists_splits_in_the_order_evaluate_uses(capsys):
    assert main(["data", "info", "devset:emt-is2re"]) == 0
    out = capsys.readouterr().out
    splits_table = out.split("targets")[0]
    rows = [line.split("│")[1].strip() for line in splits_table.splitlines() if line.startswith("│ ")]
    assert rows == ["train", "val_id", "val_ood_cat", "val_ood_ads", "val_ood_both"]
    assert "positions_relaxed" not in out  # a coordinate, not a target statistic
    assert "created" not in out and "null" not in out
    assert out.count("provenance:") == 1 and len(out.splitlines()) < 60
