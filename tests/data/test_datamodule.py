"""`AtomicDataModule`: named validation sets, representation in workers, targets, DDP-ready loaders."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from matforge.atoms_representation import AtomsRepresentation
from matforge.batch import AtomsBatch, MissingTargetError
from matforge.data import AtomicDataModule, open_dataset, write_dataset
from matforge.data.errors import UnknownDevsetError, UnknownSplitError

from .conftest import make_structure


class PidRepresentation(AtomsRepresentation):
    """Records which process ran the transform (module level: picklable for workers)."""

    def __call__(self, structure):
        structure.ids["transformed_in"] = os.getpid()
        return structure


@pytest.fixture
def split_dir(tmp_path):
    for name, seeds in {"train": range(12), "val_id": range(12, 16), "val_ood": range(16, 20), "test": range(20, 24)}.items():
        write_dataset(tmp_path / "splits" / name, [make_structure(k) for k in seeds], progress=False)
    return tmp_path / "splits"


def test_from_devset_has_named_validation_and_test_sets():
    dm = AtomicDataModule.from_devset("lips", representation="atoms", batch_size=4)
    assert dm.val_names == ["val"] and dm.test_names == ["test"]
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, AtomsBatch) and batch.num_graphs == 4
    assert batch.targets["forces"].shape == (batch.num_nodes, 3)
    assert dm.statistics == open_dataset("devset:lips/train").statistics


def test_directory_of_splits_gives_val_sets_in_order(split_dir):
    dm = AtomicDataModule(str(split_dir), representation="atoms", batch_size=5)
    assert dm.val_names == ["val_id", "val_ood"] and dm.test_names == ["test"]
    loaders = dm.val_dataloader()
    assert [len(loader.dataset) for loader in loaders] == [4, 4]
    assert [sum(b.num_graphs for b in loader) for loader in loaders] == [4, 4]


def test_explicit_named_validation_sets(split_dir):
    dm = AtomicDataModule(train=str(split_dir / "train"), val={"near": str(split_dir / "val_id"), "far": str(split_dir / "val_ood")})
    assert dm.val_names == ["near", "far"]
    assert dm.statistics.num_structures == 12


def test_asking_for_a_split_it_lacks_lists_the_splits_it_has(split_dir):
    dm = AtomicDataModule(str(split_dir), representation="atoms")
    with pytest.raises(UnknownSplitError) as caught:
        dm.dataset("validation")
    assert str(caught.value) == "no split 'validation'; this datamodule has: train, val_id, val_ood, test"
    assert isinstance(caught.value, KeyError)  # callers that fall back on a KeyError still do


def test_unknown_devset_lists_the_available_ones():
    with pytest.raises(UnknownDevsetError, match=r"Available devsets: emt-is2re, emt-s2ef, lips"):
        AtomicDataModule.from_devset("oc20")


def test_representation_runs_in_worker_processes(split_dir):
    dm = AtomicDataModule(str(split_dir), batch_size=4, num_workers=2)
    dm.set_representation(PidRepresentation())
    pids = {i["transformed_in"] for b in dm.train_dataloader() for i in b.ids}
    assert pids and os.getpid() not in pids


def test_workers_are_persistent_and_prefetch_deeper_than_torchs_default(split_dir):
    dm = AtomicDataModule(str(split_dir), representation="atoms", batch_size=4, num_workers=2)
    loader = dm.train_dataloader()
    assert loader.persistent_workers and loader.prefetch_factor == 8
    assert AtomicDataModule(str(split_dir), representation="atoms", num_workers=2, prefetch_factor=3).train_dataloader().prefetch_factor == 3
    # without workers there is nothing to prefetch, and torch refuses the argument
    assert AtomicDataModule(str(split_dir), representation="atoms").train_dataloader().prefetch_factor is None


def test_loaders_need_a_representation(split_dir):
    dm = AtomicDataModule(str(split_dir))
    with pytest.raises(RuntimeError, match=r"no representation.*set_representation"):
        dm.train_dataloader()


def test_missing_requested_target_names_key_and_index(split_dir, tmp_path):
    structures = [make_structure(k) for k in range(4)]
    del structures[2].targets["energy"]
    write_dataset(tmp_path / "partial", structures, progress=False)
    dm = AtomicDataModule(train=str(tmp_path / "partial"), representation="atoms", targets=["energy"], batch_size=4, shuffle=False)
    with pytest.raises(MissingTargetError, match=r"train set, index 2 \(sid=2\): target 'energy' is missing"):
        next(iter(dm.train_dataloader()))


def test_requested_targets_are_the_only_ones_in_batches(split_dir):
    dm = AtomicDataModule(str(split_dir), representation="atoms", targets=["energy"], batch_size=4)
    assert sorted(next(iter(dm.train_dataloader())).targets) == ["energy"]


def test_loaders_are_plain_and_lightning_can_insert_a_distributed_sampler(split_dir):
    from pytorch_lightning.utilities.data import _update_dataloader
    from torch.utils.data.distributed import DistributedSampler

    dm = AtomicDataModule(str(split_dir), representation="atoms", batch_size=3)
    train = dm.train_dataloader()
    assert type(train) is DataLoader and isinstance(train.sampler, RandomSampler)
    assert isinstance(dm.val_dataloader()[0].sampler, SequentialSampler)
    ranks = []
    for rank in range(2):
        sampler = DistributedSampler(train.dataset, num_replicas=2, rank=rank, shuffle=True, seed=0)
        loader = _update_dataloader(train, sampler)
        ranks.append(sorted(int(i["index"]) for b in loader for i in b.ids))
    assert sorted(ranks[0] + ranks[1]) == list(range(12)) and not set(ranks[0]) & set(ranks[1])


def test_pinned_batches(split_dir):
    if not torch.cuda.is_available():
        pytest.skip("pin_memory needs an accelerator")
    dm = AtomicDataModule(str(split_dir), representation="atoms", batch_size=4, pin_memory=True)
    assert next(iter(dm.train_dataloader())).positions.is_pinned()


def test_a_single_prediction_set_is_named_after_its_split():
    assert AtomicDataModule(predict="devset:emt-is2re/val_id").predict_names == ["val_id"]
    assert AtomicDataModule(predict={"mine": "devset:emt-is2re/val_id"}).predict_names == ["mine"]
