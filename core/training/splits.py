"""Every split of a dataset as a named validation set, for evaluation.

``devset:NAME`` gives the devset's splits; a dataset directory gives itself (named after the
folder); a folder of dataset directories gives each of them, named after its sub-folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from matforge.devsets.catalog import parse_devset

METADATA_FILE = "metadata.json"


def split_paths(data: str) -> dict[str, str]:
    """Split name → dataset path (or ``devset:NAME/SPLIT``) of ``data``."""
    parsed = parse_devset(data)
    if parsed is not None:
        devset, split = parsed
        names = [split] if split else list(devset.splits)
        return {name: f"devset:{devset.name}/{name}" for name in names}
    root = Path(data)
    if (root / METADATA_FILE).is_file():
        return {root.name: str(root)}
    if root.is_dir():
        found = {p.name: str(p) for p in sorted(root.iterdir()) if (p / METADATA_FILE).is_file()}
        if found:
            return found
    raise FileNotFoundError(f"{data}: neither devset:NAME, a dataset directory nor a folder of them")


def dataset_splits(data: str, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Split name → opened dataset; ``only`` picks splits (an unknown one lists the others)."""
    from matforge.data import open_dataset

    paths = split_paths(data)
    if only:
        unknown = [s for s in only if s not in paths]
        if unknown:
            raise ValueError(f"{data} has no split {', '.join(unknown)}; its splits: {', '.join(paths)}")
        paths = {s: paths[s] for s in only}
    return {name: open_dataset(path) for name, path in paths.items()}


class SplitsDataModule(pl.LightningDataModule):
    """Named datasets as validation sets (in the given order), batched by the representation
    the task attaches through ``set_representation``."""

    def __init__(self, datasets: dict[str, Dataset], batch_size: int) -> None:
        super().__init__()
        self.datasets = dict(datasets)
        self.batch_size = batch_size
        self.representation: Any = None

    @property
    def val_names(self) -> list[str]:
        return list(self.datasets)

    def set_representation(self, representation: Any) -> None:
        self.representation = representation

    def _collate(self, items: list[Any]) -> Any:
        return self.representation.collate([self.representation(s) for s in items])

    def val_dataloader(self) -> list[DataLoader]:
        if self.representation is None:
            raise RuntimeError("SplitsDataModule: no representation attached (the task sets it in setup)")
        return [DataLoader(d, batch_size=self.batch_size, shuffle=False, collate_fn=self._collate)
                for d in self.datasets.values()]
