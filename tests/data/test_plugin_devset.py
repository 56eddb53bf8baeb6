"""``devset:NAME`` resolves through the registry only: a devset a plugin registers works in the
CLI's checks and in AtomicDataModule alike."""

from __future__ import annotations

import pytest

from matforge.cli.shorthands import check_data, devset_task
from matforge.data import AtomicDataModule, write_dataset
from matforge.data.errors import UnknownDevsetError
from matforge.devsets.catalog import Devset, get_devset
from matforge.registry import registry

from .conftest import make_structure


@pytest.fixture
def plugin_devset(tmp_path):
    for name, seeds in {"train": range(8), "val": range(8, 12)}.items():
        write_dataset(tmp_path / "acme" / name, [make_structure(k) for k in seeds], progress=False)
    devset = Devset(name="acme-set", summary="a plugin's devset", splits=("train", "val"), task="is2re", path=tmp_path / "acme")
    registry.register("dataset", "acme-set", devset)
    yield devset
    registry.unregister("dataset", "acme-set")


def test_a_registered_plugin_devset_works_in_the_datamodule(plugin_devset):
    dm = AtomicDataModule("devset:acme-set", representation="atoms", batch_size=4)
    assert dm.val_names == ["val"]
    dm.setup("fit")
    assert sum(b.num_graphs for b in dm.train_dataloader()) == 8
    assert get_devset("acme-set") is plugin_devset


def test_the_cli_and_the_datamodule_resolve_the_same_registry_entry(plugin_devset):
    check_data("devset:acme-set")
    assert devset_task("devset:acme-set") == "is2re"
    assert AtomicDataModule.from_devset("acme-set").val_names == ["val"]


def test_an_unregistered_devset_is_unknown_everywhere():
    with pytest.raises(UnknownDevsetError, match="unknown devset 'acme-set'"):
        AtomicDataModule("devset:acme-set")


def test_a_dataset_entry_that_is_no_devset_is_refused_by_name():
    registry.register("dataset", "not-a-devset", object())
    try:
        with pytest.raises(UnknownDevsetError, match="'not-a-devset' registered by <user> is a object, not a"):
            get_devset("not-a-devset")
    finally:
        registry.unregister("dataset", "not-a-devset")
