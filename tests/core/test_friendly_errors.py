"""Mistakes a user can make through input files, options and constructor arguments raise a
:class:`~matforge.errors.MatforgeUserError` naming what was wrong (the CLI prints one line)."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.errors import InvalidValueError
from matforge.neighbors import neighbor_edges, neighbor_pairs

TWO_ATOMS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("cutoff", [0.0, -1.0])
def test_a_non_positive_cutoff_is_a_user_error(cutoff):
    with pytest.raises(InvalidValueError, match="cutoff must be a positive distance in Å"):
        neighbor_pairs(TWO_ATOMS, None, [False] * 3, cutoff)


@pytest.mark.parametrize(
    ("positions", "cell", "pbc", "match"),
    [
        (np.zeros((2, 2)), None, [False] * 3, r"positions must have shape \[N, 3\].*got \[2, 2\]"),
        (TWO_ATOMS, np.eye(2), [True] * 3, r"cell must have shape \[3, 3\].*got \[2, 2\]"),
        (TWO_ATOMS, None, [True, True, False], r"cell is required \(\[3, 3\], Å\) as pbc is \[True, True, False\], got None"),
        (TWO_ATOMS, np.eye(3), [True, False], "pbc must be one bool or three, got 2"),
    ],
)
def test_wrong_shaped_inputs_name_the_field_and_its_expected_shape(positions, cell, pbc, match):
    with pytest.raises(InvalidValueError, match=match):
        neighbor_edges(positions, cell, pbc, 2.0)


def test_a_flat_nine_value_cell_is_still_accepted():
    i, _, _, _ = neighbor_pairs(TWO_ATOMS, np.eye(3).ravel() * 5.0, [True] * 3, 1.5)
    assert sorted(i.tolist()) == [0, 1]


def _representations():
    from matforge.atoms_representation import AtomsRepresentation
    from matforge_graph.representation import GraphRepresentation
    from matforge_pointcloud.representation import PointCloudRepresentation

    return [AtomsRepresentation(), GraphRepresentation(cutoff=3.0), PointCloudRepresentation(cutoff=3.0)]


@pytest.mark.parametrize("representation", _representations(), ids=lambda r: r.name)
def test_collating_an_empty_list_says_a_batch_needs_a_structure(representation):
    with pytest.raises(InvalidValueError, match=r"cannot collate an empty list .*needs at least one"):
        representation.collate([])


def test_a_non_float_representation_dtype_names_the_allowed_ones():
    from matforge.atoms_representation import AtomsRepresentation

    with pytest.raises(InvalidValueError, match="dtype must be a floating torch dtype such as 'float32', got 'int64'"):
        AtomsRepresentation(dtype="int64")


def test_an_info_target_the_atoms_lack_names_it_and_the_keys_there_are():
    ase = pytest.importorskip("ase")
    from matforge.ase_io import atoms_to_structure
    from matforge.batch import MissingTargetError

    atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.8]], info={"sid": 7, "energy_relaxed": -1.0})
    with pytest.raises(MissingTargetError) as caught:
        atoms_to_structure(atoms, info_targets=("relaxed_energy",))
    assert str(caught.value) == (
        "ase.Atoms (sid 7): target 'relaxed_energy' of info_targets is in neither atoms.info "
        "(keys ['energy_relaxed', 'sid']) nor atoms.arrays (keys ['numbers', 'positions'])"
    )


def test_a_missing_required_backbone_argument_is_a_backbone_argument_error():
    from matforge.interfaces import BackboneArgumentError
    from matforge.models import bound_arguments

    def factory(hidden: int, cutoff: float = 5.0):
        return None

    with pytest.raises(BackboneArgumentError, match=r"backbone 'needs-hidden': missing a required argument: 'hidden'"):
        bound_arguments("needs-hidden", factory, {})


def test_a_backbone_argument_that_is_not_json_like_says_why_it_must_be():
    from matforge.interfaces import BackboneArgumentError
    from matforge.models import build_backbone

    with pytest.raises(BackboneArgumentError, match=r"arguments of backbone 'toy-pair' must be JSON-like .*rebuild the backbone"):
        build_backbone("toy-pair", hidden=object())


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: _graph(cutoff=0.0), "GraphRepresentation: cutoff must be a positive distance"),
        (lambda: _graph(max_neighbors=0), "GraphRepresentation: max_neighbors must be >= 1"),
        (lambda: _pointcloud(centres="surface"), r"PointCloudRepresentation: centres must be one of \['all', 'oc20'\]"),
        (lambda: _pointcloud(num_elements=0), "PointCloudRepresentation: num_elements must be >= 1"),
    ],
)
def test_a_bad_representation_setting_names_the_class_and_the_setting(build, match):
    with pytest.raises(InvalidValueError, match=match):
        build()


def _graph(**settings):
    from matforge_graph.representation import GraphRepresentation

    return GraphRepresentation(**settings)


def _pointcloud(**settings):
    from matforge_pointcloud.representation import PointCloudRepresentation

    return PointCloudRepresentation(**settings)


def test_an_element_beyond_the_one_hot_says_to_raise_num_elements():
    from matforge.structure import AtomicStructure
    from matforge_pointcloud.batch import PointCloudBatch

    gold = AtomicStructure(positions=TWO_ATOMS, atomic_numbers=np.array([79, 79]), cell=None, pbc=[False] * 3)
    batch = PointCloudBatch.collate([gold], cutoff=3.0)
    with pytest.raises(InvalidValueError, match="atomic number 79 does not fit a one-hot of num_elements=10; use a larger"):
        batch.pair_one_hot(num_elements=10)


def test_predicting_nothing_is_a_user_error():
    from matforge.tasks.prediction import predict_structures

    with pytest.raises(InvalidValueError, match="no structures to predict: pass at least one"):
        predict_structures(None, [])
