"""Importers: OC20 (PyG 1.x/2.x pickles), matsciml dicts, ASE files; summaries of what was rejected."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from matforge.cli.main import main
from matforge.data import open_dataset
from matforge.data.errors import DatasetFormatError, UnsafePickleError
from matforge.data.importers import import_dataset

from .conftest import make_structure
from .pyg_pickles import pyg1_pickle, pyg2_pickle, write_lmdb


def oc20_s2ef_fields(seed: int) -> dict:
    s = make_structure(seed)
    n = s.num_atoms
    return {
        "pos": torch.tensor(s.positions, dtype=torch.float32),
        "atomic_numbers": torch.tensor(s.atomic_numbers, dtype=torch.float32),  # OC20 stores floats
        "cell": torch.tensor(s.cell, dtype=torch.float32)[None],
        "natoms": n,
        "tags": torch.tensor(s.tags),
        "fixed": torch.tensor(s.fixed, dtype=torch.float32),
        "y": float(s.targets["energy"]),
        "force": torch.tensor(s.targets["forces"], dtype=torch.float32),
        "sid": 1000 + seed,
        "fid": seed % 3,
        "edge_index": torch.zeros(2, 4, dtype=torch.long),
        "cell_offsets": torch.zeros(4, 3),
    }


def oc20_is2re_fields(seed: int) -> dict:
    fields = oc20_s2ef_fields(seed)
    for key in ("y", "force", "fid", "edge_index", "cell_offsets"):
        fields.pop(key)
    fields["y_init"] = -1.0 - seed
    fields["y_relaxed"] = torch.tensor([-2.0 - seed])
    fields["pos_relaxed"] = fields["pos"] + 0.05
    return fields


@pytest.mark.parametrize("layout", [pyg1_pickle, pyg2_pickle], ids=["pyg1", "pyg2"])
def test_oc20_s2ef_maps_oc20_field_names(tmp_path, layout):
    fields = [oc20_s2ef_fields(k) for k in range(5)]
    write_lmdb(tmp_path / "data.lmdb", [layout(f) for f in fields], length_key=True)
    summary = import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)
    assert summary.num_imported == 5 and not summary.rejected
    assert summary.skipped_keys == ["data.lmdb key length"]
    assert summary.ignored_fields == {"edge_index": 5, "cell_offsets": 5}
    ds = open_dataset(tmp_path / "out")
    s = ds[2]
    assert s.atomic_numbers.dtype == np.int64 and s.cell.shape == (3, 3) and s.pbc.all()
    assert (s.sid, s.fid) == (1002, 2)
    assert float(s.targets["energy"]) == pytest.approx(fields[2]["y"])
    np.testing.assert_allclose(s.targets["forces"], fields[2]["force"].numpy())
    np.testing.assert_array_equal(s.fixed, fields[2]["fixed"].numpy().astype(bool))
    assert ds.provenance["importer"] == "oc20"


def test_oc20_is2re_fields(tmp_path):
    write_lmdb(tmp_path / "data.lmdb", [pyg2_pickle(oc20_is2re_fields(k)) for k in range(3)])
    import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)
    s = open_dataset(tmp_path / "out")[1]
    assert sorted(s.targets) == ["energy_initial", "energy_relaxed", "positions_relaxed"]
    assert s.targets["energy_relaxed"].shape == () and float(s.targets["energy_relaxed"]) == -3.0
    assert s.targets["positions_relaxed"].shape == (s.num_atoms, 3)


def test_real_torch_geometric_data(tmp_path):
    pyg = pytest.importorskip("torch_geometric.data")
    values = []
    for k in range(4):
        data = pyg.Data(**oc20_s2ef_fields(k))
        values.append(pickle.dumps(data))
    values.append(pickle.dumps(pyg.Data(**oc20_is2re_fields(9))))
    write_lmdb(tmp_path / "data.lmdb", values)
    summary = import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)
    assert summary.num_imported == 5
    ds = open_dataset(tmp_path / "out")
    np.testing.assert_allclose(ds[3].positions, oc20_s2ef_fields(3)["pos"].numpy(), atol=1e-6)
    assert "energy_relaxed" in ds[4].targets


def test_directory_of_shards_is_read_in_natural_order(tmp_path):
    src = tmp_path / "s2ef"
    src.mkdir()
    write_lmdb(src / "data.10.lmdb", [pyg2_pickle(oc20_s2ef_fields(k)) for k in (20, 21)])
    write_lmdb(src / "data.2.lmdb", [pyg2_pickle(oc20_s2ef_fields(k)) for k in (10, 11, 12)])
    import_dataset(src, tmp_path / "out", format="oc20", progress=False, num_shards=2)
    assert [s.sid for s in open_dataset(tmp_path / "out")] == [1010, 1011, 1012, 1020, 1021]


def test_key_map_overrides_and_missing_keys_are_rejected_with_reasons(tmp_path):
    values = [pyg2_pickle(oc20_is2re_fields(k)) for k in range(3)]
    broken = oc20_is2re_fields(3)
    broken.pop("y_relaxed")
    values.append(pyg2_pickle(broken))
    values.append(b"\x80\x04garbage")
    write_lmdb(tmp_path / "data.lmdb", values)
    summary = import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", key_map=["energy=y_relaxed"], progress=False)
    assert summary.num_imported == 3
    reasons = {r.where: r.reason for r in summary.rejected}
    assert "missing key 'y_relaxed'" in reasons["data.lmdb key 3"]
    assert summary.rejected[0].field == "energy"
    assert "not a readable pickle" in reasons["data.lmdb key 4"]
    assert "energy" in open_dataset(tmp_path / "out")[0].targets
    assert "rejected 2" in str(summary)


def test_invalid_structures_are_rejected_and_located(tmp_path):
    fields = [oc20_s2ef_fields(k) for k in range(3)]
    fields[1]["pos"][0, 0] = float("nan")
    write_lmdb(tmp_path / "data.lmdb", [pyg2_pickle(f) for f in fields])
    summary = import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)
    assert summary.num_imported == 2
    assert summary.rejected[0].where == "data.lmdb key 1" and "NaN" in summary.rejected[0].reason
    assert summary.rejected[0].field == "positions"


def test_unsafe_pickle_stops_the_import_and_writes_nothing(tmp_path):
    marker = tmp_path / "executed"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    write_lmdb(tmp_path / "data.lmdb", [pyg2_pickle(oc20_s2ef_fields(0)), evil])
    with pytest.raises(UnsafePickleError, match=r"data.lmdb key 1.*os.system"):
        import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_file_that_is_not_an_lmdb(tmp_path):
    (tmp_path / "data.lmdb").write_bytes(b"\x00" * 9000)
    with pytest.raises(DatasetFormatError, match=r"data.lmdb' is not a readable LMDB file"):
        import_dataset(tmp_path / "data.lmdb", tmp_path / "out", format="oc20", progress=False)


def test_matsciml_dicts_with_a_user_key_map(tmp_path):
    records = []
    for k in range(4):
        s = make_structure(k)
        records.append(pickle.dumps({
            "pos": torch.tensor(s.positions), "atomic_numbers": torch.tensor(s.atomic_numbers),
            "cell": torch.tensor(s.cell), "pbc": torch.tensor([1, 1, 1]),
            "targets": {"total_energy": np.float64(s.targets["energy"]), "grad": torch.tensor(-s.targets["forces"])},
        }))  # fmt: skip
    write_lmdb(tmp_path / "m.lmdb", records)
    summary = import_dataset(
        tmp_path / "m.lmdb", tmp_path / "out", format="matsciml",
        key_map={"energy": "targets.total_energy", "neg_forces": "targets.grad"}, progress=False,
    )  # fmt: skip
    assert summary.num_imported == 4
    s = open_dataset(tmp_path / "out")[0]
    assert float(s.targets["energy"]) == pytest.approx(float(make_structure(0).targets["energy"]))
    assert s.targets["neg_forces"].shape == (s.num_atoms, 3)


def test_ase_extxyz_with_calculator_results_and_info_keys(tmp_path):
    import ase.io

    frames = []
    for k in range(3):
        atoms = make_structure(k).to_ase()
        atoms.info["relaxed_energy"] = -5.0 - k
        frames.append(atoms)
    ase.io.write(tmp_path / "frames.extxyz", frames)
    summary = import_dataset(
        tmp_path / "frames.extxyz", tmp_path / "out", format="ase", key_map=["energy_relaxed=relaxed_energy"], progress=False
    )
    assert summary.num_imported == 3
    s = open_dataset(tmp_path / "out")[2]
    original = make_structure(2)
    assert float(s.targets["energy"]) == pytest.approx(float(original.targets["energy"]))
    np.testing.assert_allclose(s.targets["forces"], original.targets["forces"], atol=1e-6)
    assert float(s.targets["energy_relaxed"]) == -7.0
    assert s.ids["frame"] == 2


def test_cli_import_prints_a_summary(tmp_path, capsys):
    write_lmdb(tmp_path / "data.lmdb", [pyg2_pickle(oc20_s2ef_fields(k)) for k in range(3)])
    code = main(["data", "import", str(tmp_path / "data.lmdb"), str(tmp_path / "out"), "--format", "oc20", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "imported 3 structures" in out and "rejected 0" in out and "edge_index (3)" in out


def test_cli_import_reports_an_unsafe_pickle_as_one_line(tmp_path, capsys):
    write_lmdb(tmp_path / "data.lmdb", [b"cos\nsystem\n(S'true'\ntR."])
    code = main(["data", "import", str(tmp_path / "data.lmdb"), str(tmp_path / "out"), "--format", "oc20", "--no-progress"])
    assert code == 1
    assert "matforge: error: data.lmdb key 0: the pickle names the global os.system" in capsys.readouterr().err
