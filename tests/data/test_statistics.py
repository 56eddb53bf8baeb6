"""`DatasetStatistics`: what tasks normalise with, checked against direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matforge.data.statistics import DatasetStatistics, StatisticsAccumulator

from .conftest import make_structure


@pytest.fixture
def structures():
    return [make_structure(k, n=3 + k % 6) for k in range(40)]


def composition(structures, elements):
    return np.array([[np.sum(s.atomic_numbers == z) for z in elements] for s in structures], dtype=float)


def test_linear_reference_is_the_least_squares_fit(structures):
    stats = DatasetStatistics.of(structures)
    elements = sorted(stats.element_counts)
    a = composition(structures, elements)
    e = np.array([float(s.targets["energy"]) for s in structures])
    coef = np.linalg.lstsq(a, e, rcond=None)[0]
    ref = stats.linear_references["energy"]
    assert sorted(ref.element_energies) == elements
    np.testing.assert_allclose([ref.element_energies[z] for z in elements], coef, rtol=1e-8)
    residual = e - a @ coef
    n = a.sum(axis=1)
    assert ref.residual_mean == pytest.approx(residual.mean(), abs=1e-9)
    assert ref.residual_std == pytest.approx(residual.std(), rel=1e-6)
    assert ref.residual_per_atom_mean == pytest.approx((residual / n).mean(), abs=1e-9)
    assert ref.residual_per_atom_std == pytest.approx((residual / n).std(), rel=1e-6)


def test_fixed_stoichiometry_gets_the_minimum_norm_reference():
    base = make_structure(0, n=4)
    structures = []
    for k in range(5):
        s = base.copy()
        s.atomic_numbers = np.array([3, 3, 15, 16])
        s.targets["energy"] = np.array(-10.0 + 0.1 * k)
        structures.append(s)
    ref = DatasetStatistics.of(structures).linear_references["energy"]
    c = np.array([ref.element_energies[z] for z in (3, 15, 16)])
    np.testing.assert_allclose(c, np.array([2, 1, 1]) * (-9.8 / 6), rtol=1e-8)  # min-norm: c ∝ n
    assert ref.residual_std == pytest.approx(np.std(0.1 * np.arange(5)), rel=1e-6)


def test_target_moments_per_structure_and_over_force_components(structures):
    stats = DatasetStatistics.of(structures)
    energies = np.array([float(s.targets["energy"]) for s in structures])
    forces = np.concatenate([s.targets["forces"] for s in structures]).ravel()
    assert stats.targets["energy"].count == len(structures)
    assert stats.targets["energy"].mean == pytest.approx(energies.mean())
    assert stats.targets["energy"].std == pytest.approx(energies.std())
    assert stats.targets["forces"].count == forces.size
    assert stats.targets["forces"].std == pytest.approx(forces.std())
    assert stats.force_rms == pytest.approx(np.sqrt(np.mean(forces**2)))
    assert stats.targets["forces"].unit == "eV/Å" and stats.targets["forces"].per_atom


def test_counts_histogram_and_elements(structures):
    stats = DatasetStatistics.of(structures)
    sizes = [s.num_atoms for s in structures]
    assert stats.num_structures == len(structures) and stats.num_atoms == sum(sizes)
    assert stats.num_atoms_histogram == {n: sizes.count(n) for n in set(sizes)}
    all_z = np.concatenate([s.atomic_numbers for s in structures])
    assert stats.element_counts == {int(z): int(np.sum(all_z == z)) for z in np.unique(all_z)}


def test_merged_accumulators_equal_one_pass(structures):
    left, right = StatisticsAccumulator(), StatisticsAccumulator()
    for k, s in enumerate(structures):
        (left if k < 13 else right).add(s)
    left.merge(right)
    merged, single = left.finalize(), DatasetStatistics.of(structures)
    assert merged.targets["forces"].std == pytest.approx(single.targets["forces"].std, rel=1e-12)
    ref_m, ref_s = merged.linear_references["energy"], single.linear_references["energy"]
    assert ref_m.residual_std == pytest.approx(ref_s.residual_std, rel=1e-9)
    assert merged.num_atoms_histogram == single.num_atoms_histogram


def test_json_round_trip(structures):
    stats = DatasetStatistics.of(structures)
    text = json.dumps(stats.to_dict())
    assert DatasetStatistics.from_dict(json.loads(text)) == stats


def test_no_forces_means_no_force_rms():
    stats = DatasetStatistics.of([make_structure(k, forces=False) for k in range(3)])
    assert stats.force_rms is None and "forces" not in stats.targets


def test_reference_energy_of_a_structure(structures):
    ref = DatasetStatistics.of(structures).linear_references["energy"]
    s = structures[0]
    assert ref.reference_energy(s.atomic_numbers) == pytest.approx(sum(ref.element_energies[int(z)] for z in s.atomic_numbers))


def test_stored_statistics_do_not_depend_on_summation_order():
    """Another BLAS build sums in another order; what metadata.json stores must not change."""
    from .conftest import make_structure

    structures = [make_structure(k) for k in range(300)]
    forward = DatasetStatistics.of(structures)
    backward = DatasetStatistics.of(structures[::-1])
    assert forward.to_dict() != backward.to_dict()  # the raw sums do differ in the last bits
    assert forward.rounded().to_dict() == backward.rounded().to_dict()


def test_rounding_keeps_ten_significant_digits_of_each_scale():
    from matforge.data.statistics import _round

    assert _round(-357.6512345678912, 357.0, 10) == -357.6512346
    assert _round(0.54026401234, 357.0, 10) == 0.540264
    assert _round(2.3e-13, 357.0, 10) == 0.0
