"""Heads are built eagerly from the backbone's OutputSpec; readouts sum or average."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from matforge.atoms_representation import AtomsRepresentation
from matforge.interfaces import OutputSpec
from matforge.models import build_backbone
from matforge.structure import AtomicStructure
from matforge.tasks import EnergyTask, PropertyTask
from matforge.tasks.heads import AtomwiseHead, pool


def test_embedding_backbone_gets_an_mlp_head_at_construction():
    task = EnergyTask("toy-pair", {"output": "embedding", "width": 5}, head_hidden=[7])
    linears = [m for m in task.model.head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 7), (7, 1)]


def test_energy_backbone_is_used_as_is():
    task = EnergyTask("toy-pair")
    assert isinstance(task.model.head.mlp, nn.Identity)


def test_energy_backbone_cannot_serve_several_values_per_atom():
    with pytest.raises(ValueError, match="needs 3 values per atom"):
        AtomwiseHead(OutputSpec("energy"), out_dim=3)


@pytest.mark.parametrize(("readout", "expected"), [("sum", [2.0, 12.0]), ("mean", [1.0, 4.0])])
def test_readout_sums_or_averages_per_structure(readout, expected):
    structures = [AtomicStructure(positions=np.eye(n, 3), atomic_numbers=[1] * n) for n in (2, 3)]
    batch = AtomsRepresentation().collate(structures)
    values = torch.tensor([[1.0], [1.0], [4.0], [4.0], [4.0]])
    assert pool(values, batch, readout)[:, 0].tolist() == expected


def test_property_head_width_is_the_sum_of_target_dims():
    task = PropertyTask(
        "toy-pair", {"output": "embedding", "width": 4}, properties=["a", "b"], property_dims={"b": 3}
    )
    assert task.model.head.mlp[-1].out_features == 4


def test_a_built_backbone_is_recorded_by_registry_name():
    task = EnergyTask(build_backbone("toy-pair", hidden=6))
    assert task.hparams["backbone"] == "toy-pair"
    assert task.hparams["backbone_args"]["hidden"] == 6
