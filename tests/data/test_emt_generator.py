"""The EMT devset generator's building blocks (scripts/emt_devsets) and the shipped
``emt-is2re`` / ``emt-s2ef`` devsets. The full generator is never run here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ase")
pytest.importorskip("scipy")

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from ase.constraints import FixAtoms  # noqa: E402
from ase.data import covalent_radii  # noqa: E402
from emt_devsets import build as B  # noqa: E402
from emt_devsets import relax as R  # noqa: E402
from emt_devsets.splits import SPLITS, design_splits, draw_candidates  # noqa: E402

# Small stand-ins for OC20 database entries (the tests do not need fairchem-data-oc).
ADS_O = B.Adsorbate(0, "*O", ("O",), np.zeros((1, 3)), (0,))
ADS_OH = B.Adsorbate(2, "*OH", ("O", "H"), np.array([[0.0, 0.0, 0.0], [0.92, 0.0, 0.32]]), (0,))
ADS_CO = B.Adsorbate(5, "*CO", ("C", "O"), np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.17]]), (0,))


@pytest.fixture(scope="module")
def cu111():
    slab = B.build_slab("Cu", "111")
    traj = R.relax(slab)
    assert traj.converged
    slab.calc = None
    return slab, float(traj.energies[-1])


def _place(slab, adsorbate, kind="hollow", seed=0):
    site = next(s for s in B.find_sites(slab, "Cu") if s.kind == kind)
    system, _ = B.place_adsorbate(slab, adsorbate, site, np.random.default_rng(seed))
    return system


# -- slabs, sites, placement -----------------------------------------------------------------


@pytest.mark.parametrize("facet", sorted(B.FACETS))
def test_slab_tags_fixed_and_vacuum(facet):
    slab = B.build_slab("Pt", facet)
    tags = slab.get_tags()
    assert set(tags.tolist()) == {B.TAG_SUBSURFACE, B.TAG_SURFACE}
    fixed = np.zeros(len(slab), dtype=bool)
    (constraint,) = slab.constraints
    assert isinstance(constraint, FixAtoms)
    fixed[constraint.index] = True
    np.testing.assert_array_equal(fixed, tags == B.TAG_SUBSURFACE)  # fixed == subsurface
    z = slab.positions[:, 2]
    assert z[fixed].max() < z[~fixed].min()  # the bottom layers are the fixed ones
    assert 20 <= len(slab) <= 40
    assert slab.cell[2, 2] - (z.max() - z.min()) >= 2 * B.VACUUM - 1e-6
    assert slab.pbc.all()


def test_sites_of_fcc111():
    slab = B.build_slab("Cu", "111")
    kinds = [s.kind for s in B.find_sites(slab, "Cu")]
    # 3x3 cell: 9 top, 27 bridge, 18 hollow (fcc + hcp) sites
    assert (kinds.count("top"), kinds.count("bridge"), kinds.count("hollow")) == (9, 27, 18)
    assert B.find_sites(slab, "Cu") == B.find_sites(slab, "Cu")  # deterministic


def test_placement_tags_and_minimum_distance(cu111):
    slab, _ = cu111
    system = _place(slab, ADS_CO)
    tags = system.get_tags()
    assert tags[-2:].tolist() == [B.TAG_ADSORBATE] * 2 and (tags[:-2] == slab.get_tags()).all()
    np.testing.assert_array_equal(system.constraints[0].index, slab.constraints[0].index)
    c, o = system.positions[-2:]
    assert o[2] > c[2]  # binding atom (C) towards the surface
    d = np.linalg.norm(system.positions[:-2, None] - system.positions[None, -2:], axis=-1)
    ideal = covalent_radii[29] + covalent_radii[[6, 8]]
    assert (d.min(axis=0) >= ideal - 1e-9).all()  # minimum-distance check
    assert d[:, 0].min() < 1.3 * ideal[0]  # but bound to the surface


# -- relaxation and referencing --------------------------------------------------------------


def test_atomic_references_follow_oc20():
    gas = R.gas_energies()
    refs = R.atomic_references()
    assert refs["H"] == pytest.approx(gas["H2"] / 2)
    assert refs["O"] == pytest.approx(gas["H2O"] - gas["H2"])
    assert refs["N"] == pytest.approx(gas["N2"] / 2)
    assert refs["C"] == pytest.approx(gas["CO"] - gas["H2O"] + gas["H2"])


def test_single_system_relaxes_and_is_referenced(cu111):
    slab, e_slab = cu111
    system = _place(slab, ADS_O)
    initial = system.copy()
    R.constrain(system)
    traj = R.relax(system)
    assert traj.converged and len(traj.energies) == traj.steps + 1 >= 2
    np.testing.assert_array_equal(traj.positions[0], initial.positions)  # frame 0 = initial
    assert np.abs(system.get_forces()).max() < R.FMAX
    fixed = initial.get_tags() == B.TAG_SUBSURFACE
    assert np.abs(traj.forces[-1][fixed]).max() > 1e-3  # raw forces: fixed atoms included
    np.testing.assert_allclose(traj.positions[:, fixed], np.broadcast_to(initial.positions[fixed], traj.positions[:, fixed].shape))
    gas = R.gas_energies()
    expected = traj.energies[-1] - e_slab - (gas["H2O"] - gas["H2"])
    assert R.adsorption_energy(traj.energies[-1], e_slab, ("O",)) == pytest.approx(expected, abs=1e-12)
    assert R.anomaly(initial, traj.positions[-1], slab.positions) is None
    assert R.adsorption_energy(traj.energies[-1], e_slab, ("O",)) < 0  # O binds to Cu in EMT


def test_fixed_bonds_keep_the_adsorbate_together(cu111):
    slab, _ = cu111
    system = _place(slab, ADS_OH, kind="top")
    initial = system.copy()
    free = system.copy()
    R.constrain(system, "fixed-bonds")
    traj = R.relax(system)
    assert traj.converged
    d = np.linalg.norm(traj.positions[:, -1] - traj.positions[:, -2], axis=-1)
    np.testing.assert_allclose(d, d[0], atol=1e-8)
    assert R.anomaly(initial, traj.positions[-1], slab.positions) is None
    R.constrain(free, "free")  # EMT pulls the H off the O: why fixed-bonds is the default
    traj = R.relax(free, max_steps=15)  # it is off within a few steps
    assert R.anomaly(initial, traj.positions[-1], slab.positions) == "dissociated"


def test_anomalies(cu111):
    slab, _ = cu111
    system = _place(slab, ADS_CO)
    pos = system.positions.copy()
    assert R.anomaly(system, pos, slab.positions) is None
    up = pos.copy()
    up[-2:, 2] += 6.0
    assert R.anomaly(system, up, slab.positions) == "desorbed"
    moved = pos.copy()
    moved[-3, 0] += 1.5
    assert R.anomaly(system, moved, slab.positions) == "reconstructed"
    broken = pos.copy()
    broken[-1, 2] += 2.0
    assert R.anomaly(system, broken, slab.positions) == "dissociated"


def test_adsorbate_database_is_hcno_only():
    pytest.importorskip("fairchem.data.oc")
    ads = B.load_adsorbates()
    assert len(ads) == 86
    assert all(set(a.symbols) <= {"H", "C", "N", "O"} for a in ads)
    assert all(0 <= b < len(a.symbols) for a in ads for b in a.binding)


# -- splits ----------------------------------------------------------------------------------


def test_split_design_holds_out_what_it_claims():
    names = [f"*A{k}" for k in range(40)]
    design = design_splits(names, B.METALS, tuple(B.FACETS), seed=3)
    assert set(design.ood_adsorbates).isdisjoint(design.id_adsorbates)
    assert sorted(design.ood_adsorbates + design.id_adsorbates) == sorted(names)
    assert len(design.ood_adsorbates) == 8
    assert all(m == "Pd" or f == "100" for m, f in design.ood_catalysts)
    assert all(m != "Pd" and f != "100" for m, f in design.id_catalysts)
    assert len(design.id_catalysts) + len(design.ood_catalysts) == len(B.METALS) * len(B.FACETS)
    assert design_splits(names, B.METALS, tuple(B.FACETS), seed=3) == design
    assert design_splits(names, B.METALS, tuple(B.FACETS), seed=4) != design

    sites = {c: ["top", "top", "bridge", "hollow"] for c in design.id_catalysts + design.ood_catalysts}
    counts = {s: 30 for s in SPLITS}
    cands = draw_candidates(design, sites, counts, seed=3)
    assert cands == draw_candidates(design, sites, counts, seed=3)
    assert [c.sid for c in cands] == list(range(len(cands)))
    for c in cands:
        kind = design.split_kind(c.metal, c.facet, c.adsorbate)
        assert kind == (c.split if c.split.startswith("val_ood") else "id")
    keys = {s: {(c.metal, c.facet, c.adsorbate, c.site) for c in cands if c.split == s} for s in SPLITS}
    assert all(len(keys[s]) == 30 for s in SPLITS)
    assert keys["train"].isdisjoint(keys["val_id"])


# -- the shipped devsets ---------------------------------------------------------------------

IS2RE_COUNTS = {"train": 600, "val_id": 100, "val_ood_ads": 100, "val_ood_cat": 100, "val_ood_both": 100}
S2EF_COUNTS = {"train": 2000, "val_id": 200, "val_ood_ads": 200, "val_ood_cat": 200, "val_ood_both": 200}


def _load(name: str) -> dict:
    from matforge.data import open_dataset
    from matforge.devsets.catalog import DEVSETS

    if not (DEVSETS[name].root / "train").exists():
        pytest.skip(f"devset {name} not generated")
    return {split: list(open_dataset(f"devset:{name}/{split}")) for split in SPLITS}


@pytest.fixture(scope="module")
def is2re():
    return _load("emt-is2re")


@pytest.fixture(scope="module")
def s2ef():
    return _load("emt-s2ef")


def _check_common(data: dict) -> None:
    for structures in data.values():
        for s in structures:
            assert set(s.tags.tolist()) == {0, 1, 2}
            np.testing.assert_array_equal(s.fixed, s.tags == 0)
            assert s.pbc.all() and s.cell.shape == (3, 3)
            assert set(np.unique(s.atomic_numbers[s.tags < 2]).tolist()) <= {13, 28, 29, 46, 47, 78, 79}
            assert set(np.unique(s.atomic_numbers[s.tags == 2]).tolist()) <= {1, 6, 7, 8}
            assert 20 <= s.num_atoms <= 70
            assert {"metal", "facet", "catalyst", "adsorbate", "site"} <= set(s.ids)
            assert s.ids["site"] in ("top", "bridge", "hollow")
            assert s.ids["catalyst"] == f"{s.ids['metal']}-{s.ids['facet']}"
    ads = {k: {s.ids["adsorbate"] for s in v} for k, v in data.items()}
    cat = {k: {s.ids["catalyst"] for s in v} for k, v in data.items()}
    metals = {k: {s.ids["metal"] for s in v} for k, v in data.items()}
    facets = {k: {s.ids["facet"] for s in v} for k, v in data.items()}
    assert ads["val_id"] <= ads["train"] and cat["val_id"] <= cat["train"]
    assert ads["val_ood_ads"].isdisjoint(ads["train"]) and cat["val_ood_ads"] <= cat["train"]
    assert cat["val_ood_cat"].isdisjoint(cat["train"]) and ads["val_ood_cat"] <= ads["train"]
    assert ads["val_ood_both"].isdisjoint(ads["train"]) and cat["val_ood_both"].isdisjoint(cat["train"])
    assert "Pd" not in metals["train"] and "fcc100" not in facets["train"]
    assert "Pd" in metals["val_ood_cat"] and "fcc100" in facets["val_ood_cat"]
    sids = {k: {s.sid for s in v} for k, v in data.items()}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert sids[a].isdisjoint(sids[b]), (a, b)


def test_shipped_is2re(is2re):
    assert {k: len(v) for k, v in is2re.items()} == IS2RE_COUNTS
    _check_common(is2re)
    for structures in is2re.values():
        assert len({s.sid for s in structures}) == len(structures)
        for s in structures:
            assert set(s.targets) == {"energy_relaxed", "energy_initial", "positions_relaxed"}
            assert s.targets["positions_relaxed"].shape == (s.num_atoms, 3)
            assert s.targets["energy_relaxed"] <= s.targets["energy_initial"] + 1e-6  # BFGS went down
            moved = np.abs(s.targets["positions_relaxed"] - s.positions)[s.fixed]
            assert moved.size == 0 or moved.max() < 1e-5  # fixed atoms stay (float32 storage)


def test_shipped_s2ef(s2ef, is2re):
    assert {k: len(v) for k, v in s2ef.items()} == S2EF_COUNTS
    _check_common(s2ef)
    for split, frames in s2ef.items():
        systems = {s.sid: s for s in is2re[split]}
        assert len({(f.sid, f.fid) for f in frames}) == len(frames)
        for f in frames:
            assert set(f.targets) == {"energy", "forces"}
            assert f.targets["forces"].shape == (f.num_atoms, 3)
            assert f.sid in systems and f.fid >= 0  # frames come from the same split's systems
            if f.fid == 0:  # the initial frame is the IS2RE input
                np.testing.assert_allclose(f.positions, systems[f.sid].positions)
                assert float(f.targets["energy"]) == pytest.approx(float(systems[f.sid].targets["energy_initial"]))


def test_shipped_devsets_are_labelled_synthetic():
    from matforge.devsets.catalog import DEVSETS

    for name in ("emt-is2re", "emt-s2ef"):
        readme = DEVSETS[name].root / "README.md"
        if not readme.exists():
            pytest.skip(f"devset {name} not generated")
        text = readme.read_text(encoding="utf-8")
        assert "not OC20 data" in text and "not" in text and "physical" in text
