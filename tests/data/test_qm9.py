"""QM9 from the qm9pack CSVs: units, targets, bad rows, the shipped devset and its training."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest

from matforge.cli.data_cmd import IMPORT_FORMATS
from matforge.cli.main import main
from matforge.data import open_dataset
from matforge.data.importers import FORMATS, import_dataset
from matforge.data.importers.qm9 import HARTREE_TO_EV, QM9_TARGETS
from matforge.data.split import REST, split_sizes
from matforge.structure import TARGET_UNITS

HAS_QM9PACK = importlib.util.find_spec("qm9pack") is not None

# the qm9pack layout: one row per molecule, lists as text (numbers written the Mathematica way)
HEADER = ["XYZ_file", "Index", "SMILES", "InChi", "N_atoms", "Stoichiometry", "Elements", "XYZ_Ang",
          "Mulliken_pop", "Harmonic_Freq_cmi", "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye",
          "Polarizability_bohr3", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au",
          "InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au",
          "Heatcapacity_Cv_cal_mol_K"]  # fmt: skip
WATER = {"XYZ_file": "dsgdb9nsd_000003.xyz", "Index": "3", "SMILES": "O", "InChi": "InChI=1S/H2O/h1H2",
         "N_atoms": "3", "Stoichiometry": "[2,0,0,1,0]", "Elements": "['O','H','H']",
         "XYZ_Ang": "[[-0.0343604951,0.9775395708,0.0076015923],[0.0647664923,0.0205721989,0.],[0.8717903,1.3007924,1.]]",
         "Mulliken_pop": "[-0.5,0.25,0.25]", "Harmonic_Freq_cmi": "[1.,2.,3.]", "RotA_GHz": "800.",
         "RotB_GHz": "400.", "RotC_GHz": "270.", "Dipole_debye": "1.8511", "Polarizability_bohr3": "6.31",
         "HOMO_au": "-0.2928", "LUMO_au": "0.0687", "HOMO_LUMO_gap_au": "0.3615", "R2_bohr2": "19.0002",
         "ZPVE_au": "0.021375", "InternalEnergy_0K_au": "-76.404702", "InternalEnergy_298K_au": "-76.401867",
         "Enthalphy_298K_au": "-76.400922", "GibbsFreeEnergy_298K_au": "-76.422349",
         "Heatcapacity_Cv_cal_mol_K": "6.002"}  # fmt: skip


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def test_units_are_converted_and_recorded(tmp_path):
    source = write_csv(tmp_path / "qm9_part1.csv", [WATER])
    summary = import_dataset(source, tmp_path / "qm9", format="qm9", progress=False)
    assert summary.num_imported == 1 and not summary.rejected
    dataset = open_dataset(tmp_path / "qm9")
    (water,) = list(dataset)
    assert water.atomic_numbers.tolist() == [8, 1, 1]
    assert water.cell is None and not water.pbc.any()
    assert water.positions[1, 2] == 0.0 and water.positions[2, 2] == 1.0  # "0." and "1."
    assert float(water.targets["gap"]) == pytest.approx(0.3615 * HARTREE_TO_EV)
    assert float(water.targets["U0"]) == pytest.approx(-76.404702 * 27.211386245988)
    assert float(water.targets["mu"]) == pytest.approx(1.8511)
    assert water.sid == 3 and water.ids["smiles"] == "O"
    for name in QM9_TARGETS:
        assert dataset.fields[f"targets.{name}"]["unit"] == TARGET_UNITS[name]
    assert TARGET_UNITS["gap"] == "eV" and TARGET_UNITS["alpha"] == "a0^3"
    assert "Ramakrishnan" in dataset.provenance["citation"]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("XYZ_Ang", "[[0,0,0],[1,0,0]]", "shape (2, 3), expected (3, 3)"),
        ("XYZ_Ang", "not a list", "column 'XYZ_Ang' is not a list"),
        ("Elements", "['O','H','Xx']", "lists 'Xx', not an element symbol"),
        ("N_atoms", "4", "'N_atoms' = '4' but 'Elements' lists 3 atoms"),
        ("HOMO_LUMO_gap_au", "nan", "'HOMO_LUMO_gap_au' = 'nan' is not finite"),
        ("ZPVE_au", "", "'ZPVE_au' = '' is not a number"),
    ],
)
def test_a_bad_row_is_rejected_with_file_line_and_column_and_the_rest_imported(tmp_path, column, value, reason):
    source = write_csv(tmp_path / "qm9_part1.csv", [WATER, {**WATER, column: value}, {**WATER, "Index": "9"}])
    summary = import_dataset(source, tmp_path / "qm9", format="qm9", progress=False)
    assert summary.num_imported == 2
    ((where, why),) = summary.rejected
    assert where == "qm9_part1.csv line 3"
    assert reason in why


def test_limit_imports_the_first_rows_and_the_map_is_refused(tmp_path):
    source = write_csv(tmp_path / "qm9_part1.csv", [{**WATER, "Index": str(i)} for i in range(5)])
    assert import_dataset(source, tmp_path / "a", format="qm9", limit=2, progress=False).num_imported == 2
    with pytest.raises(ValueError, match="takes no --map"):
        import_dataset(source, tmp_path / "b", format="qm9", key_map=["energy=U0"], progress=False)


def test_the_cli_knows_every_importer():
    assert IMPORT_FORMATS == FORMATS


def test_counted_split_sizes_with_a_rest_part():
    assert split_sizes(130_831, {"train": 110_000, "val": 10_000, "test": REST}) == {
        "train": 110_000, "val": 10_000, "test": 10_831}  # fmt: skip
    with pytest.raises(ValueError, match="ask for 120000 structures; the dataset has 1000"):
        split_sizes(1000, {"train": 110_000, "val": 10_000, "test": REST})
    with pytest.raises(ValueError, match="not a whole number"):
        split_sizes(1000, {"train": 0.8, "test": REST})


def test_cli_split_accepts_counts_and_rest(tmp_path, capsys):
    source = write_csv(tmp_path / "qm9_part1.csv", [{**WATER, "Index": str(i)} for i in range(10)])
    assert main(["data", "import", str(source), str(tmp_path / "all"), "--format", "qm9", "--no-progress"]) == 0
    assert main(["data", "split", str(tmp_path / "all"), str(tmp_path / "parts"), "--parts", "train=6", "val=2",
                 "test=rest", "--no-progress"]) == 0  # fmt: skip
    assert [len(open_dataset(tmp_path / "parts" / p)) for p in ("train", "val", "test")] == [6, 2, 2]


@pytest.mark.skipif(not HAS_QM9PACK, reason="qm9pack is not installed")
def test_import_from_the_installed_qm9pack(tmp_path, capsys):
    assert main(["data", "import", "qm9pack", str(tmp_path / "qm9"), "--format", "qm9", "--limit", "50", "--no-progress"]) == 0
    dataset = open_dataset(tmp_path / "qm9")
    assert len(dataset) == 50
    assert dataset.provenance["source"].startswith("qm9pack ")
    methane = dataset[0]
    assert methane.atomic_numbers.tolist() == [6, 1, 1, 1, 1]
    assert float(methane.targets["U0"]) == pytest.approx(-40.47893 * HARTREE_TO_EV)


def test_the_qm9_devset_is_a_real_sample_with_every_target():
    sizes = {s: len(open_dataset(f"devset:qm9/{s}")) for s in ("train", "val", "test")}
    assert sizes == {"train": 1200, "val": 150, "test": 150}
    train = open_dataset("devset:qm9/train")
    assert set(train.target_names) == set(QM9_TARGETS)
    ids = {s: {m.sid for m in open_dataset(f"devset:qm9/{s}")} for s in sizes}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    gaps = np.array([float(m.targets["gap"]) for m in train])
    assert 4.0 < gaps.mean() < 9.0  # QM9's HOMO-LUMO gaps are ~6.9 ± 1.3 eV


@pytest.mark.slow
def test_property_training_on_the_qm9_devset_from_the_cli(tmp_path, monkeypatch, capsys):
    """The README's command: a property task on devset:qm9 (its default property, gap) with EGNN."""
    monkeypatch.chdir(tmp_path)
    status = main(["fit", "--task", "property", "--data", "devset:qm9", "--model", "egnn",
                   "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "10",
                   "--trainer.limit_val_batches", "4", "--trainer.enable_progress_bar", "false",
                   "--trainer.enable_model_summary", "false"])  # fmt: skip
    assert status == 0
    (run,) = list((tmp_path / "runs").iterdir())
    header = (run / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "val/gap_mae" in header
    assert "properties ['gap']" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HAS_QM9PACK, reason="qm9pack is not installed")
def test_the_qm9_devset_is_what_the_script_builds(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from matforge.devsets.catalog import DEVSETS_DIR

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_qm9_devset.py"
    subprocess.run([sys.executable, str(script), "--dest", str(tmp_path / "qm9")], check=True, capture_output=True)
    for split in ("train", "val", "test"):
        for file in ("metadata.json", "shard-0000.lmdb"):
            built = (tmp_path / "qm9" / split / file).read_bytes()
            assert built == (DEVSETS_DIR / "qm9" / split / file).read_bytes(), f"{split}/{file} differs"
    assert (tmp_path / "qm9" / "README.md").read_text() == (DEVSETS_DIR / "qm9" / "README.md").read_text()
